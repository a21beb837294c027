"""The optimizer axis: every optimizer on every backend and mode against the float64
iteration of gdbench's specification, by value at step 1, the libraries' own defaults
told apart, and the classic implementation mistakes caught at an early step."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from gdbench import registry
from gdbench.backend import Setup
from gdbench.backends.numpy_hand import NumpySession
from gdbench.cli.commands import main
from gdbench.numerics.agreement import compare, judge, noise_floor, tolerance
from gdbench.numerics.budget import BUDGET_DTYPES, baseline_trajectory, error_budget
from gdbench.numerics.reference import reference_trajectory
from gdbench.optimizer import NotMapped
from gdbench.optimizers.adam import Adam
from gdbench.optimizers.momentum import Momentum

from .conftest import ROOT, backend_mode_params, require

OPTIMIZERS = list(registry.optimizers())
PROBLEMS = [
    ("quadratic", {}, 0.1, 15),
    ("linreg", {}, 0.01, 100),
    ("linreg", {"n_samples": 300, "features": 4, "seed": 3}, 0.05, 50),
]
COMPILED = ("compile", "fused", "cudagraph")


def run_cell(problem, sizes, lr, steps, backend, mode, dtype, opt_name, given=None):
    p = registry.problems()[problem]
    inst = p.make(**sizes)
    opt = registry.optimizers()[opt_name]
    hp = opt.resolve(given or {})
    ref, _ = reference_trajectory(p, inst, lr, steps, opt, hp)
    setup = Setup(lr, dtype, "cpu", mode, opt, hp)
    traj = registry.backends()[backend].prepare(p, inst, setup).trajectory(steps)
    agr = judge(traj, ref, dtype, steps, inst.n_samples * inst.features or 1, opt, hp, lr)
    return traj, ref, agr


def assert_within_budget(problem, sizes, lr, steps, dtype, opt_name, traj, ref, agr, given=None):
    """A correct float32 cell is within BUDGET times float32's own error (numerics.budget):
    no false alarm of the second criterion."""
    if dtype not in BUDGET_DTYPES:
        return
    p = registry.problems()[problem]
    inst = p.make(**sizes)
    opt = registry.optimizers()[opt_name]
    hp = opt.resolve(given or {})
    base = baseline_trajectory(p, inst, lr, steps, opt, hp, dtype)
    n_el = inst.n_samples * inst.features or 1
    budget = error_budget(traj, ref, base, agr.noise_from_step, dtype, n_el)
    assert budget is None or not budget.exceeded, budget


def cases():
    # Every optimizer × problem × backend × mode; compiled torch modes (seconds each to
    # compile) on the generated linreg only, where they matter.
    for backend_mode in backend_mode_params():
        backend, mode = backend_mode.values
        for problem, sizes, lr, steps in PROBLEMS:
            if mode in COMPILED and not (problem == "linreg" and sizes):
                continue
            for opt in OPTIMIZERS:
                yield pytest.param(
                    problem,
                    sizes,
                    lr,
                    steps,
                    backend,
                    mode,
                    opt,
                    id=f"{problem}{'-gen' if sizes else ''}-{opt}-{backend}-{mode}",
                    marks=backend_mode.marks,
                )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    ("problem", "sizes", "lr", "steps", "backend", "mode", "opt"), list(cases())
)
def test_every_optimizer_agrees_with_its_specification(
    problem, sizes, lr, steps, backend, mode, opt, dtype
):
    try:
        traj, ref, agr = run_cell(problem, sizes, lr, steps, backend, mode, dtype, opt)
    except NotMapped as exc:  # optax.adagrad and the spec's eps outside the root
        assert (backend, opt) == ("jax", "adagrad")
        pytest.skip(str(exc))
    assert traj.steps == steps and traj.diverged_step is None
    assert agr.agrees, agr.detail
    assert_within_budget(problem, sizes, lr, steps, dtype, opt, traj, ref, agr)
    if dtype == "float64":
        assert agr.max_rel_dev < 1e-9
        assert np.abs(traj.w[-1] - ref.w[-1]).max() < 1e-9 * max(1.0, np.abs(ref.w).max())


# Variants that the defaults do not reach: centred RMSprop with momentum, dampening,
# Adagrad's lr decay and accumulator, weight decay in every coupled form.
VARIANTS = [
    ("rmsprop", {"centered": True}),
    ("rmsprop", {"momentum": 0.5, "weight_decay": 0.01}),
    ("momentum", {"dampening": 0.3}),
    ("adagrad", {"lr_decay": 0.01, "initial_accumulator_value": 0.1, "weight_decay": 0.01}),
    ("adagrad", {"eps": 0, "lr_decay": 0.01}),
    ("adagrad", {"eps_in_sqrt": True, "eps": 1e-3, "initial_accumulator_value": 0.1}),
    ("adam", {"weight_decay": 0.01, "beta1": 0.8}),
    ("sgd", {"weight_decay": 0.1}),
    ("nesterov", {"momentum": 0.5}),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("backend", ["numpy", "torch-autograd", "torch-nn", "jax"])
@pytest.mark.parametrize(("opt", "given"), VARIANTS, ids=[f"{o}-{g}" for o, g in VARIANTS])
def test_hyperparameter_variants_agree(opt, given, backend, dtype):
    b = registry.backends()[backend]
    if not b.available()[0]:
        pytest.skip(b.available()[1])
    unmapped = {
        ("jax", "dampening"): "no dampening",
        ("jax", "adagrad"): "eps inside the square root only",
        ("torch-nn", "eps_in_sqrt"): "outside the square root only",
    }
    why = next(
        (m for (b_, k), m in unmapped.items() if b_ == backend and (k in given or k == opt)), None
    )
    if opt == "adagrad" and backend == "jax" and (given.get("eps") == 0 or "eps_in_sqrt" in given):
        why = None
    cell = ("linreg", {"n_samples": 200, "features": 3}, 0.05, 40, backend, b.default_mode)
    if why:
        with pytest.raises(NotMapped, match=why):
            run_cell(*cell, dtype, opt, given)
        return
    traj, ref, agr = run_cell(*cell, dtype, opt, given)
    assert agr.agrees, agr.detail
    problem, sizes, lr, steps = cell[:4]
    assert_within_budget(problem, sizes, lr, steps, dtype, opt, traj, ref, agr, given)
    if dtype == "float64":
        assert agr.max_rel_dev < 1e-9


def test_step_one_by_value_from_the_equations():
    # Quadratic, w0 = 10, g = 20, lr = 0.1: the first step of each rule, by hand.
    w = {}
    for opt in OPTIMIZERS:
        traj, _, _ = run_cell("quadratic", {}, 0.1, 1, "numpy", "eager", "float64", opt)
        w[opt] = float(traj.w[0])
    assert w["sgd"] == pytest.approx(10 - 0.1 * 20)
    assert w["momentum"] == pytest.approx(10 - 0.1 * 20)  # b = g on step 1
    assert w["nesterov"] == pytest.approx(10 - 0.1 * (20 + 0.9 * 20))
    assert w["adam"] == pytest.approx(10 - 0.1 * 20 / (20 + 1e-8), rel=1e-12)
    assert w["adamw"] == pytest.approx(10 * (1 - 0.1 * 0.01) - 0.1 * 20 / (20 + 1e-8))
    assert w["rmsprop"] == pytest.approx(10 - 0.1 * 20 / (math.sqrt(0.01 * 400) + 1e-8))
    assert w["adagrad"] == pytest.approx(10 - 0.1 * 20 / (20 + 1e-10))


# --- the classic mistakes, as plug-in optimizers: each must be caught early ------------


class EpsInsideRoot(Adam):
    def update(self, grad, state, params, lr, hp):
        b1, b2, eps = hp["beta1"], hp["beta2"], hp["eps"]
        t = state["t"] + 1
        m = b1 * state["m"] + (1 - b1) * grad
        v = b2 * state["v"] + (1 - b2) * grad * grad
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        return params - lr * m_hat / (v_hat + eps) ** 0.5, {"t": t, "m": m, "v": v}


class NoBiasCorrection(Adam):
    def update(self, grad, state, params, lr, hp):
        b1, b2, eps = hp["beta1"], hp["beta2"], hp["eps"]
        m = b1 * state["m"] + (1 - b1) * grad
        v = b2 * state["v"] + (1 - b2) * grad * grad
        return params - lr * m / (v**0.5 + eps), {"t": state["t"] + 1, "m": m, "v": v}


class CoupledAdamW(Adam):
    """AdamW written as Adam with L2 (the decay folded into the gradient)."""

    name = "adamw"
    hypers = registry.optimizers()["adamw"].hypers
    decoupled = False


class Dampened(Momentum):
    def update(self, grad, state, params, lr, hp):
        return super().update(grad, state, params, lr, {**hp, "dampening": 0.1})


MISTAKES = [
    # (wrong implementation, specification, problem, sizes, lr, steps, dtype, hyper)
    (EpsInsideRoot(), "adam", "linreg", {}, 0.01, 100, "float64", {}),
    (EpsInsideRoot(), "adam", "linreg", {}, 0.01, 100, "float32", {"eps": 0.1}),
    (NoBiasCorrection(), "adam", "linreg", {}, 0.01, 100, "float32", {}),
    (CoupledAdamW(), "adamw", "quadratic", {}, 0.1, 15, "float32", {}),
    (Dampened(), "momentum", "linreg", {}, 0.01, 100, "float32", {}),
]


@pytest.mark.parametrize("backend", ["numpy", "torch-autograd"])
@pytest.mark.parametrize(
    ("wrong", "spec", "problem", "sizes", "lr", "steps", "dtype", "given"),
    MISTAKES,
    ids=[
        "eps-in-sqrt-f64",
        "eps-in-sqrt-f32",
        "no-bias-correction",
        "l2-not-decoupled",
        "dampening",
    ],
)
def test_implementation_mistakes_are_caught_early(
    wrong, spec, problem, sizes, lr, steps, dtype, given, backend
):
    b = registry.backends()[backend]
    if not b.available()[0]:
        pytest.skip(b.available()[1])
    p = registry.problems()[problem]
    inst = p.make(**sizes)
    right = registry.optimizers()[spec]
    hp = right.resolve(given)
    ref, _ = reference_trajectory(p, inst, lr, steps, right, hp)
    traj = b.prepare(p, inst, Setup(lr, dtype, "cpu", "eager", wrong, hp)).trajectory(steps)
    n_el = inst.n_samples * inst.features or 1
    agr = judge(traj, ref, dtype, steps, n_el, right, hp, lr)
    assert not agr.agrees
    assert agr.first_bad_step <= 5, agr.detail
    # ...while the right implementation on the same backend agrees.
    good = b.prepare(p, inst, Setup(lr, dtype, "cpu", "eager", right, hp)).trajectory(steps)
    assert judge(good, ref, dtype, steps, n_el, right, hp, lr).agrees


class LookAheadNesterovSession(NumpySession):
    """A backend test double: Nesterov in the look-ahead form, v ← μ·v − lr·∇L(w + μ·v),
    w ← w + v, keeping w (not the look-ahead point) as its parameters."""

    def reset(self):
        super().reset()
        self.v = np.zeros_like(self.w)

    def step(self, record):
        mu = self.hp["momentum"]
        loss = float(self.problem.loss(self.w, **self.data))
        g = np.asarray(self.problem.grad(self.w + mu * self.v, **self.data), self.w.dtype)
        self.v = mu * self.v - self.lr * g
        self.w = self.w + self.v
        return (loss, g.astype(np.float64), self.w.astype(np.float64)) if record else None


@pytest.mark.parametrize(
    ("problem", "lr", "steps"), [("quadratic", 0.1, 15), ("linreg", 0.01, 100)]
)
def test_nesterov_in_look_ahead_form_is_caught_at_step_1(problem, lr, steps):
    p = registry.problems()[problem]
    inst = p.make()
    opt = registry.optimizers()["nesterov"]
    hp = opt.resolve({})
    ref, _ = reference_trajectory(p, inst, lr, steps, opt, hp)
    setup = Setup(lr, "float32", "cpu", "eager", opt, hp)
    traj = LookAheadNesterovSession(p, inst, setup).trajectory(steps)
    agr = compare(traj, ref, tolerance("float32", steps, inst.n_samples or 1))
    assert not agr.agrees and agr.first_bad_step == 1
    assert compare(NumpySession(p, inst, setup).trajectory(steps), ref, agr.tol).agrees


def test_the_adaptive_rule_tolerates_noise_but_not_a_shift():
    # RMSprop on generated linreg, 300 float32 steps: the strict rule calls the correct
    # run wrong once gradients reach float32 rounding (measured: 20× the tolerance from
    # step ~147); the two-phase rule accepts it, and rejects the same run shifted by a
    # tenth of lr per step before the noise floor.
    traj, ref, agr = run_cell(
        "linreg",
        {"n_samples": 300, "features": 4, "seed": 3},
        0.05,
        300,
        "numpy",
        "eager",
        "float32",
        "rmsprop",
    )
    tol = tolerance("float32", 300, 1200)
    assert not compare(traj, ref, tol).agrees  # the strict rule
    assert agr.agrees and agr.noise_from_step is not None
    from gdbench.trajectory import Trajectory

    shifted = Trajectory(traj.loss, traj.grad, traj.w + 0.005 * np.arange(1, 301)[:, None])
    opt = registry.optimizers()["rmsprop"]
    bad = compare(
        shifted, ref, tol, opt.step_bound(opt.defaults()), 0.05, noise_floor("float32", 1200)
    )
    assert not bad.agrees and bad.first_bad_step < agr.noise_from_step


# --- the command line ------------------------------------------------------------------


def run(args, tmp_path, name="out"):
    out = tmp_path / name
    return main([*args, "--no-timing", "--out", str(out)]), out


@require("optax")
def test_native_defaults_disagree_and_name_the_hyperparameters(tmp_path):
    code, out = run(
        [
            "--optimizer",
            "adamw,rmsprop",
            "--native-defaults",
            "--backend",
            "jax,torch-nn",
            "--problem",
            "quadratic,linreg",
        ],
        tmp_path,
    )
    assert code == 1
    df = pd.read_csv(out / "summary.csv", keep_default_na=False)
    jax_rows = df[df.backend == "jax"]
    assert not jax_rows.agrees.astype(str).eq("True").any()
    adamw = jax_rows[jax_rows.optimizer == "adamw"].reason
    assert adamw.str.contains("optax.adamw weight_decay=0.0001, spec 0.01").all()
    rms = jax_rows[jax_rows.optimizer == "rmsprop"].reason
    assert rms.str.contains("alpha=0.9, spec 0.99").all()
    assert rms.str.contains("eps_in_sqrt=True, spec False").all()
    # torch.optim's defaults are gdbench's: the torch-nn rows agree.
    assert df[df.backend == "torch-nn"].agrees.astype(str).eq("True").all()
    used = json.loads(df[df.backend == "jax"].optimizer_used.iloc[0])
    assert used["weight_decay"] == 1e-4


def test_optimizer_rows_and_resume_keys(tmp_path):
    code, out = run(
        [
            "--problem",
            "quadratic",
            "--backend",
            "numpy",
            "--optimizer",
            "sgd,adam",
            "--opt",
            "beta1=0.8",
        ],
        tmp_path,
    )
    assert code == 0
    df = pd.read_csv(out / "summary.csv")
    assert list(df.optimizer) == ["sgd", "adam"]
    assert json.loads(df.optimizer_args.iloc[1])["beta1"] == 0.8
    assert df.optimizer_impl.iloc[1] == "gdbench specification"
    assert main(["run", "--resume", str(out)]) == 0  # nothing left to run, no duplicate
    assert len(pd.read_csv(out / "summary.csv")) == 2


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--optimizer", "adamx"], "unknown optimizer 'adamx'"),
        (["--optimizer", "sgd", "--opt", "beta1=0.5"], "'beta1' is not a hyperparameter of sgd"),
        (["--optimizer", "momentum", "--opt", "momentum=1"], "momentum must be in [0, 1)"),
        (["--optimizer", "adam", "--opt", "eps=-1"], "eps must be in [0, inf)"),
        (["--optimizer", "adam", "--opt", "eps=nan"], "eps must be in"),
        (["--optimizer", "rmsprop", "--opt", "centered=maybe"], "centered takes true or false"),
        (["--optimizer", "adam", "--opt", "beta1"], "--opt takes [NAME:]KEY=VALUE"),
        (["--optimizer", "adam", "--opt", "beta1=0.8,,eps=1"], "--opt takes [NAME:]KEY=VALUE"),
        (["--optimizer", "adam", "--opt", "beta1=0.8,beta1=0.7"], "gives beta1 twice"),
    ],
)
def test_bad_optimizer_options_are_one_line_and_status_2(args, needle, tmp_path, capsys):
    code, out = run(args, tmp_path)
    err = capsys.readouterr().err
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


@require("optax")
def test_plugin_optimizer_runs_and_unmapped_backends_skip(tmp_path):
    code, out = run(
        [
            "--plugin",
            str(ROOT / "examples" / "lion.py"),
            "--optimizer",
            "lion",
            "--dtype",
            "float32,float64",
        ],
        tmp_path,
    )
    assert code == 0
    df = pd.read_csv(out / "summary.csv", keep_default_na=False)
    skipped = df[df.status == "skipped"]
    assert set(skipped.backend) == {"torch-nn"}
    assert skipped.reason.str.contains("no torch.optim mapping").all()
    ran = df[df.status == "ok"]
    assert set(ran.backend) == {"numpy", "torch-autograd", "jax"}
    assert (ran[ran.dtype == "float64"].max_rel_dev.astype(float) < 1e-9).all()


def test_a_backend_without_optimizers_skips_them_with_the_reason(tmp_path):
    code, out = run(
        [
            "--plugin",
            str(ROOT / "examples" / "finite_difference_backend.py"),
            "--backend",
            "numpy-fd",
            "--optimizer",
            "sgd,adam",
            "--problem",
            "quadratic",
        ],
        tmp_path,
    )
    df = pd.read_csv(out / "summary.csv", keep_default_na=False)
    assert code == 0
    row = df[df.optimizer == "adam"].iloc[0]
    assert row.status == "skipped" and "implements only sgd" in row.reason


def test_only_plain_sgd_keeps_the_problem_s_closed_form():
    # The reference asks the optimizer: SGD without weight decay is the closed form's
    # iteration; with it, a subclass of SGD (a plug-in may change the update) or any other
    # optimizer, the float64 iteration of the update runs instead.
    from gdbench.optimizers.sgd import SGD

    class Variant(SGD):
        name = "sgd-variant"

    problem = registry.problems()["linreg"]
    inst = problem.make(30, 2, 0)
    sgd, adam = registry.optimizers()["sgd"], Adam()
    cases = [
        (sgd, {"weight_decay": 0.0}, True),
        (sgd, {"weight_decay": 0.1}, False),
        (Variant(), {"weight_decay": 0.0}, False),
        (adam, adam.resolve({}), False),
    ]
    for optimizer, hyper, plain in cases:
        assert optimizer.is_plain(hyper) is plain
        _, source = reference_trajectory(problem, inst, 0.05, 5, optimizer, hyper)
        assert ("closed form" in source) is plain, (optimizer.name, hyper, source)
