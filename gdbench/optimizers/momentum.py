"""Heavy-ball momentum, as torch.optim.SGD(momentum=μ) computes it."""

from __future__ import annotations

from gdbench.compat.frameworks import import_optax, import_torch
from gdbench.optimizer import (
    Hyper,
    NotMapped,
    Optimizer,
    call_text,
    pick,
    torch_used,
    weight_decayed,
    zeros_like,
)
from gdbench.optimizers.sgd import WEIGHT_DECAY, decay_text, optax_with_decay
from gdbench.registry import register_optimizer

MOMENTUM = Hyper("momentum", 0.9, 0.0, 1.0, high_open=True, doc="momentum factor μ")


class Momentum(Optimizer):
    """g ← ∇L(w) + weight_decay·w;  b ← μ·b + (1 − τ)·g;  w ← w − lr·b.

    b starts at 0 and τ (``dampening``) is not applied on the first step, where b ← g
    (torch's rule). torch.optim.SGD(momentum=μ, dampening=τ); optax.sgd(momentum=μ),
    which has no dampening (a cell with τ ≠ 0 is skipped on jax).
    """

    name = "momentum"
    description = "heavy-ball momentum (torch.optim.SGD momentum=0.9)"
    hypers: tuple[Hyper, ...] = (
        MOMENTUM,
        Hyper("dampening", 0.0, 0.0, 1.0, doc="dampening τ of the gradient in b (not step 1)"),
        WEIGHT_DECAY,
    )
    order = 1
    nesterov = False

    def init(self, params, hp):
        # ``damp`` is 0 for the first step, τ afterwards: torch does not dampen step 1.
        return {"buf": zeros_like(params), "damp": zeros_like(params)}

    def update(self, grad, state, params, lr, hp):
        g = weight_decayed(grad, params, hp)
        mu = hp["momentum"]
        buf = mu * state["buf"] + (1 - state["damp"]) * g
        step = g + mu * buf if self.nesterov else buf
        damp = zeros_like(params) + hp.get("dampening", 0.0)
        return params - lr * step, {"buf": buf, "damp": damp}

    def torch_optimizer(self, params, lr, hp, given):
        names = {k: k for k in self.defaults()}
        kwargs = pick(hp, given, names)
        opt = import_torch().optim.SGD(
            params, lr=lr, nesterov=self.nesterov, foreach=False, **kwargs
        )
        return opt, torch_used(opt, names)

    def optax_transform(self, lr, hp, given):
        optax = import_optax()
        if hp.get("dampening", 0.0) and (given is None or "dampening" in given):
            raise NotMapped("optax.sgd has no dampening (torch.optim.SGD's dampening)")
        mu = hp["momentum"] if given is None or "momentum" in given else None
        kwargs = {"learning_rate": lr, "momentum": mu, "nesterov": self.nesterov}
        tx, wd = optax_with_decay(optax.sgd(**kwargs), hp, given)
        used = {"momentum": float(mu or 0.0), "weight_decay": wd}
        if not self.nesterov:
            used["dampening"] = 0.0
        return tx, decay_text(call_text("optax.sgd", kwargs), wd), used


register_optimizer(Momentum())
