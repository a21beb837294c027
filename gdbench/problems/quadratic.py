"""loss = w², the notebook's first cell: w0 = 10, lr = 0.1, 15 steps."""

from __future__ import annotations

import numpy as np

from gdbench.problem import Instance, Problem
from gdbench.registry import register_problem
from gdbench.trajectory import Trajectory


class Quadratic(Problem):
    name = "quadratic"
    description = "loss = w**2 from w0 = 10 (notebook cell 1); closed-form reference"
    order = 0
    default_lr = 0.1
    default_steps = 15
    w0 = 10.0

    def make(self, n_samples=None, features=None, seed=0) -> Instance:
        return Instance(self.name, w0=np.asarray(self.w0, dtype=np.float64))

    def loss(self, w, **data):
        return (w**2).sum()

    def grad(self, w, **data):
        return 2 * w

    def closed_form(self, inst, lr, steps):
        # w_k = w0 (1 - 2 lr)^k exactly; loss and gradient are taken before each update.
        with np.errstate(all="ignore"):  # a diverging rate overflows: marked, not warned
            factor = (1.0 - 2.0 * lr) ** np.arange(steps + 1, dtype=np.float64)
            w_all = float(inst.w0) * factor
            traj = Trajectory.from_steps(w_all[:-1] ** 2, 2 * w_all[:-1], w_all[1:])
        return traj, "closed form w_k = w0 (1 - 2 lr)^k"

    def hessian_max_eig(self, inst):
        return 2.0


register_problem(Quadratic())
