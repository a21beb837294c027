"""AdamW (Loshchilov & Hutter): Adam with decoupled weight decay."""

from __future__ import annotations

from gdbench.optimizer import Hyper
from gdbench.optimizers.adam import BETAS, EPS, Adam
from gdbench.registry import register_optimizer


class AdamW(Adam):
    """w ← w·(1 − lr·weight_decay), then Adam's step with the plain gradient (no L2 in g).

    torch.optim.AdamW(betas, eps, weight_decay) (default 1e-2); optax.adamw(b1, b2, eps,
    weight_decay), whose own default weight_decay is 1e-4.
    """

    name = "adamw"
    description = "Adam with decoupled weight decay (torch.optim.AdamW, weight_decay 1e-2)"
    hypers = (*BETAS, EPS, Hyper("weight_decay", 1e-2, doc="decoupled decay: w ← w·(1 − lr·wd)"))
    order = 4
    decoupled = True


register_optimizer(AdamW())
