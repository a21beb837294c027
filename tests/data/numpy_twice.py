"""A test plugin: the built-in ``numpy`` backend, replaced by one that computes every
gradient twice, as a careless change would. Same trajectory, about twice the time per
step: what ``gdbench compare`` must call slower."""

import numpy as np

import gdbench
from gdbench.backends.numpy_hand import NumpyBackend, NumpySession


class TwiceSession(NumpySession):
    def step(self, record):
        with np.errstate(all="ignore"):
            self.problem.grad(self.w, **self.data)  # the wasted copy of the work
        return super().step(record)


class TwiceBackend(NumpyBackend):
    replaces = True  # it stands in for the built-in numpy, and says so

    def prepare(self, problem, inst, setup):
        return TwiceSession(problem, inst, setup)


gdbench.register_backend(TwiceBackend())
