"""Where a port first departs from the reference: its forward output, its gradient, or
its optimizer's update, told apart by giving each stage the same inputs.

At each step k every stage of the candidate is run on the float64 reference's own inputs
at that step, cast to the run's dtype: the forward pass and the gradient at the
reference's weights W_k on batch k; the optimizer's update from W_k with the reference's
gradient G_k, its state carried over the reference's earlier steps (a replay). Each output
is compared with the float64 reference's (O_k, G_k, W_{k+1}): the deviation is the largest
difference over the largest size that output reaches over the run (per parameter for the
gradient and the update). The reference's own code does the same in the same dtype, and a
stage departs where the candidate's deviation is more than ``BUDGET`` times the largest the
reference's code shows over the run (or ε(dtype), where it rounds exactly): the second
criterion's rule, per stage. The earliest step, then the earliest stage in it, is named,
with the parameter furthest out (for a forward output, the one whose gradient is).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gdbench.numerics.budget import BUDGET
from gdbench.ports.recording import Recording
from gdbench.ports.runner import Arrays, Runner, unflat

STAGES = ("forward output", "gradient", "update")


@dataclass(frozen=True)
class Divergence:
    """The first departure: 1-based ``step``, ``stage`` (of ``STAGES``), the ``parameter``
    furthest out, and how many times the reference code's own deviation it is."""

    step: int
    stage: str
    parameter: str
    ratio: float

    def __str__(self) -> str:
        return f"{self.parameter}, {self.stage}, step {self.step} ({self.ratio:.3g}× float's own)"


def _dev(x, truth, scale) -> float:
    with np.errstate(all="ignore"):
        d = float(np.abs(np.asarray(x, dtype=np.float64) - truth).max()) / (scale or 1.0)
    return np.inf if np.isnan(d) else d


def deviations(
    runner: Runner, ref: Recording, w0: Arrays, shapes: dict[str, tuple], steps: int
) -> dict[str, np.ndarray]:
    """Per stage, ``(steps, columns)`` deviations: one column for the forward output, one
    per parameter (in ``shapes``' order) for the gradient and the update."""
    names = list(shapes)
    grads = [unflat(g, shapes) for g in ref.traj.grad[:steps]]
    after = [unflat(w, shapes) for w in ref.traj.w[:steps]]
    before = [w0, *after[:-1]]
    out_scale = max(float(np.abs(o).max()) for o in ref.outputs[:steps])
    g_scale = {n: max(float(np.abs(g[n]).max()) for g in grads) for n in names}
    w_scale = {n: max(float(np.abs(w[n]).max()) for w in [w0, *after]) for n in names}
    fwd = np.zeros((steps, 1))
    grad = np.zeros((steps, len(names)))
    upd = np.zeros((steps, len(names)))
    for k in range(steps):
        fwd[k, 0] = _dev(runner.forward(before[k], k), ref.outputs[k], out_scale)
        g = runner.gradient(before[k], k)
        grad[k] = [_dev(g[n], grads[k][n], g_scale[n]) for n in names]
    runner.start(w0)
    for k in range(steps):
        w = runner.replay(before[k], grads[k])
        upd[k] = [_dev(w[n], after[k][n], w_scale[n]) for n in names]
    return dict(zip(STAGES, (fwd, grad, upd), strict=True))


def first_divergence(
    cand: dict[str, np.ndarray], own: dict[str, np.ndarray], names: list[str], dtype: str
) -> Divergence | None:
    """The first stage where ``cand``'s deviation exceeds ``BUDGET`` times ``own``'s (the
    reference code's, same dtype) largest, per column; None where none does."""
    eps = float(np.finfo(np.dtype(dtype)).eps)
    ratios = {s: cand[s] / np.maximum(own[s].max(axis=0), eps) for s in STAGES}
    steps = len(cand[STAGES[0]])
    for k in range(steps):
        for stage in STAGES:
            row = ratios[stage][k]
            if not (row > BUDGET).any():
                continue
            by = ratios["gradient"][k] if stage == STAGES[0] else row
            i = int(np.argmax(np.where(np.isnan(by), np.inf, by)))
            return Divergence(k + 1, stage, names[i], float(row.max()))
    return None
