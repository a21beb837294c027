"""`gdbench notebook`: the teaching notebook's four cells, re-run through gdbench.

Each cell is one of gdbench's own problems on one of its backends, printed in the cell's
exact format. The NumPy cell keeps the notebook's faulty gradient (labelled as such) and
is followed by what gdbench's gradient check says of it.
"""

from __future__ import annotations

import numpy as np

from gdbench import registry
from gdbench.numerics.agreement import compare, tolerance
from gdbench.numerics.gradcheck import check_gradient, format_check
from gdbench.numerics.reference import reference_trajectory
from gdbench.optimizers.sgd import plain_setup
from gdbench.problem import Instance
from gdbench.problems.linreg import NOTEBOOK_X, LinearRegression


class NotebookGradient(LinearRegression):
    """The notebook's linear regression with its own hand-derived gradient, verbatim."""

    name = "linreg-notebook-gradient"

    def grad(self, w, X, y):
        # np.dot already sums over the samples; .mean() of that scalar divides by 1, not N.
        return np.atleast_1d(np.dot(2 * X[:, 0], X @ w - y).mean())


def notebook_instance(slope: float) -> Instance:
    x = np.asarray(NOTEBOOK_X)
    return Instance(
        "linreg", w0=np.zeros(1), data={"X": x[:, None], "y": slope * x}, n_samples=len(x)
    )


def _trajectory(backend: str, problem, inst, lr, steps):
    setup = plain_setup(lr, "float32", "cpu", "eager")
    return registry.backends()[backend].prepare(problem, inst, setup).trajectory(steps)


def _f5(w) -> np.float32:
    """The cell's forward(5) = w * 5, in the float32 the cell computes it in."""
    return np.float32(np.asarray(w).reshape(-1)[0]) * np.float32(5)


def cell_lines(cell: int) -> list[str]:
    """The printed lines of one cell (1 to 4)."""
    problems = registry.problems()
    if cell == 1:
        traj = _trajectory(
            "torch-autograd", problems["quadratic"], problems["quadratic"].make(), 0.1, 15
        )
        return [
            f"Epoch {k + 1}: w={float(traj.w[k]):.7f}, loss={traj.loss[k]:.7f}, "
            f"grad={float(traj.grad[k]):.7f}"
            for k in range(traj.steps)
        ]
    slope, backend, steps, every, before = {
        2: (2.0, "numpy", 20, 1, True),
        3: (2.0, "torch-autograd", 100, 10, True),
        4: (5.0, "torch-autograd", 100, 1, False),
    }[cell]
    problem = NotebookGradient() if cell == 2 else problems["linreg"]
    inst = notebook_instance(slope)
    traj = _trajectory(backend, problem, inst, 0.01, steps)
    lines = [f"Prediction before training: f(5) = {_f5(inst.w0):.3f}"] if before else []
    lines += [
        f"Epoch {k + 1}: w={traj.w[k, 0]:.3f}, loss={traj.loss[k]:.8f}, grad={traj.grad[k, 0]:.3f}"
        for k in range(0, traj.steps, every)
    ]
    lines.append(f"Prediction after training: f(5) = {_f5(traj.w[-1]):.3f}")
    return lines


def verdict_lines() -> list[str]:
    """What gdbench says of the NumPy cell: gradient check and trajectory agreement."""
    problem, inst = NotebookGradient(), notebook_instance(2.0)
    lines = format_check(check_gradient(problem, inst))
    ref, _ = reference_trajectory(registry.problems()["linreg"], inst, 0.01, 20)
    traj = _trajectory("numpy", problem, inst, 0.01, 20)
    agr = compare(traj, ref, tolerance("float32", 20, inst.n_samples))
    lines.append(
        f"  trajectory vs the float64 reference: max deviation {agr.max_rel_dev:.3g} "
        f"(tolerance {agr.tol:.3g}), {agr.detail or 'agrees'}"
    )
    return lines


TITLES = {
    1: "Cell 1: loss = w**2, torch autograd (gdbench: quadratic on torch-autograd, float32)",
    2: (
        "Cell 2: linear regression in NumPy WITH THE NOTEBOOK'S FAULTY GRADIENT "
        "np.dot(2*X, Y_pred-Y).mean() (gdbench: numpy backend, float32)"
    ),
    3: "Cell 3: linear regression, torch autograd (gdbench: linreg on torch-autograd, float32)",
    4: (
        "Cell 4: linear regression on Y = 5X, torch autograd, every epoch "
        "(gdbench: linreg on torch-autograd, float32)"
    ),
}


def main(out=print) -> int:
    ok, why = registry.backends()["torch-autograd"].available()
    if not ok:
        out(f"gdbench notebook: cells 1, 3 and 4 need torch ({why})")
        return 1
    for cell in (1, 2, 3, 4):
        out(f"### {TITLES[cell]}")
        for line in cell_lines(cell):
            out(line)
        if cell == 2:
            out("### gdbench on the notebook's NumPy gradient:")
            for line in verdict_lines():
                out(line)
        out("")
    return 0
