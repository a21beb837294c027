"""A test plugin: the built-in ``numpy`` backend, replaced by one whose gradient is 10%
too large (a hand-derivation slip). What ``gdbench compare`` must call out first."""

import numpy as np

import gdbench
from gdbench.backends.numpy_hand import NumpyBackend, NumpySession


class WrongSession(NumpySession):
    def step(self, record):
        with np.errstate(all="ignore"):
            loss = self.problem.loss(self.w, **self.data) if record else None
            g = 1.1 * np.asarray(self.problem.grad(self.w, **self.data), dtype=self.w.dtype)
            self.w, self.state = self.opt.update(g, self.state, self.w, self.lr, self.hp)
        if record:
            return float(loss), g.astype(np.float64), self.w.astype(np.float64)
        return None


class WrongBackend(NumpyBackend):
    replaces = True  # it stands in for the built-in numpy, and says so

    def prepare(self, problem, inst, setup):
        return WrongSession(problem, inst, setup)


gdbench.register_backend(WrongBackend())
