"""A gdbench plugin: your own optimizer. Lion (Chen et al., 2023), specified once, mapped to
optax.lion; torch.optim has no Lion, so torch-nn skips it and says why.

    python -m gdbench --plugin examples/lion.py --optimizer lion --no-timing
"""

import gdbench
from gdbench.optimizer import call_text, optax_used, zeros_like


class Lion(gdbench.Optimizer):
    """c ← β1·m + (1 − β1)·g;  w ← w − lr·(sign(c) + weight_decay·w);
    m ← β2·m + (1 − β2)·g.  (optax.lion; its own default weight_decay is 1e-3.)"""

    name = "lion"
    description = "Lion: the sign of an interpolated momentum (optax.lion)"
    hypers = (
        gdbench.Hyper("beta1", 0.9, 0.0, 1.0, high_open=True),
        gdbench.Hyper("beta2", 0.99, 0.0, 1.0, high_open=True),
        gdbench.Hyper("weight_decay", 0.0),
    )
    adaptive = True  # |sign(c)| = 1 whatever the gradient's size: noise-level gradients move w

    def init(self, params, hp):
        return {"m": zeros_like(params)}

    def update(self, grad, state, params, lr, hp):
        b1, b2, wd = hp["beta1"], hp["beta2"], hp["weight_decay"]
        c = b1 * state["m"] + (1 - b1) * grad
        one = zeros_like(params) + 1  # sign(c) with operators only, in the run's dtype
        sign = (c > 0) * one - (c < 0) * one
        new = params - lr * (sign + wd * params)
        return new, {"m": b2 * state["m"] + (1 - b2) * grad}

    def step_bound(self, hp):
        return 1.0

    def optax_transform(self, lr, hp, given):
        import optax

        names = {"beta1": "b1", "beta2": "b2", "weight_decay": "weight_decay"}
        kwargs = {"learning_rate": lr}
        kwargs.update({o: hp[k] for k, o in names.items() if given is None or k in given})
        used = optax_used(optax.lion, kwargs, names)  # given, else optax's defaults
        return optax.lion(**kwargs), call_text("optax.lion", kwargs), used


gdbench.register_optimizer(Lion())
