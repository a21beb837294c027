"""Step-by-step agreement of a trajectory with its float64 reference.

The rule, for each of the parameters, the loss and the gradient: the deviation at step k is
‖x_k − r_k‖∞ divided by the largest ‖r_j‖∞ the reference reaches over the run. Scaling by
the run's own magnitude keeps the measure meaningful where a quantity passes through or
converges to zero (the loss and gradient always do), where a per-step relative error
would divide rounding noise by nothing. ``max_rel_dev`` is the largest such deviation.

The tolerance is ``TOL_PER_STEP · ε(dtype) · max(steps, 8) · ⌈log2(N·D + 1)⌉``: each
update rounds a few times (ε, relative), a contracting iteration carries those errors
forward at most linearly in the number of steps, and a mean over N·D terms adds an error
that grows like log2 of its length under pairwise or blocked summation (NumPy, torch and
XLA all sum in different orders, which is why float32 runs differ from each other at all).
A wrong gradient (even a factor of 2) moves the trajectory by O(1), far above it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gdbench.trajectory import Trajectory

TOL_PER_STEP = 4.0


def tolerance(dtype: str, steps: int, n_elements: int = 1) -> float:
    eps = float(np.finfo(np.dtype(dtype)).eps)
    return TOL_PER_STEP * eps * max(steps, 8) * max(1, math.ceil(math.log2(n_elements + 1)))


@dataclass(frozen=True)
class Agreement:
    """How a run compares with its reference. ``first_bad_step`` is 1-based, or None."""

    agrees: bool
    max_rel_dev: float
    tol: float
    first_bad_step: int | None
    detail: str = ""


def deviations(run: Trajectory, ref: Trajectory, steps: int) -> np.ndarray:
    """Per-step deviation (the rule above) over the first ``steps`` steps."""
    dev = np.zeros(steps)
    with np.errstate(all="ignore"):
        for x, r in ((run.w, ref.w), (run.loss, ref.loss), (run.grad, ref.grad)):
            x = x[:steps].reshape(steps, -1)
            r = r[:steps].reshape(steps, -1)
            scale = np.abs(r).max() if r.size else 0.0
            err = np.abs(x - r).max(axis=1)
            d = err / scale if scale > 0 else err
            dev = np.fmax(dev, np.where(np.isnan(d), np.inf, d))
    return dev


def compare(run: Trajectory, ref: Trajectory, tol: float) -> Agreement:
    # Only steps where both are still finite and bounded are compared value by value.
    def clean(t: Trajectory) -> int:
        return t.diverged_step - 1 if t.diverged_step else t.steps

    n = min(clean(run), clean(ref))
    dev = deviations(run, ref, n)
    bad = np.nonzero(dev > tol)[0]
    first_bad = int(bad[0]) + 1 if len(bad) else None
    max_dev = float(dev.max()) if n else 0.0
    detail = ""
    if run.diverged_step and not ref.diverged_step:
        detail = f"diverged at step {run.diverged_step}; the reference does not"
    elif ref.diverged_step and not run.diverged_step:
        detail = f"the reference diverges at step {ref.diverged_step}; this run does not"
    elif run.steps < ref.steps and not run.diverged_step:
        detail = f"stopped after {run.steps} of {ref.steps} steps"
    if first_bad is not None:
        msg = f"leaves the tolerance at step {first_bad}"
        detail = f"{msg}; {detail}" if detail else msg
    elif detail:
        first_bad = n + 1
    return Agreement(first_bad is None and not detail, max_dev, tol, first_bad, detail)
