"""Nesterov momentum in torch's form (the gradient at w, not at a look-ahead point)."""

from __future__ import annotations

from gdbench.optimizers.momentum import MOMENTUM, Momentum
from gdbench.optimizers.sgd import WEIGHT_DECAY
from gdbench.registry import register_optimizer


class Nesterov(Momentum):
    """g ← ∇L(w) + weight_decay·w;  b ← μ·b + g;  w ← w − lr·(g + μ·b).

    This is torch.optim.SGD(momentum=μ, nesterov=True) and optax.sgd(momentum=μ,
    nesterov=True); the look-ahead form (gradient at w + μ·v) is a different
    parametrisation whose recorded w differs from step 1.
    """

    name = "nesterov"
    description = "Nesterov momentum (torch.optim.SGD nesterov=True, momentum=0.9)"
    hypers = (MOMENTUM, WEIGHT_DECAY)
    order = 2
    nesterov = True


register_optimizer(Nesterov())
