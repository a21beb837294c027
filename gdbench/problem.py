"""The Problem contract: one gradient-descent problem, independent of any backend."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from gdbench.trajectory import Trajectory


@dataclass(frozen=True)
class Instance:
    """One concrete problem to run: its data and starting point, as float64 NumPy arrays.

    ``data`` maps names to arrays that the problem's ``loss`` takes as keyword arguments
    (``{"X": (N, D), "y": (N,)}`` for linear regression, ``{}`` for the quadratic).
    ``w0`` has the parameters' shape: ``()`` for a scalar, ``(D,)`` for a vector.
    """

    problem: str
    w0: np.ndarray
    data: dict[str, np.ndarray] = field(default_factory=dict)
    n_samples: int = 0
    seed: int | None = None

    @property
    def features(self) -> int:
        return int(self.w0.size)


class Problem(ABC):
    """Base class of every problem. A subclass sets the class attributes and overrides
    ``make``, ``loss`` and ``grad``; ``reference`` and ``hessian_max_eig`` have generic
    defaults that a problem with a closed form should override.

    ``loss(w, **data)`` must be written with operators and array methods only
    (``@``, ``**``, ``.mean()``, ``.sum()``) so that the same function runs on NumPy arrays,
    torch tensors and JAX arrays: the autodiff backends differentiate exactly this function.
    ``grad(w, **data)`` is the hand-derived gradient, NumPy only; the ``numpy`` backend uses
    it, and ``gdbench gradcheck`` checks it against finite differences and autodiff.
    """

    name: str = ""
    description: str = ""
    default_lr: float = 0.01
    default_steps: int = 100
    # Whether --n-samples/--features/--seed change the instance, and their defaults.
    sized: bool = False
    default_n_samples: int = 1000
    default_features: int = 1
    order: int = 100  # listing order; built-ins use the notebook's order

    @abstractmethod
    def make(
        self, n_samples: int | None = None, features: int | None = None, seed: int = 0
    ) -> Instance:
        """The instance for these sizes and seed (ignored where ``sized`` is False)."""

    @abstractmethod
    def loss(self, w, **data):
        """The scalar loss at ``w``; array-library agnostic (see the class docstring)."""

    @abstractmethod
    def grad(self, w: np.ndarray, **data) -> np.ndarray:
        """The hand-derived gradient of ``loss`` at ``w``, in NumPy."""

    def reference(self, inst: Instance, lr: float, steps: int) -> tuple[Trajectory, str]:
        """The float64 plain-gradient-descent trajectory that runs are compared with, and
        where it came from (other optimizers: ``gdbench.reference``).

        This default iterates gradient descent in float64 with an *autodiff* gradient of
        ``loss`` (torch, else JAX), so that a wrong hand-derived ``grad`` cannot hide in the
        reference; only when neither framework is installed does it fall back on ``grad``.
        """
        from gdbench.reference import float64_iteration

        return float64_iteration(self, inst, lr, steps)

    def bytes_per_step(self, inst: Instance, itemsize: int) -> int:
        """The roofline's cost model: the least memory traffic of one update step, every
        data array read once; the parameters are negligible beside the data."""
        return itemsize * sum(int(v.size) for v in inst.data.values())

    def flops_per_step(self, inst: Instance) -> int | None:
        """Floating-point operations of one update step, where the problem states them."""
        return None

    def hessian_max_eig(self, inst: Instance) -> float | None:
        """Largest eigenvalue of the loss's Hessian, where known (stability bound 2/λ)."""
        return None
