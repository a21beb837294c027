"""What a user hands ``gdbench.port``: their implementations, as written.

``TorchModel`` and ``JaxModel`` hold the user's objects and nothing else; a runner
(``torch_side``, ``jax_side``) trains a copy, never the user's own module or pytree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TorchModel:
    """A PyTorch implementation: ``model`` (an ``nn.Module`` mapping a batch of inputs to
    outputs), ``optimizer`` (a factory: parameters → ``torch.optim.Optimizer``, e.g.
    ``lambda p: torch.optim.AdamW(p, lr=1e-3)``) and ``loss`` (outputs, targets → a
    scalar tensor). As a candidate, ``optimizer`` and ``loss`` default to the reference's,
    and ``param_map`` maps the reference's parameter names to this module's (``name.T``:
    transposed). ``compile``: run ``torch.compile`` of a copy of the module."""

    model: Any
    optimizer: Callable | None = None
    loss: Callable | None = None
    param_map: Mapping[str, str] | None = None
    compile: bool = False
    kind: str = field(default="torch", init=False)


@dataclass(frozen=True)
class JaxModel:
    """A JAX implementation: ``params`` (a pytree of arrays), ``apply(params, x)`` (the
    outputs), ``optimizer`` (an optax ``GradientTransformation``) and ``loss(outputs, y)``
    (a scalar). ``param_map`` maps the reference's parameter names to pytree paths, keys
    joined by ``/`` (``"dense1/kernel.T"``: transposed, as flax's kernels are)."""

    params: Any
    apply: Callable
    optimizer: Any
    loss: Callable
    param_map: Mapping[str, str] | None = None
    kind: str = field(default="jax", init=False)


Implementation = TorchModel | JaxModel
