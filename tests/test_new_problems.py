"""logreg, rosenbrock and mlp: every backend, mode and dtype against the float64 iteration;
hand-derived gradients against finite differences and autodiff; a 10% wrong gradient caught
at every size; the MLP's classic backprop mistakes explained; float32 precision told apart
from wrong mathematics."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from gdbench import registry
from gdbench.backends.numpy_hand import NumpyBackend
from gdbench.cli.commands import main
from gdbench.numerics import agreement
from gdbench.numerics.gradcheck import check_gradient, format_check
from gdbench.numerics.reference import growth, reference_trajectory
from gdbench.optimizers.sgd import plain_setup

from .conftest import backend_mode_params

NEW = [
    ("logreg", {}),
    ("logreg", {"n_samples": 2000, "features": 8, "seed": 4}),
    ("rosenbrock", {}),
    ("mlp", {}),
    ("mlp", {"n_samples": 500, "features": 3, "seed": 2}),
]


def judge(problem, inst, traj, lr, steps, dtype):
    opt = registry.optimizers()["sgd"]
    hp = opt.resolve({})
    ref, _ = reference_trajectory(problem, inst, lr, steps, opt, hp)
    g = growth(problem, inst, lr, steps, opt, hp, ref)
    n_el = inst.n_samples * inst.features or 1
    return agreement.judge(traj, ref, dtype, steps, n_el, opt, hp, lr, g)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("backend", "mode"), backend_mode_params())
@pytest.mark.parametrize(("name", "sizes"), NEW, ids=[f"{n}-{len(s)}" for n, s in NEW])
def test_new_problems_agree_on_every_backend_and_mode(name, sizes, backend, mode, dtype):
    p = registry.problems()[name]
    inst = p.make(**sizes)
    # 100 steps: JAX's eager mode dispatches op by op (7.5 s a case at 200 on the MLP here)
    lr, steps = p.default_lr, min(p.default_steps, 100)
    s = registry.backends()[backend].prepare(p, inst, plain_setup(lr, dtype, "cpu", mode))
    traj = s.trajectory(steps)
    assert traj.steps == steps and traj.diverged_step is None
    agr = judge(p, inst, traj, lr, steps, dtype)
    assert agr.agrees, agr.detail
    if dtype == "float64":
        assert agr.max_rel_dev < 1e-9


@pytest.mark.parametrize("name", ["logreg", "rosenbrock", "mlp"])
def test_hand_gradients_pass_gradcheck(name):
    p = registry.problems()[name]
    c = check_gradient(p, p.make())
    assert c.ok, "\n".join(format_check(c))


def test_logreg_loss_is_finite_far_out_in_float32():
    import torch

    p = registry.problems()["logreg"]
    X = torch.tensor([[1.0], [-1.0]], dtype=torch.float32)
    y = torch.tensor([1.0, 0.0])
    for w in (1e3, -1e3):
        loss = p.loss(torch.tensor([w], dtype=torch.float32), X, y)
        assert torch.isfinite(loss)
    # Far out on the wrong side the loss is |X·w| per sample: 1e3 here, by value.
    assert float(p.loss(torch.tensor([-1e3]), X, y)) == pytest.approx(1e3 + 0.5e-3 * 1e6)


def test_rosenbrock_by_value():
    p = registry.problems()["rosenbrock"]
    w = np.array([-1.2, 1.0])
    assert float(p.loss(w)) == pytest.approx(24.2)
    np.testing.assert_allclose(p.grad(w), [-215.6, -88.0])
    # [[1330, 480], [480, 200]] at the start: λmax = (1530 + √(1130² + 4·480²))/2
    assert p.hessian_max_eig(p.make()) == pytest.approx(1506.367, rel=1e-6)


class TenPercentOff:
    """A plug-in's hand gradient that is 10% too large."""

    def __init__(self, problem):
        self.problem = copy.copy(problem)
        original = problem.grad
        self.problem.grad = lambda w, **data: 1.1 * original(w, **data)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    ("name", "sizes"),
    [
        ("logreg", {"n_samples": 50, "features": 2}),
        ("logreg", {"n_samples": 20000, "features": 4}),
        ("rosenbrock", {}),
        ("mlp", {"n_samples": 50, "features": 1}),
        ("mlp", {"n_samples": 5000, "features": 4}),
    ],
)
def test_a_gradient_10_percent_off_disagrees_at_every_size(name, sizes, dtype):
    p = registry.problems()[name]
    inst = p.make(**sizes)
    wrong = TenPercentOff(p).problem
    steps = 50
    traj = NumpyBackend().prepare(wrong, inst, plain_setup(p.default_lr, dtype, "cpu", "eager"))
    agr = judge(p, inst, traj.trajectory(steps), p.default_lr, steps, dtype)
    assert not agr.agrees and agr.first_bad_step == 1


# --- the MLP's classic backprop mistakes, each explained by gradcheck -------------------


def mlp_with(grad):
    p = copy.copy(registry.problems()["mlp"])
    p.grad = grad.__get__(p)
    return p


def no_tanh_derivative(self, w, X, y):
    W1, b1, W2, b2 = self.unpack(w, X.shape[1])
    H = np.tanh(X @ W1.T + b1)
    g_pred = 2 * (H @ W2 + b2 - y) / len(y)
    g_Z = np.outer(g_pred, W2)  # tanh' = 1 − tanh² forgotten
    return np.concatenate([(g_Z.T @ X).ravel(), g_Z.sum(0), H.T @ g_pred, [g_pred.sum()]])


def no_mean(self, w, X, y):
    return len(y) * registry.problems()["mlp"].grad(w, X, y)  # the 1/N forgotten


def transposed_w1(self, w, X, y):
    g = registry.problems()["mlp"].grad(w, X, y)
    h, d = self.hidden, X.shape[1]
    return np.concatenate([g[: h * d].reshape(h, d).T.ravel(), g[h * d :]])


def transposed_w2(self, w, X, y):
    W1, b1, W2, b2 = self.unpack(w, X.shape[1])
    H = np.tanh(X @ W1.T + b1)
    r = (2 * (H @ W2 + b2 - y) / len(y))[:, None]  # (N, 1)
    g_Z = (r @ W2[:, None]) * (1 - H * H)  # W2 as a column where a row belongs: (N,1)@(h,1)
    return np.concatenate([(g_Z.T @ X).ravel(), g_Z.sum(0), H.T @ r[:, 0], [r.sum()]])


@pytest.mark.parametrize(
    ("grad", "needle"),
    [
        (no_tanh_derivative, "without tanh' = 1 − tanh² (forgotten)"),
        (no_mean, "N = 200 times too large"),
        (transposed_w1, "W1's gradient is the true one transposed"),
        (transposed_w2, "the hand-derived gradient raised ValueError"),
    ],
    ids=["tanh-derivative", "missing-1/N", "transposed-W1", "transposed-W2"],
)
def test_gradcheck_explains_the_classic_mlp_mistakes(grad, needle, capsys):
    p = mlp_with(grad)
    c = check_gradient(p, p.make(features=3))
    text = "\n".join(format_check(c))
    assert not c.ok and needle in text, text


# --- precision or logic ------------------------------------------------------------------


SLOPPY = '''
import numpy as np
import gdbench
from gdbench.backends.numpy_hand import NumpySession


class SloppySession(NumpySession):
    """The right gradient, summed in float16 when the run is float32: imprecise, not wrong."""

    def step(self, record):
        out = super().step(record)
        if self.w.dtype == np.float32:
            self.w = self.w.astype(np.float16).astype(np.float32)
        return out


class Sloppy(gdbench.Backend):
    name = "numpy-sloppy"
    optimizers = None

    def prepare(self, problem, inst, setup):
        return SloppySession(problem, inst, setup)


gdbench.register_backend(Sloppy())
'''


def test_imprecise_is_told_from_disagrees(tmp_path):
    path = tmp_path / "sloppy.py"
    path.write_text(SLOPPY)
    out = tmp_path / "out"
    argv = ["--plugin", str(path), "--backend", "numpy-sloppy", "--problem", "linreg"]
    code = main([*argv, "--dtype", "float32,float64", "--no-timing", "--out", str(out)])
    import pandas as pd

    df = pd.read_csv(out / "summary.csv")
    assert code == 0  # imprecise does not fail a run...
    assert df.set_index("dtype").verdict.to_dict() == {"float32": "imprecise", "float64": "agrees"}
    assert "the same backend and mode agree in float64" in df.reason.iloc[0]
    strict = main([*argv, "--no-timing", "--strict", "--out", str(tmp_path / "strict")])
    assert strict == 1  # ...unless --strict
