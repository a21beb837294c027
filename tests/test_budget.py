"""The float32 error budget (issue 22): a cell's error against the float64 reference over the
error of float32 arithmetic itself on the same problem (``gdbench.numerics.budget``), the
float64 rerun it triggers, and the subtle mistakes it catches inside the worst-case
tolerance."""

from __future__ import annotations

import numpy as np
import pytest

from gdbench.api.run_plan import failed
from gdbench.cli.commands import main
from gdbench.numerics.budget import BUDGET, error_budget, floor
from gdbench.numerics.verdict import Verdict, judgement
from gdbench.results.schema import read_results
from gdbench.trajectory import Trajectory

from .conftest import ROOT, require

MISTAKES = str(ROOT / "examples" / "subtle_mistakes.py")


def _trajectory(w, steps=10) -> Trajectory:
    """A scalar run holding ``w`` at every step, loss and gradient 1 (max |ref| = 1 each, so
    a deviation is the plain difference)."""
    w = np.full(steps, 1.0) if w is None else np.asarray(w, dtype=float)
    return Trajectory(np.ones(steps), np.ones(steps), w)


def test_the_ratio_is_the_cell_error_over_the_baseline_error_or_the_floor():
    ref = _trajectory(None)
    base = _trajectory(np.r_[np.ones(9), 1 + 3e-6])  # 3e-6 at step 10, above the floor
    run = _trajectory(np.r_[np.ones(4), np.full(6, 1 + 6e-5)])  # 6e-5 from step 5
    budget = error_budget(run, ref, base, None, "float32", 4)
    assert floor("float32", 4) == pytest.approx(3 * 2.0**-23)  # ε·⌈log2 5⌉
    assert budget.ratio == pytest.approx(20.0) and budget.baseline_dev == pytest.approx(3e-6)
    assert budget.first_step == 5 and budget.exceeded
    # a baseline that rounds exactly is credited with the floor, not with 0
    exact = error_budget(run, ref, ref, None, "float32", 4)
    assert exact.ratio == pytest.approx(6e-5 / (3 * 2.0**-23))
    # an adaptive method's noise phase (the reference gradient at 0 from step 5 here) is
    # left out of both errors
    quiet = Trajectory(np.ones(10), np.r_[np.ones(4), np.zeros(6)], np.ones(10))
    assert error_budget(run, quiet, base, 5, "float32", 4).ratio == 0.0


def test_a_coordinate_at_the_noise_floor_leaves_the_budget_alone():
    """Two parameters: the first's reference gradient is 0 from step 1 (a LayerNorm bias
    that starts at its optimum), the second's never. The budget once ended for both at
    step 1, and nothing was compared; now only the first leaves it."""
    steps = 10
    grad = np.c_[np.zeros(steps), np.ones(steps)]
    ref = Trajectory(np.ones(steps), grad, np.ones((steps, 2)))
    base = Trajectory(np.ones(steps), grad, np.c_[np.ones(steps), np.r_[np.ones(9), 1 + 3e-6]])
    # the first coordinate wanders (rounding noise at lr's scale, allowed); the second is
    # 6e-5 off from step 5: 20× the baseline's 3e-6
    w = np.c_[np.full(steps, 1 + 1e-3), np.r_[np.ones(4), np.full(6, 1 + 6e-5)]]
    run = Trajectory(np.ones(steps), grad, w)
    budget = error_budget(run, ref, base, 1, "float32", 4)
    assert budget.ratio == pytest.approx(20.0) and budget.first_step == 5
    # every coordinate at the floor from step 1: nothing to compare, no budget
    flat = Trajectory(np.ones(steps), np.zeros((steps, 2)), np.ones((steps, 2)))
    assert error_budget(run, flat, base, 1, "float32", 4) is None


LAYERNORM_GELU = str(ROOT / "examples" / "layernorm_gelu.py")


PORT = ["--problem", "ln-gelu-mlp", "--optimizer", "adamw", "--lr", "1e-3", "--steps", "40"]


@require("jax")
@require("torch")
def test_port_mistakes_of_a_layernorm_gelu_mlp_under_adamw_disagree():
    """64-128-10, LayerNorm and exact GELU, AdamW (lr 1e-3, weight decay 0.01), 40 steps
    of batches of 64, float32: a JAX port with the tanh GELU, and optax.adamw with its
    own weight decay (1e-4), both agreed once (the budget had no step); the faithful torch
    and JAX runs agree."""
    import gdbench

    opts = {"problem": "ln-gelu-mlp", "optimizer": "adamw", "lr": 1e-3, "steps": 40}
    opts |= {"plugin": [LAYERNORM_GELU], "timing": False, "progress": False}
    r = gdbench.run(backend=["torch-autograd", "jax", "jax-tanh-gelu"], **opts)
    rows = r.summary.set_index("backend")
    assert (rows.loc[["torch-autograd", "jax"], "verdict"] == "agrees").all()
    assert (rows.loc[["torch-autograd", "jax"], "error_ratio"] < BUDGET).all()
    assert rows.loc["jax-tanh-gelu", "verdict"] == "disagrees"
    assert rows.loc["jax-tanh-gelu", "error_ratio"] > 100
    native = gdbench.run(backend="jax", native_defaults=True, **opts).summary.iloc[0]
    assert native.verdict == "disagrees" and "weight_decay=0.0001, spec 0.01" in native.reason


@require("jax")
@require("torch")
def test_port_mistakes_disagree_on_the_command_line_too(tmp_path):
    for name, extra in (
        ("tanh", ["--backend", "jax-tanh-gelu"]),
        ("wd", ["--backend", "jax", "--native-defaults"]),
    ):
        out = tmp_path / name
        argv = ["run", "--plugin", LAYERNORM_GELU, *PORT, *extra, "--no-timing", "--out", str(out)]
        assert main(argv) == 1
        row = read_results(out / "summary.csv").iloc[0]
        assert row.verdict == "disagrees" and row.error_ratio > 100, row.reason


def test_beyond_the_budget_the_float64_rerun_decides():
    # 1.2e-5 is inside the float32 tolerance (4·ε·10·⌈log2 5⌉ = 1.43e-5) and 12× the
    # baseline's 1e-6 (above the floor of 3.6e-7).
    ref = _trajectory(None)
    base = _trajectory(np.r_[np.ones(9), 1 + 1e-6])
    run = _trajectory(np.r_[np.ones(4), np.full(6, 1 + 1.2e-5)])
    from gdbench import registry

    sgd = registry.optimizers()["sgd"]
    args = ("float32", 10, 4, sgd, {"weight_decay": 0.0}, 0.1, 1.0)
    # the float64 rerun off by 1e-9, far beyond float64's tolerance of 2.7e-14
    still = _trajectory(np.r_[np.ones(4), np.full(6, 1 + 1e-9)])
    noisy = judgement(run, ref, *args, lambda: ref, ref, "", base)
    assert noisy.agreement.agrees  # inside the worst-case tolerance
    assert noisy.verdict is Verdict.NOISY and noisy.agrees
    assert noisy.budget.ratio == pytest.approx(12.0)
    row = {"status": "ok", "verdict": noisy.verdict.value, "agrees": noisy.agrees}
    assert not failed(row) and not failed(row, strict=True)
    assert "float32 rounding of its own" in noisy.detail
    wrong = judgement(run, ref, *args, lambda: still, ref, "", base)
    assert wrong.verdict is Verdict.DISAGREES and not wrong.agrees
    assert "× further from the float64 reference than float32 arithmetic" in wrong.detail
    assert "in float64 too" in wrong.detail
    # without a baseline (no autodiff framework) the tolerance alone decides, as before
    alone = judgement(run, ref, *args, lambda: still, ref, "", None)
    assert alone.verdict is Verdict.AGREES and alone.budget is None


@require("jax")
def test_optax_adagrad_with_its_own_defaults_disagrees(tmp_path):
    # The figures: 7.35e-6 for optax against 3.8e-7 for every correct
    # implementation; inside the float32 tolerance, 19× float32's own error.
    argv = ["run", "--problem", "linreg", "--optimizer", "adagrad", "--backend", "numpy,jax"]
    assert main([*argv, "--native-defaults", "--no-timing", "--out", str(tmp_path / "n")]) == 1
    rows = read_results(tmp_path / "n" / "summary.csv").set_index("backend")
    jax = rows.loc["jax"]
    assert jax.verdict == "disagrees" and jax.max_rel_dev <= jax.tol
    assert jax.error_ratio > BUDGET and rows.loc["numpy", "error_ratio"] <= BUDGET
    assert "× further from the float64 reference than float32 arithmetic" in jax.reason
    assert "optax.adagrad eps=1e-07, spec 1e-10" in jax.reason and "in float64 too" in jax.reason
    # gdbench's specification on optax (no --native-defaults): every row agrees again
    assert main([*argv, "--opt", "eps=0", "--no-timing", "--out", str(tmp_path / "s")]) == 0


def _small_scale_data(tmp_path):
    """Linear regression in small units (y ~ 1e-3): gradients of 1e-4, where Adam's eps
    is no longer negligible against √v."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 3))
    y = 1e-3 * (X @ np.array([1.0, -2.0, 0.5])) + 1e-4 * rng.standard_normal(200)
    path = tmp_path / "small.csv"
    np.savetxt(path, np.c_[X, y], delimiter=",", header="a,b,c,y", comments="")
    return ["--problem", "linreg", "--data", str(path)]


CAUGHT = [
    # (mistaken backend, optimizer, problem arguments, caught inside the tolerance)
    ("adam-eps-1e-7", "adam", _small_scale_data, True),
    ("adam-beta2-0.998", "adam", ["--problem", "mlp"], True),
    ("adam-late-bias-correction", "adam", ["--problem", "linreg"], False),
    ("rmsprop-eps-in-sqrt", "rmsprop", ["--problem", "logreg"], True),
    ("momentum-dampening-0.01", "momentum", ["--problem", "linreg"], False),
    ("adamw-decay-after-update", "adamw", ["--problem", "linreg"], True),
]


@pytest.mark.parametrize(
    ("backend", "optimizer", "problem", "inside"), CAUGHT, ids=[c[0] for c in CAUGHT]
)
def test_each_subtle_mistake_is_caught_in_float32(backend, optimizer, problem, inside, tmp_path):
    problem = problem(tmp_path) if callable(problem) else problem
    argv = ["run", "--plugin", MISTAKES, *problem, "--optimizer", optimizer, "--no-timing"]
    out = tmp_path / "m"
    assert main([*argv, "--backend", f"numpy,{backend}", "--out", str(out)]) == 1
    rows = read_results(out / "summary.csv").set_index("backend")
    wrong = rows.loc[backend]
    assert wrong.verdict == "disagrees" and "in float64 too" in wrong.reason
    assert rows.loc["numpy", "verdict"] == "agrees"  # the same run, without the mistake
    if inside:  # the worst-case tolerance alone would have called it "agrees"
        assert wrong.max_rel_dev <= wrong.tol and wrong.error_ratio > BUDGET
        assert "further from the float64 reference than float32 arithmetic" in wrong.reason
