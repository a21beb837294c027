"""A gdbench plugin: your own backend. This one needs no gradient at all: it takes
central finite differences of the problem's loss, in NumPy.

    python -m gdbench --plugin examples/finite_difference_backend.py --backend numpy,numpy-fd

In float32 it agrees with the reference; in float64 the ~1e-10 error of central
differences is far above float64 rounding, and gdbench says so.
"""

import numpy as np

import gdbench


class FiniteDifferenceSession(gdbench.StepSession):
    def __init__(self, problem, inst, setup):
        self.problem, self.lr = problem, setup.lr
        self.data = {k: v.astype(setup.dtype) for k, v in inst.data.items()}
        self.w0 = inst.w0.astype(setup.dtype)
        self.reset()

    def reset(self):
        self.w = self.w0.copy()

    def grad(self, w):
        # Central differences in float64, whatever the run's dtype, so that truncation and
        # cancellation stay far below float32's rounding.
        w64 = np.array(w, dtype=np.float64)
        g = np.zeros_like(w64)
        for i in np.ndindex(w64.shape):
            h = 1e-6 * max(1.0, abs(float(w64[i])))
            wp, wm = w64.copy(), w64.copy()
            wp[i] += h
            wm[i] -= h
            loss = self.problem.loss
            g[i] = (loss(wp, **self.data) - loss(wm, **self.data)) / (2 * h)
        return g.astype(w.dtype)

    def step(self, record):
        loss = float(self.problem.loss(self.w, **self.data))
        g = self.grad(self.w)
        self.w = self.w - self.lr * g
        return (loss, g.astype(np.float64), self.w.astype(np.float64)) if record else None


class FiniteDifferenceBackend(gdbench.Backend):
    name = "numpy-fd"
    modes = ("eager",)
    default_mode = "eager"
    requires = ("numpy",)

    def prepare(self, problem, inst, setup):
        return FiniteDifferenceSession(problem, inst, setup)


gdbench.register_backend(FiniteDifferenceBackend())
