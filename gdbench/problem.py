"""The Problem contract: one gradient-descent problem, independent of any backend."""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from gdbench.hyper import Hyper
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
    n_samples: int = 0  # 0 (or None, read as 0): no data, as the quadratic
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.n_samples is None:  # a user's "no data": the memory guard counts 0 rows
            object.__setattr__(self, "n_samples", 0)

    @property
    def features(self) -> int:
        """D: the data's columns where there is an X, else the number of parameters."""
        X = self.data.get("X")
        return int(X.shape[1]) if X is not None and X.ndim == 2 else int(self.w0.size)


class Problem(ABC):
    """Base class of every problem. A subclass sets the class attributes and overrides
    ``make`` and ``loss``, and ``grad`` where it has a hand-derived gradient; a problem
    whose plain gradient descent has a closed form overrides ``closed_form`` (and
    ``hessian_max_eig`` where it knows it).

    ``loss(w, **data)`` must run on NumPy arrays, torch tensors and JAX arrays alike: with
    operators and array methods (``@``, ``**``, ``.mean()``, ``.sum()``), and for anything
    more (``exp``, ``log1p``, ``tanh``) with the functions of ``gdbench.compat.arrays.namespace(w)``
    (the array API namespace, through array-api-compat). The autodiff backends
    differentiate exactly this function.

    ``options`` are the problem's settings (``--problem-opt``); ``self.opt`` holds their
    values in a configured copy (``configured``). A problem that ``takes_data`` runs on the
    user's ``--data`` too (``from_data``).
    ``grad(w, **data)`` is the hand-derived gradient, NumPy only; the ``numpy`` backend uses
    it, and ``gdbench gradcheck`` checks it against finite differences and autodiff. It is
    optional: a problem without one (``has_hand_gradient`` False) runs on the autodiff
    backends, and its cells of a backend that runs the hand gradient are skipped, with why.
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
    options: tuple[Hyper, ...] = ()
    takes_data: bool = False  # runs on --data (X, y)
    binary_target: bool = False  # its y must be 0/1
    # Whether a run that names no --problem includes it (``--problem all`` always does):
    # False for a problem whose default instance is too costly for the quick first look.
    default_run: bool = True

    @property
    def opt(self) -> dict:
        """The settings of this (configured) problem: the given ones, else the defaults."""
        return getattr(self, "_opt", None) or {h.name: h.default for h in self.options}

    def configured(self, given: dict) -> Problem:
        """A copy of this problem with ``given`` settings (already parsed) over the defaults."""
        if not given:
            return self
        clone = copy.copy(self)
        settings = {**self.opt, **{k: v for k, v in given.items() if k in self.opt}}
        object.__setattr__(clone, "_opt", settings)
        return clone

    def layout(self, inst: Instance) -> dict[str, slice] | None:
        """The named parameter groups of ``inst``'s flat parameter vector (``W1``, ``b1``,
        …, each a slice of it), so that a disagreement can say which group left the
        tolerance first; None (the default) for a vector with no such names."""
        return None

    def fixed_features(self) -> int | None:
        """D where this problem's settings fix it (the classifier's first layer), so that a
        sweep's grid of --features does not apply to it; None where D is free."""
        return None

    def param_count(self, features: int) -> int:
        """How many parameters an instance with ``features`` columns has (memory guard)."""
        return features

    def init_for(self, X: np.ndarray, seed: int) -> np.ndarray:
        """The starting parameters for the user's data: zeros, one per feature."""
        return np.zeros(X.shape[1])

    def from_data(self, X: np.ndarray, y: np.ndarray, seed: int = 0) -> Instance:
        """The instance of the user's data (``--data``)."""
        return Instance(
            self.name, w0=self.init_for(X, seed), data={"X": X, "y": y}, n_samples=len(y), seed=seed
        )

    def smoothness(self, inst: Instance) -> float | None:
        """L, the Lipschitz constant of the gradient where the problem knows it (``--lr
        auto`` takes 1/L); by default the Hessian's largest eigenvalue where that is fixed."""
        return self.hessian_max_eig(inst)

    def diagnose(self, inst: Instance, hand: np.ndarray, truth: np.ndarray) -> str | None:
        """A problem-specific explanation of a wrong hand-derived gradient, or None."""
        return None

    @abstractmethod
    def make(
        self, n_samples: int | None = None, features: int | None = None, seed: int = 0
    ) -> Instance:
        """The instance for these sizes and seed (ignored where ``sized`` is False)."""

    @abstractmethod
    def loss(self, w, **data):
        """The scalar loss at ``w``; array-library agnostic (see the class docstring)."""

    def grad(self, w: np.ndarray, **data) -> np.ndarray:
        """The hand-derived gradient of ``loss`` at ``w``, in NumPy (optional: see
        ``has_hand_gradient``)."""
        raise NotImplementedError(f"{self.name} defines no hand-derived gradient (grad)")

    @property
    def has_hand_gradient(self) -> bool:
        """Whether this problem's class (or a base other than ``Problem``) defines ``grad``."""
        return type(self).grad is not Problem.grad

    def closed_form(self, inst: Instance, lr: float, steps: int) -> tuple[Trajectory, str] | None:
        """Plain gradient descent's float64 trajectory in closed form, and where it came
        from, or None (the default): then the reference is the float64 iteration with an
        *autodiff* gradient of ``loss`` (``gdbench.numerics.reference``), so that a wrong
        hand-derived ``grad`` cannot hide in it."""
        return None

    def batch_size(self, inst: Instance) -> int | None:
        """B, the rows each step sees where the problem trains on mini-batches (their
        schedule: ``step_batches``); None (the default): every step sees all the data."""
        return None

    def bytes_per_step(self, inst: Instance, itemsize: int) -> int:
        """The roofline's cost model: the least memory traffic of one update step, every
        data array read once; the parameters are negligible beside the data."""
        return itemsize * sum(int(v.size) for v in inst.data.values())

    def state_bytes_per_step(self, inst: Instance, itemsize: int, state_arrays: int) -> int:
        """The optimizer's share of the least traffic: each of its ``state_arrays``
        parameter-sized arrays (Adam's m and v: 2) read and written once a step. 0 by
        default, where the parameters are negligible beside the data."""
        return 0

    def flops_per_step(self, inst: Instance) -> int | None:
        """Floating-point operations of one update step, where the problem states them."""
        return None

    def hessian_max_eig(self, inst: Instance) -> float | None:
        """Largest eigenvalue of the loss's Hessian, where known (stability bound 2/λ)."""
        return None


def step_batches(problem: Problem, inst: Instance) -> list[dict[str, np.ndarray]]:
    """Each step's data, in the order steps take them: step k (from 0) uses entry
    k mod len. The whole data where the problem has no batch size (one entry, the
    instance's own arrays), else the seeded schedule every backend and the reference follow
    alike: the rows permuted once by ``default_rng(seed)`` and cut into ⌊N/B⌋ batches of
    B rows (the N mod B rows left over are never used), each a contiguous copy, cycled
    in the same order every epoch."""
    b = problem.batch_size(inst)
    n = inst.n_samples or len(next(iter(inst.data.values()), ()))
    if b is None or b >= n:
        return [inst.data]
    return [
        {k: np.ascontiguousarray(v[rows]) for k, v in inst.data.items()}
        for rows in batch_rows(n, b, inst.seed or 0)
    ]


def batch_rows(n: int, b: int, seed: int) -> list[np.ndarray]:
    """The rows of each batch of ``step_batches``' schedule (b < n): a permutation of n
    by ``default_rng(seed)``, cut into ⌊n/b⌋ batches of b rows."""
    order = np.random.default_rng(seed).permutation(n)
    return [order[k * b : (k + 1) * b] for k in range(n // b)]
