"""A gdbench plugin: your own backend. This one needs no gradient at all: it takes
central finite differences of the problem's loss, in NumPy.

    python -m gdbench --plugin examples/finite_difference_backend.py --backend numpy,numpy-fd

In float32 it agrees with the reference; in float64 the ~1e-10 error of central
differences is far above float64 rounding, and gdbench says so.
"""

import numpy as np

import gdbench
from gdbench.problem import step_batches


class FiniteDifferenceSession(gdbench.StepSession):
    def __init__(self, problem, inst, setup):
        self.problem, self.lr = problem, setup.lr
        # Each step's data: all of it, or a mini-batch by the problem's schedule
        # (the classifier's), as every backend takes them; next_batch() cycles them.
        self.batches = [
            {k: v.astype(setup.dtype) for k, v in batch.items()}
            for batch in step_batches(problem, inst)
        ]
        self.w0 = inst.w0.astype(setup.dtype)
        self.reset()

    def reset(self):
        self.w = self.w0.copy()

    def grad(self, w, data):
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
            g[i] = (loss(wp, **data) - loss(wm, **data)) / (2 * h)
        return g.astype(w.dtype)

    def step(self, record):
        data = self.next_batch()
        loss = float(self.problem.loss(self.w, **data))
        g = self.grad(self.w, data)
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
