"""Adam (Kingma & Ba), with torch.optim.Adam's coupled weight decay."""

from __future__ import annotations

import math

from gdbench.compat.frameworks import import_optax, import_torch
from gdbench.optimizer import (
    Hyper,
    Optimizer,
    call_text,
    library_defaults,
    optax_used,
    step_counter,
    torch_used,
    weight_decayed,
    zeros_like,
)
from gdbench.optimizers.sgd import WEIGHT_DECAY, decay_text, optax_with_decay
from gdbench.registry import register_optimizer

BETAS = (
    Hyper("beta1", 0.9, 0.0, 1.0, high_open=True, doc="decay of the first moment m"),
    Hyper("beta2", 0.999, 0.0, 1.0, high_open=True, doc="decay of the second moment v"),
)
EPS = Hyper("eps", 1e-8, doc="added to √v̂, outside the square root")
TORCH_NAMES = {"beta1": "betas0", "beta2": "betas1", "eps": "eps", "weight_decay": "weight_decay"}
OPTAX_NAMES = {"beta1": "b1", "beta2": "b2", "eps": "eps"}


class Adam(Optimizer):
    """t ← t + 1;  g ← ∇L(w) + weight_decay·w (coupled L2);
    m ← β1·m + (1 − β1)·g;  v ← β2·v + (1 − β2)·g²;
    m̂ ← m / (1 − β1^t);  v̂ ← v / (1 − β2^t);  w ← w − lr·m̂ / (√v̂ + eps).

    torch.optim.Adam(betas=(β1, β2), eps, weight_decay); optax.adam(b1, b2, eps,
    eps_root=0) after add_decayed_weights.
    """

    name = "adam"
    description = "Adam, L2 weight decay coupled into the gradient (torch.optim.Adam)"
    hypers = (*BETAS, EPS, WEIGHT_DECAY)
    adaptive = True
    order = 3
    decoupled = False

    def init(self, params, hp):
        return {"t": step_counter(params), "m": zeros_like(params), "v": zeros_like(params)}

    def update(self, grad, state, params, lr, hp):
        b1, b2, eps, wd = hp["beta1"], hp["beta2"], hp["eps"], hp["weight_decay"]
        if self.decoupled:
            params = params * (1 - lr * wd)  # torch.optim.AdamW: decay w, not the gradient
            g = grad
        else:
            g = weight_decayed(grad, params, hp)
        t = state["t"] + 1
        m = b1 * state["m"] + (1 - b1) * g
        v = b2 * state["v"] + (1 - b2) * g * g
        m_hat = m / (1 - b1**t)
        v_hat = v / (1 - b2**t)
        return params - lr * m_hat / (v_hat**0.5 + eps), {"t": t, "m": m, "v": v}

    def step_bound(self, hp):
        # |m̂/√v̂| ≤ (1 − β1)/√((1 − β2)(1 − β1²/β2)) by Cauchy–Schwarz over the two sums.
        b1, b2 = hp["beta1"], hp["beta2"]
        if b1 * b1 >= b2:
            return math.inf
        return max(1.0, (1 - b1) / math.sqrt((1 - b2) * (1 - b1 * b1 / b2)))

    def torch_optimizer(self, params, lr, hp, given):
        torch = import_torch()
        cls = torch.optim.AdamW if self.decoupled else torch.optim.Adam
        native = library_defaults(cls)
        kwargs: dict = {}
        if given is None or {"beta1", "beta2"} & given:
            b1 = hp["beta1"] if given is None or "beta1" in given else native["betas"][0]
            b2 = hp["beta2"] if given is None or "beta2" in given else native["betas"][1]
            kwargs["betas"] = (b1, b2)
        for k in ("eps", "weight_decay"):
            if given is None or k in given:
                kwargs[k] = hp[k]
        opt = cls(params, lr=lr, foreach=False, **kwargs)
        return opt, torch_used(opt, TORCH_NAMES)

    def optax_transform(self, lr, hp, given):
        optax = import_optax()
        kwargs = {"learning_rate": lr}
        kwargs.update({o: hp[k] for k, o in OPTAX_NAMES.items() if given is None or k in given})
        if self.decoupled:
            if given is None or "weight_decay" in given:
                kwargs["weight_decay"] = hp["weight_decay"]
            used = optax_used(optax.adamw, kwargs, {**OPTAX_NAMES, "weight_decay": "weight_decay"})
            return optax.adamw(**kwargs), call_text("optax.adamw", kwargs), used
        tx, wd = optax_with_decay(optax.adam(**kwargs), hp, given)
        used = {**optax_used(optax.adam, kwargs, OPTAX_NAMES), "weight_decay": wd}
        return tx, decay_text(call_text("optax.adam", kwargs), wd), used


register_optimizer(Adam())
