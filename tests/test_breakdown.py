"""The step profile (gdbench.timing.breakdown): each library's operations, with bytes that follow
from the shapes, and the explanation's split of the roofline fraction."""

from __future__ import annotations

import pytest

from gdbench import registry
from gdbench.optimizers.sgd import plain_setup
from gdbench.timing.breakdown import OpLog, explain, profile
from tests.conftest import require

N = 200_000


def _profile(backend: str, mode: str, d: int = 1):
    problem = registry.problems()["linreg"]
    inst = problem.make(n_samples=N, features=d)
    b = registry.backends()[backend]
    b.profiling()
    session = b.prepare(problem, inst, plain_setup(0.01, "float32", "cpu", mode))
    rows, step_s, _ = profile(session, budget_s=0.05)
    return {(r["op"], r.get("operands")): r for r in rows}, step_s


def test_numpy_eager_profile_has_the_formula_s_ufuncs_and_their_bytes():
    ops, _ = _profile("numpy", "eager")
    # X[:, 0] * w: N floats read, one read, N written.
    assert ops[("multiply", f"f4[{N}] f4[1]")]["bytes_per_step"] == 4 * (N + 1 + N)
    # Xw − y: two N-vectors read, one written.
    assert ops[("subtract", f"f4[{N}] f4[{N}]")]["bytes_per_step"] == 3 * 4 * N
    # Xᵀr: X and r read, one float written.
    assert ops[("matmul", f"f4[1,{N}] f4[{N}]")]["bytes_per_step"] == 4 * (2 * N + 1)
    assert all(
        r.get("calls_per_step") in (1, None) for r in ops.values() if r["op"] != "other operations"
    )


def test_numpy_naive_profile_shows_the_one_column_product():
    ops, _ = _profile("numpy", "naive")
    assert ("matmul", f"f4[{N},1] f4[1]") in ops
    assert not any(op == "multiply" and f"f4[{N}]" in (o or "") for op, o in ops)


def _torch_ops(mode: str) -> dict[tuple[str, str], list]:
    """The raw operation log of a few torch steps: every op recorded, before ``rows`` sums
    the minor ones (which ones fall under 1% of the step depends on the machine's load)."""
    problem = registry.problems()["linreg"]
    inst = problem.make(n_samples=N, features=1)
    b = registry.backends()["torch-autograd"]
    b.profiling()
    session = b.prepare(problem, inst, plain_setup(0.01, "float32", "cpu", mode))
    session.warmup()
    log = OpLog()
    session.operations(3, log)
    return log.ops


# The aten names a matrix product over X can be recorded under: which one torch dispatches
# to (mv, addmv_, mm, or the composite matmul around them) varies with the build and CPU.
MATRIX_PRODUCTS = {"aten::matmul", "aten::mv", "aten::addmv_", "aten::mm", "aten::addmm"}


@require("torch")
def test_torch_eager_profile_names_aten_ops_with_shapes():
    eager = _torch_ops("eager")
    assert any(op.startswith("aten::") and f"[{N}]" in text for op, text in eager)
    # Eager at D = 1 multiplies the column (no product over an (N, 1) matrix); naive keeps
    # the notebook's X @ w over the row-major (N, 1) X.
    assert not any(op in MATRIX_PRODUCTS and f"[{N},1]" in text for op, text in eager)
    naive = _torch_ops("naive")
    assert any(op in MATRIX_PRODUCTS and f"[{N},1]" in text for op, text in naive)


@require("jax")
@pytest.mark.parametrize("mode", ["eager", "jit", "scan"])
def test_jax_profiles(mode):
    ops, _ = _profile("jax", mode, d=4)
    if mode == "eager":
        # The forward X·w and the backward Xᵀ·r: two dot_generals over X's 16·N bytes.
        dots = [r for (op, _), r in ops.items() if op == "dot_general"]
        assert len(dots) == 2 and all(r["bytes_per_step"] >= 4 * 4 * N for r in dots)
    else:
        (program,) = [r for (op, _), r in ops.items() if op.startswith("XLA program")]
        # XLA counts at least one read of X and y.
        assert program["bytes_per_step"] >= 4 * (4 * N + N)


def test_explanation_splits_the_fraction_into_traffic_and_bandwidth():
    log = OpLog()
    log.add("matmul", "f4[a]", 0.3, 2_000_000_000)
    log.add("subtract", "f4[b]", 0.2, 1_000_000_000)
    rows = log.rows(steps=1, step_s=0.5)
    line = explain(rows, 0.5, 1_000_000_000, roof_gbps=24.0)
    # 3e9 bytes moved for 1e9 needed, 6 GB/s = 25% of 24: fraction 1/3 × 0.25.
    assert line.startswith("moves 3.0× the roofline's bytes a step, at 6.0 GB/s (25% of the roof)")
    assert "most time: matmul f4[a] (60% at 6.7 GB/s)" in line
