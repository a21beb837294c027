"""NumPy with the problem's hand-derived gradient and the optimizer's update written by
hand (gdbench's specification): no autodiff and no optimizer library anywhere."""

from __future__ import annotations

import numpy as np

from gdbench.backend import Backend, StepSession
from gdbench.registry import register_backend


class NumpySession(StepSession):
    def __init__(self, problem, inst, setup):
        dtype = np.dtype(setup.dtype)
        self.problem = problem
        self.data = {k: np.ascontiguousarray(v, dtype=dtype) for k, v in inst.data.items()}
        self.w0 = np.asarray(inst.w0, dtype=dtype)
        self.lr, self.opt, self.hp = setup.lr, setup.optimizer, setup.hyper
        self.reset()

    def reset(self):
        self.w = self.w0.copy()
        self.state = self.opt.init(self.w, self.hp)

    def step(self, record):
        # Overflow in a diverging run is reported as divergence, not as a warning.
        with np.errstate(all="ignore"):
            loss = self.problem.loss(self.w, **self.data) if record else None
            g = np.asarray(self.problem.grad(self.w, **self.data), dtype=self.w.dtype)
            self.w, self.state = self.opt.update(g, self.state, self.w, self.lr, self.hp)
        if record:
            return float(loss), g.astype(np.float64), self.w.astype(np.float64)
        return None


class NumpyBackend(Backend):
    name = "numpy"
    order = 0
    modes = ("eager",)
    default_mode = "eager"
    requires = ("numpy",)
    optimizers = None  # every one, through its specification

    def prepare(self, problem, inst, setup):
        return NumpySession(problem, inst, setup)


register_backend(NumpyBackend())
