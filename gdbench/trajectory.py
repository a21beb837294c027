"""The Trajectory contract: what one gradient-descent run records, step by step."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# A run has diverged once its loss or parameters are not finite, or once the loss has grown
# this many times past its first value. Gradient descent on a convex quadratic with a stable
# learning rate never increases the loss, so a millionfold growth can only mean divergence.
LOSS_GROWTH_BOUND = 1e6


@dataclass(frozen=True)
class Trajectory:
    """What a run records, as float64 NumPy arrays on the host.

    Step k (1-based, like the notebook's "Epoch k") is row k-1:
    ``loss[k-1]`` and ``grad[k-1]`` are taken at the parameters *before* the k-th update,
    ``w[k-1]`` holds the parameters *after* it. ``grad`` and ``w`` have shape
    ``(steps, *param_shape)``; ``param_shape`` is ``()`` for a scalar parameter.
    A diverged run is cut after the step where divergence was seen (``diverged_step``).
    """

    loss: np.ndarray
    grad: np.ndarray
    w: np.ndarray
    diverged_step: int | None = None

    @property
    def steps(self) -> int:
        return len(self.loss)

    @classmethod
    def from_steps(cls, losses, grads, ws) -> Trajectory:
        """Builds a trajectory from per-step values and cuts it where it diverges."""
        loss = np.asarray(losses, dtype=np.float64)
        grad = np.asarray(grads, dtype=np.float64)
        w = np.asarray(ws, dtype=np.float64)
        k = first_divergent_step(loss, w)
        if k is None:
            return cls(loss, grad, w)
        return cls(loss[:k], grad[:k], w[:k], diverged_step=k)

    def in_range_of(self, dtype: str) -> Trajectory:
        """This (float64) trajectory as a run in ``dtype`` could follow it: cut, and marked
        diverged, at the first step whose loss, gradient or parameters exceed the dtype's
        largest finite value (a float32 run overflows to ±inf there)."""
        big = float(np.finfo(np.dtype(dtype)).max)
        n = self.steps
        with np.errstate(all="ignore"):
            over = (
                (np.abs(self.loss) > big)
                | (np.abs(self.grad.reshape(n, -1)) > big).any(axis=1)
                | (np.abs(self.w.reshape(n, -1)) > big).any(axis=1)
            )
        hits = np.nonzero(over)[0]
        if not len(hits) or (self.diverged_step and self.diverged_step <= hits[0] + 1):
            return self
        k = int(hits[0]) + 1
        return Trajectory(self.loss[:k], self.grad[:k], self.w[:k], diverged_step=k)


def is_divergent(loss: float, first_loss: float, w) -> bool:
    """True when one step's values show divergence (see LOSS_GROWTH_BOUND)."""
    with np.errstate(all="ignore"):
        if not (np.isfinite(loss) and np.all(np.isfinite(w))):
            return True
        return bool(loss > LOSS_GROWTH_BOUND * max(first_loss, np.finfo(np.float64).tiny))


def first_divergent_step(loss: np.ndarray, w: np.ndarray) -> int | None:
    """The 1-based step at which the run diverged, or None."""
    if len(loss) == 0:
        return None
    for k in range(len(loss)):
        if is_divergent(loss[k], loss[0], w[k]):
            return k + 1
    return None
