"""Rosenbrock's banana valley, (a − x)² + b·(y − x²)², from the classic start (−1.2, 1).

The Hessian's largest eigenvalue is 1506 at the start and 1002 at the minimum (1, 1),
so gradient descent is stable below lr ≈ 1.3e-3; lr = 1e-3 for 500 steps falls into the
valley and follows its curve part of the way towards (1, 1) (loss 24.2 → 2.3).
Nonconvex: the reference is the float64 iteration.
"""

from __future__ import annotations

import numpy as np

from gdbench.hyper import Hyper
from gdbench.problem import Instance, Problem
from gdbench.registry import register_problem


class Rosenbrock(Problem):
    name = "rosenbrock"
    description = "(a − x)² + b·(y − x²)² from (−1.2, 1): the curved valley (nonconvex)"
    order = 3
    default_lr = 1e-3
    default_steps = 500
    options = (
        Hyper("a", 1.0, -1e6, 1e6, doc="the minimum is at (a, a²)"),
        Hyper("b", 100.0, 0.0, 1e6, low_open=True, doc="the valley's steepness"),
    )

    def make(self, n_samples=None, features=None, seed=0) -> Instance:
        return Instance(self.name, w0=np.array([-1.2, 1.0]))

    def param_count(self, features: int) -> int:
        return 2

    def loss(self, w, **data):
        a, b = self.opt["a"], self.opt["b"]
        x, y = w[0], w[1]
        return (a - x) ** 2 + b * (y - x * x) ** 2

    def grad(self, w, **data):
        a, b = self.opt["a"], self.opt["b"]
        x, y = w[0], w[1]
        return np.array([-2 * (a - x) - 4 * b * x * (y - x * x), 2 * b * (y - x * x)])

    def hessian_max_eig(self, inst):
        x, y = inst.w0
        b = self.opt["b"]
        h = np.array([[2 - 4 * b * (y - 3 * x * x), -4 * b * x], [-4 * b * x, 2 * b]])
        return float(np.linalg.eigvalsh(h).max())


register_problem(Rosenbrock())
