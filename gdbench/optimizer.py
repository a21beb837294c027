"""The Optimizer contract: one update rule, specified once, run four ways.

An optimizer is optax's shape: ``init(params, hp) → state`` and
``update(grad, state, params, lr, hp) → (new_params, new_state)``, state passed in and out,
never hidden. Both are written with operators only (``+ - * / **``), so that the same
function runs on NumPy arrays, torch tensors and JAX arrays: it is gdbench's specification,
used by the ``numpy`` and ``torch-autograd`` backends and, in float64, by the reference.
The framework-native backends do not use it: ``torch_optimizer`` builds the library's own
``torch.optim`` class and ``optax_transform`` optax's own transformation, each with the
hyperparameters mapped to the library's names. That the native libraries agree with the
specification's float64 iteration is what gdbench checks.

``hp`` is a dict of every hyperparameter (gdbench's names, see ``hypers``). ``given`` is
``None`` when a native implementation should follow gdbench's specification, or the set
of names the user gave (``--native-defaults``): then only those are passed and every other
one keeps the library's own default. Each builder returns the object and ``used``: the
hyperparameters the library actually runs with, in gdbench's names, so that a row records
them and a disagreement can name the ones that differ from the specification.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod

from gdbench.hyper import Hyper


class NotMapped(Exception):
    """The library has no counterpart for these hyperparameters; the message says why."""


class Optimizer(ABC):
    """Base class of every optimizer. A subclass sets ``name``, ``hypers`` and the
    equations in its docstring, and overrides ``init`` and ``update``; the native mappings
    are optional (a backend without one skips the cell with the reason)."""

    name: str = ""
    description: str = ""
    hypers: tuple[Hyper, ...] = ()
    # Adaptive methods divide by a running gradient magnitude: once a gradient is at the
    # dtype's rounding level their update is noise of order lr (see agreement.py).
    adaptive: bool = False
    order: int = 100  # listing order

    def defaults(self) -> dict:
        return {h.name: h.default for h in self.hypers}

    def resolve(self, given: dict) -> dict:
        """Every hyperparameter: the given ones (already parsed), else gdbench's defaults."""
        hp = self.defaults()
        hp.update({k: v for k, v in given.items() if k in hp})
        self.check(hp)
        return hp

    def check(self, hp: dict) -> None:
        """Raises ValueError when the combination is invalid (each value already is valid)."""
        return None

    @abstractmethod
    def init(self, params, hp: dict) -> dict:
        """The state before the first step: a dict of arrays shaped like ``params``
        (and 0-d arrays), on the parameters' device and dtype."""

    @abstractmethod
    def update(self, grad, state: dict, params, lr: float, hp: dict) -> tuple:
        """One step: ``(new_params, new_state)`` from the gradient at ``params``."""

    def is_plain(self, hp: dict) -> bool:
        """True when these hyperparameters make this exactly plain gradient descent
        (w ← w − lr·∇L), whose reference may be a problem's closed form."""
        return False

    def step_bound(self, hp: dict) -> float | None:
        """For an adaptive method, the largest change of one coordinate in one step, in
        units of lr, whatever the gradient; None for the others."""
        return None

    def torch_optimizer(self, params, lr: float, hp: dict, given: set | None):
        """``(torch.optim instance, used)``; raises NotMapped where torch has no match."""
        raise NotMapped(f"{self.name} has no torch.optim mapping")

    def optax_transform(self, lr: float, hp: dict, given: set | None):
        """``(optax transformation, description, used)``; raises NotMapped likewise."""
        raise NotMapped(f"{self.name} has no optax mapping")


def zeros_like(params):
    """Zeros of the parameters' shape, dtype and device, with operators only."""
    return params * 0


def step_counter(params) -> int:
    """The step count starts at 0. It is a Python number, as in torch.optim and as optax
    computes with it, so that β^t and the bias corrections are exact to float64 and the
    run's dtype enters only where they scale an array (a float32 β^t would put a 1e-5
    relative error into 1 − β2^t at t = 1)."""
    return 0


def weight_decayed(grad, params, hp: dict):
    """L2 regularisation folded into the gradient (torch.optim's ``weight_decay``)."""
    wd = hp.get("weight_decay", 0.0)
    return grad + wd * params if wd else grad


def pick(hp: dict, given: set | None, names: dict[str, str]) -> dict:
    """Library keyword arguments from gdbench's hyperparameters: all of ``names`` (the
    specification) or only those the user gave (native defaults)."""
    return {lib: hp[ours] for ours, lib in names.items() if given is None or ours in given}


def library_defaults(fn) -> dict:
    """The keyword defaults of a library function, as its signature states them."""
    return {
        k: p.default
        for k, p in inspect.signature(fn).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


def torch_used(opt, names: dict[str, str]) -> dict:
    """The hyperparameters a torch.optim instance really holds, in gdbench's names."""
    group = opt.param_groups[0]
    used = {}
    for ours, lib in names.items():
        if lib.startswith("betas"):
            used[ours] = float(group["betas"][int(lib[-1])])
        else:
            value = group[lib]
            used[ours] = value if isinstance(value, bool) else float(value)
    for flag in ("foreach", "fused"):
        used[flag] = bool(group.get(flag))
    return used


def optax_used(fn, kwargs: dict, names: dict[str, str]) -> dict:
    """The hyperparameters an optax call runs with (given ones, else its signature's
    defaults), in gdbench's names."""
    merged = {**library_defaults(fn), **kwargs}
    used = {}
    for ours, lib in names.items():
        value = merged.get(lib)
        used[ours] = value if isinstance(value, bool) or value is None else float(value)
    return used


def call_text(name: str, kwargs: dict) -> str:
    return f"{name}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"
