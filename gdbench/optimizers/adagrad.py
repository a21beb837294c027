"""Adagrad (Duchi et al.), as torch.optim.Adagrad computes it."""

from __future__ import annotations

from gdbench.compat.frameworks import import_optax, import_torch
from gdbench.optimizer import (
    Hyper,
    NotMapped,
    Optimizer,
    call_text,
    library_defaults,
    pick,
    step_counter,
    torch_used,
    weight_decayed,
    zeros_like,
)
from gdbench.optimizers.rmsprop import EPS_IN_SQRT
from gdbench.optimizers.sgd import WEIGHT_DECAY, decay_text, optax_with_decay
from gdbench.registry import register_optimizer

TORCH_NAMES = {
    "lr_decay": "lr_decay",
    "eps": "eps",
    "initial_accumulator_value": "initial_accumulator_value",
    "weight_decay": "weight_decay",
}


class Adagrad(Optimizer):
    """g ← ∇L(w) + weight_decay·w;  η ← lr / (1 + t·lr_decay);  t ← t + 1;
    s ← s + g² (s starts at ``initial_accumulator_value``);  w ← w − η·g / (√s + eps)
    (``eps_in_sqrt``: g / √(s + eps)).

    torch.optim.Adagrad(lr_decay, weight_decay, initial_accumulator_value, eps).
    optax.adagrad can only put eps inside the root (its defaults: accumulator 0.1, eps 1e-7):
    it runs the specification when eps = 0 or ``eps_in_sqrt`` is set, and is skipped with
    that reason otherwise. (Mapped to eps = 0 instead, the default 1e-10 outside the root
    moves a float64 run by 3e-13 at step 1 of the quadratic: gdbench calls that a
    disagreement, as it should.) lr_decay becomes an optax schedule.
    """

    name = "adagrad"
    description = "Adagrad (torch.optim.Adagrad: accumulator 0, eps 1e-10 outside the root)"
    hypers = (
        Hyper("lr_decay", 0.0, doc="learning-rate decay η = lr/(1 + t·lr_decay)"),
        Hyper("eps", 1e-10, doc="added to √s (inside it with eps_in_sqrt)"),
        Hyper("initial_accumulator_value", 0.0, doc="starting value of the sum s"),
        EPS_IN_SQRT,
        WEIGHT_DECAY,
    )
    adaptive = True
    order = 6

    def init(self, params, hp):
        s0 = zeros_like(params) + hp["initial_accumulator_value"]
        return {"t": step_counter(params), "s": s0}

    def update(self, grad, state, params, lr, hp):
        g = weight_decayed(grad, params, hp)
        t, eps = state["t"], hp["eps"]
        eta = lr / (1 + t * hp["lr_decay"])
        s = state["s"] + g * g
        d = (s + eps) ** 0.5 if hp["eps_in_sqrt"] else s**0.5 + eps
        return params - eta * g / d, {"t": t + 1, "s": s}

    def step_bound(self, hp):
        return 1.0  # |g|/√(s₀ + Σg²) ≤ 1, and η ≤ lr

    def torch_optimizer(self, params, lr, hp, given):
        if hp["eps_in_sqrt"] and (given is None or "eps_in_sqrt" in given):
            raise NotMapped("torch.optim.Adagrad adds eps outside the square root only")
        opt = import_torch().optim.Adagrad(
            params, lr=lr, foreach=False, **pick(hp, given, TORCH_NAMES)
        )
        return opt, {**torch_used(opt, TORCH_NAMES), "eps_in_sqrt": False}

    def optax_transform(self, lr, hp, given):
        optax = import_optax()

        def chosen(k):
            return given is None or k in given

        kwargs: dict = {"learning_rate": lr}
        decay = hp["lr_decay"] if chosen("lr_decay") else 0.0
        if decay:
            kwargs["learning_rate"] = lambda count: lr / (1 + count * decay)
        if chosen("initial_accumulator_value"):
            kwargs["initial_accumulator_value"] = hp["initial_accumulator_value"]
        if chosen("eps"):
            # optax can only add eps inside the root (see above); a user's own eps under
            # native defaults goes in as optax reads it.
            if given is None and hp["eps"] and not hp["eps_in_sqrt"]:
                raise NotMapped(
                    f"optax.adagrad adds eps inside the square root only; the spec's "
                    f"eps={hp['eps']:g} outside it has no optax counterpart "
                    "(--opt eps=0 or eps_in_sqrt=true runs it)"
                )
            kwargs["eps"] = hp["eps"]
        tx, wd = optax_with_decay(optax.adagrad(**kwargs), hp, given)
        defaults = library_defaults(optax.adagrad)
        used = {
            "lr_decay": decay,
            "eps": float(kwargs.get("eps", defaults["eps"])),
            "initial_accumulator_value": float(
                kwargs.get("initial_accumulator_value", defaults["initial_accumulator_value"])
            ),
            "eps_in_sqrt": True,
            "weight_decay": wd,
        }
        shown = {k: ("schedule" if callable(v) else v) for k, v in kwargs.items()}
        return tx, decay_text(call_text("optax.adagrad", shown), wd), used


register_optimizer(Adagrad())
