"""The Runner contract: one implementation's training step, driven the same way whatever
its framework (``torch_side``, ``jax_side``).

Weights and gradients cross it as NumPy arrays keyed by the *reference's* parameter names
(the runner applies its ``Link``s, transposes included). Batch ``k`` is the k-th of the
batches ``load`` was given, cycled.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

Arrays = dict[str, np.ndarray]


class PortError(Exception):
    """An implementation that cannot be judged (its outputs' shape, a loss that is no
    scalar): one line. A candidate's becomes its rows' error, the reference's a
    ``UsageError``."""


class Runner(Protocol):
    first_s: float | None  # the first training step after ``load``: compilation included

    def load(self, batches: list[tuple[np.ndarray, np.ndarray]], dtype: str) -> None:
        """Copies of the model and of the batches in ``dtype`` (labels keep an integer
        dtype); nothing of the user's is changed."""

    def start(self, weights: Arrays) -> None:
        """The copy's weights set to ``weights``, and a fresh optimizer state."""

    def step(self, k: int) -> tuple[float, Arrays, np.ndarray]:
        """One training step on batch ``k``: the loss and gradients at the weights before
        the update, and the model's outputs."""

    def weights(self) -> Arrays:
        """The weights now."""

    def forward(self, weights: Arrays, k: int) -> np.ndarray:
        """The outputs on batch ``k`` at ``weights`` (the optimizer untouched)."""

    def gradient(self, weights: Arrays, k: int) -> Arrays:
        """The gradients on batch ``k`` at ``weights``."""

    def replay(self, weights: Arrays, grads: Arrays) -> Arrays:
        """One optimizer update from ``weights`` with ``grads`` given (its state carried
        from the previous replay or ``start``): the weights after it."""

    def session(self, steps: int):
        """What ``gdbench.timing.timer.measure`` times: ``warmup``, ``run_steps``,
        ``sync`` and ``compile_count``, training from the weights ``start`` set."""


def flat(arrays: Arrays, names: list[str]) -> np.ndarray:
    """The arrays in ``names``' order as one float64 vector."""
    return np.concatenate([np.asarray(arrays[n], dtype=np.float64).ravel() for n in names])


def unflat(vector: np.ndarray, shapes: dict[str, tuple]) -> Arrays:
    out, start = {}, 0
    for name, shape in shapes.items():
        size = int(np.prod(shape, dtype=np.int64))
        out[name] = vector[start : start + size].reshape(shape)
        start += size
    return out
