"""RMSprop (Hinton), plain or centred, as torch.optim.RMSprop computes it."""

from __future__ import annotations

import math

from gdbench.compat.frameworks import import_optax, import_torch
from gdbench.optimizer import (
    Hyper,
    NotMapped,
    Optimizer,
    call_text,
    optax_used,
    pick,
    torch_used,
    weight_decayed,
    zeros_like,
)
from gdbench.optimizers.sgd import WEIGHT_DECAY, decay_text, optax_with_decay
from gdbench.registry import register_optimizer

EPS_IN_SQRT = Hyper("eps_in_sqrt", False, doc="eps inside the square root (optax's default)")
TORCH_NAMES = {
    "alpha": "alpha",
    "eps": "eps",
    "momentum": "momentum",
    "centered": "centered",
    "weight_decay": "weight_decay",
}
OPTAX_NAMES = {"alpha": "decay", "eps": "eps", "centered": "centered", "eps_in_sqrt": "eps_in_sqrt"}


class RMSprop(Optimizer):
    """g ← ∇L(w) + weight_decay·w;  v ← α·v + (1 − α)·g²;
    centred: a ← α·a + (1 − α)·g and s = √(v − a²), else s = √v;  d = s + eps
    (``eps_in_sqrt``: d = √(v [− a²] + eps));
    momentum μ > 0: b ← μ·b + g/d, w ← w − lr·b;  else w ← w − lr·g/d.

    torch.optim.RMSprop(alpha, eps, weight_decay, momentum, centered); optax.rmsprop(decay=α,
    eps, eps_in_sqrt=False, centered, momentum) after add_decayed_weights. optax applies
    momentum after the learning rate (b ← μ·b + lr·g/d), equal to torch's for a constant lr.
    """

    name = "rmsprop"
    description = "RMSprop, plain or centered=true (torch.optim.RMSprop)"
    hypers = (
        Hyper("alpha", 0.99, 0.0, 1.0, high_open=True, doc="decay of the mean square v"),
        Hyper("eps", 1e-8, doc="added to the root (outside it unless eps_in_sqrt)"),
        Hyper("momentum", 0.0, 0.0, 1.0, high_open=True, doc="momentum factor μ"),
        Hyper("centered", False, doc="divide by the running standard deviation"),
        EPS_IN_SQRT,
        WEIGHT_DECAY,
    )
    adaptive = True
    order = 5

    def init(self, params, hp):
        return {"v": zeros_like(params), "a": zeros_like(params), "buf": zeros_like(params)}

    def update(self, grad, state, params, lr, hp):
        alpha, eps, mu = hp["alpha"], hp["eps"], hp["momentum"]
        g = weight_decayed(grad, params, hp)
        v = alpha * state["v"] + (1 - alpha) * g * g
        a = alpha * state["a"] + (1 - alpha) * g if hp["centered"] else state["a"]
        var = v - a * a if hp["centered"] else v
        d = (var + eps) ** 0.5 if hp["eps_in_sqrt"] else var**0.5 + eps
        buf = mu * state["buf"] + g / d if mu else state["buf"]
        step = buf if mu else g / d
        return params - lr * step, {"v": v, "a": a, "buf": buf}

    def step_bound(self, hp):
        # |g|/√v ≤ 1/√(1 − α) since v ≥ (1 − α)·g²; the centred variance has no such bound.
        if hp["centered"]:
            return math.inf
        return 1 / math.sqrt(1 - hp["alpha"]) / (1 - hp["momentum"])

    def torch_optimizer(self, params, lr, hp, given):
        if hp["eps_in_sqrt"] and (given is None or "eps_in_sqrt" in given):
            raise NotMapped("torch.optim.RMSprop adds eps outside the square root only")
        opt = import_torch().optim.RMSprop(
            params, lr=lr, foreach=False, **pick(hp, given, TORCH_NAMES)
        )
        return opt, {**torch_used(opt, TORCH_NAMES), "eps_in_sqrt": False}

    def optax_transform(self, lr, hp, given):
        optax = import_optax()
        kwargs = {"learning_rate": lr, **pick(hp, given, OPTAX_NAMES)}
        if given is None or "momentum" in given:
            kwargs["momentum"] = hp["momentum"] or None
        tx, wd = optax_with_decay(optax.rmsprop(**kwargs), hp, given)
        used = optax_used(optax.rmsprop, kwargs, {**OPTAX_NAMES, "momentum": "momentum"})
        used["momentum"] = used["momentum"] or 0.0
        return tx, decay_text(call_text("optax.rmsprop", kwargs), wd), {**used, "weight_decay": wd}


register_optimizer(RMSprop())
