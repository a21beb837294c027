"""Every backend and mode against the float64 reference: tight in float64, within the
dtype's tolerance in float32, and step 1 against the closed form by value."""

from __future__ import annotations

import numpy as np
import pytest

from gdbench import registry
from gdbench.backend import Setup
from gdbench.numerics.agreement import compare, tolerance
from gdbench.optimizers.sgd import plain_setup

from .conftest import backend_mode_params, needs_cuda, require

CASES = [
    ("quadratic", {}, 0.1, 15),
    ("linreg", {}, 0.01, 100),
    ("linreg", {"n_samples": 300, "features": 4, "seed": 3}, 0.05, 50),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("backend", "mode"), backend_mode_params())
@pytest.mark.parametrize(
    ("problem", "sizes", "lr", "steps"), CASES, ids=["quadratic", "linreg-notebook", "linreg-300x4"]
)
def test_backend_agrees_with_reference(problem, sizes, lr, steps, backend, mode, dtype):
    p = registry.problems()[problem]
    inst = p.make(**sizes)
    ref, _ = p.closed_form(inst, lr, steps)
    session = registry.backends()[backend].prepare(p, inst, plain_setup(lr, dtype, "cpu", mode))
    traj = session.trajectory(steps)
    assert traj.steps == steps and traj.diverged_step is None
    tol = tolerance(dtype, steps, inst.n_samples * inst.features or 1)
    agreement = compare(traj, ref, tol)
    assert agreement.agrees, agreement.detail
    if dtype == "float64":
        assert agreement.max_rel_dev < 1e-12
    # Step 1 by value, from the closed forms: loss and grad at w0, then w0 − lr·grad.
    if problem == "quadratic":
        assert (traj.loss[0], traj.grad[0], traj.w[0]) == pytest.approx((100, 20, 8))
    else:
        X, y = inst.data["X"], inst.data["y"]
        g0 = -2 * X.T @ y / len(y)
        rtol = 1e-6 if dtype == "float32" else 1e-13
        np.testing.assert_allclose(traj.loss[0], (y**2).mean(), rtol=rtol)
        np.testing.assert_allclose(traj.grad[0], g0, rtol=rtol)
        np.testing.assert_allclose(traj.w[0], -lr * g0, rtol=rtol)


@pytest.mark.parametrize(("backend", "mode"), backend_mode_params())
def test_backend_keeps_float32(backend, mode):
    # A float32 run must really compute in float32: its loss differs from float64's.
    p = registry.problems()["linreg"]
    inst = p.make(200, 3, 0)
    losses = {}
    for dtype in ("float32", "float64"):
        s = registry.backends()[backend].prepare(p, inst, plain_setup(0.05, dtype, "cpu", mode))
        losses[dtype] = s.trajectory(5).loss
    assert not np.array_equal(losses["float32"], losses["float64"])
    np.testing.assert_allclose(losses["float32"], losses["float64"], rtol=1e-5)


@pytest.mark.parametrize(("backend", "mode"), backend_mode_params())
def test_divergence_is_reported_at_the_same_step_as_the_reference(backend, mode):
    # lr = 1.5 on w²: w_k = 10·(−2)^k, loss grows 4× a step and passes 10⁶·100 at step 11.
    p = registry.problems()["quadratic"]
    inst = p.make()
    ref, _ = p.closed_form(inst, 1.5, 15)
    s = registry.backends()[backend].prepare(p, inst, plain_setup(1.5, "float32", "cpu", mode))
    traj = s.trajectory(15)
    assert ref.diverged_step == 11
    assert traj.diverged_step == 11
    assert compare(traj, ref, tolerance("float32", 15)).agrees


@needs_cuda
@pytest.mark.gpu
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("backend", "mode"), backend_mode_params("cuda"))
def test_backend_agrees_on_cuda(backend, mode, dtype):
    b = registry.backends()[backend]
    ok, why = b.device_available("cuda")
    if not ok:
        pytest.skip(why)
    p = registry.problems()["linreg"]
    inst = p.make(10_000, 4, 0)
    ref, _ = p.closed_form(inst, 0.05, 50)
    s = b.prepare(p, inst, plain_setup(0.05, dtype, "cuda", mode))
    agreement = compare(s.trajectory(50), ref, tolerance(dtype, 50, 40_000))
    assert agreement.agrees, agreement.detail


@require("torch")
def test_fused_mode_is_one_graph_for_the_whole_step():
    """loss, gradient and update in one compiled graph, data as its inputs; Adam's Python
    step count costs one more graph (symbolic from then on), never one per step."""
    from torch._dynamo.utils import counters

    p = registry.problems()["linreg"]
    inst = p.make(300, 4, 3)
    backend = registry.backends()["torch-autograd"]
    for name, graphs in (("sgd", 1), ("adam", 2)):
        opt = registry.optimizers()[name]
        before = counters["stats"]["unique_graphs"]
        s = backend.prepare(p, inst, Setup(0.05, "float32", "cpu", "fused", opt, opt.resolve({})))
        s.trajectory(20)
        s.run_steps(50)
        assert counters["stats"]["unique_graphs"] - before == graphs, name
