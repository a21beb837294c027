"""Plain gradient descent: the notebook's update, gdbench's default."""

from __future__ import annotations

from gdbench.backend import Setup
from gdbench.compat.frameworks import import_optax, import_torch
from gdbench.optimizer import Hyper, Optimizer, call_text, pick, torch_used, weight_decayed
from gdbench.registry import register_optimizer

WEIGHT_DECAY = Hyper("weight_decay", 0.0, doc="L2 penalty: weight_decay·w added to the gradient")


def optax_with_decay(tx, hp: dict, given: set | None):
    """optax's coupled L2 (torch.optim's weight_decay): add_decayed_weights before ``tx``."""
    optax = import_optax()
    wd = hp["weight_decay"] if given is None or "weight_decay" in given else 0.0
    if not wd:
        return tx, 0.0
    return optax.chain(optax.add_decayed_weights(wd), tx), wd


def decay_text(text: str, wd: float) -> str:
    """The optax call as written, the coupled decay included: what a port must write."""
    return f"optax.chain(optax.add_decayed_weights({wd!r}), {text})" if wd else text


class SGD(Optimizer):
    """g ← ∇L(w) + weight_decay·w;  w ← w − lr·g.

    torch.optim.SGD(lr, weight_decay); optax.sgd(lr) after add_decayed_weights.
    """

    name = "sgd"
    description = "plain gradient descent w ← w − lr·g (the default)"
    hypers = (WEIGHT_DECAY,)
    order = 0

    def init(self, params, hp):
        return {}

    def is_plain(self, hp):
        # Not a subclass: a plug-in derived from SGD may change the update.
        return type(self) is SGD and not hp.get("weight_decay")

    def update(self, grad, state, params, lr, hp):
        return params - lr * weight_decayed(grad, params, hp), state

    def torch_optimizer(self, params, lr, hp, given):
        names = {"weight_decay": "weight_decay"}
        opt = import_torch().optim.SGD(params, lr=lr, foreach=False, **pick(hp, given, names))
        return opt, torch_used(opt, names)

    def optax_transform(self, lr, hp, given):
        tx, wd = optax_with_decay(import_optax().sgd(lr), hp, given)
        text = decay_text(call_text("optax.sgd", {"learning_rate": lr}), wd)
        return tx, text, {"weight_decay": wd}


register_optimizer(SGD())


def plain_setup(lr: float, dtype: str, device: str, mode: str) -> Setup:
    """The Setup of plain gradient descent (the notebook's update), for tests and the
    notebook replay."""
    return Setup(lr, dtype, device, mode, SGD())
