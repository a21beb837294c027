"""NumPy with the problem's hand-derived gradient and the optimizer's update written by
hand (gdbench's specification): no autodiff and no optimizer library anywhere.

Mode ``eager`` runs the formulas as a performance-aware NumPy user would: each data matrix
stored column-major once at set-up (then both ``X @ w`` and ``X.T @ r`` are BLAS calls that
stream X: at N×D = 3e6×16 on a 2-core Xeon 27 GB/s each, where the row-major X gave 15 and
13), and ``gdbench.compat.products.matvec`` for the D = 1 product. Mode ``naive`` runs the same
formulas on the data as given (row-major) with plain ``X @ w``: the notebook's way, kept so
that the difference is measured, not assumed.
"""

from __future__ import annotations

import contextlib
import time

import numpy as np

from gdbench.backend import Backend, Mode, StepSession
from gdbench.compat.products import plain
from gdbench.problem import step_batches
from gdbench.registry import register_backend
from gdbench.timing.breakdown import operands


def column_major(a: np.ndarray, dtype) -> np.ndarray:
    """A 2-D array in Fortran (column) order, anything else C-contiguous, in ``dtype``."""
    return np.asfortranarray(a, dtype=dtype) if a.ndim == 2 else np.ascontiguousarray(a, dtype)


class _Timed(np.ndarray):
    """A view of a data array whose every ufunc call (operators, ``@``, reductions) is
    timed into ``log``, with the bytes of its operands and result; results stay _Timed, so
    the whole chain of a formula is seen."""

    log = None

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        args = [np.asarray(x) if isinstance(x, _Timed) else x for x in inputs]
        if "out" in kwargs:
            kwargs["out"] = tuple(np.asarray(o) for o in kwargs["out"])
        t0 = time.perf_counter()
        result = getattr(ufunc, method)(*args, **kwargs)
        seconds = time.perf_counter() - t0
        arrays = [a for a in args if isinstance(a, np.ndarray)]
        nbytes = sum(a.nbytes for a in arrays) + np.asarray(result).nbytes
        name = ufunc.__name__ if method == "__call__" else f"{ufunc.__name__}.{method}"
        if _Timed.log is not None:
            _Timed.log.add(name, operands(arrays), seconds, nbytes)
        if isinstance(result, np.ndarray) and result.ndim:
            return result.view(_Timed)
        return result


class NumpySession(StepSession):
    def __init__(self, problem, inst, setup):
        dtype = np.dtype(setup.dtype)
        self.problem = problem
        naive = setup.mode == "naive"
        layout = np.ascontiguousarray if naive else column_major
        self.batches = [
            {k: layout(v, dtype) for k, v in batch.items()} for batch in step_batches(problem, inst)
        ]
        self.data = self.batches[0]
        self.products = plain if naive else contextlib.nullcontext
        self.w0 = np.asarray(inst.w0, dtype=dtype)
        self.lr, self.opt, self.hp = setup.lr, setup.optimizer, setup.hyper
        self.reset()

    def reset(self):
        self.w = self.w0.copy()
        self.state = self.opt.init(self.w, self.hp)

    def step(self, record):
        # Overflow in a diverging run is reported as divergence, not as a warning.
        data = self.next_batch()
        with np.errstate(all="ignore"), self.products():
            loss = self.problem.loss(self.w, **data) if record else None
            g = np.asarray(self.problem.grad(self.w, **data), dtype=self.w.dtype)
            self.w, self.state = self.opt.update(g, self.state, self.w, self.lr, self.hp)
        if record:
            return float(loss), g.astype(np.float64), self.w.astype(np.float64)
        return None

    def operations(self, steps, log):
        """Every ufunc call of the formulas on the data (the update of the D parameters,
        after the gradient leaves as a plain array, is the rest of the step)."""
        batches = self.batches
        self.batches = [{k: v.view(_Timed) for k, v in b.items()} for b in batches]
        _Timed.log = log
        try:
            self.run_steps(steps)
        finally:
            self.batches, _Timed.log = batches, None


class NumpyBackend(Backend):
    name = "numpy"
    order = 0
    modes = (
        Mode("eager", "the hand-derived gradient, vectorised; X column-major for D > 1"),
        Mode("naive", "the same formulas, X row-major and the plain X @ w product at every D"),
    )
    default_mode = "eager"
    requires = ("numpy",)
    hand_gradient = True
    optimizers = None  # every one, through its specification

    def prepare(self, problem, inst, setup):
        return NumpySession(problem, inst, setup)


register_backend(NumpyBackend())
