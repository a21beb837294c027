"""A gdbench plugin: seven backends, each NumPy with one subtle mistake in its optimizer, of
the size people porting training code lose days to. Each runs only the optimizer it gets
wrong (the others are skipped with the reason):

    python -m gdbench run --plugin examples/subtle_mistakes.py --problem linreg \\
        --backend numpy,adam-eps-1e-7,adam-beta2-0.998 --optimizer adam --no-timing

In float32 most of them stay inside the worst-case tolerance; the error budget (float32's
own error on the problem, docs/agreement.md) is what catches them. ``bench/error_budget.py``
measures every one on every built-in problem.
"""

from dataclasses import replace

import gdbench
from gdbench.backends.numpy_hand import NumpySession
from gdbench.optimizers.adam import Adam

OPTIMIZERS = gdbench.optimizers()


class LateBiasCorrection(Adam):
    """Adam whose bias corrections use t − 1 (t at the first step)."""

    def update(self, grad, state, params, lr, hp):
        b1, b2, eps = hp["beta1"], hp["beta2"], hp["eps"]
        g = grad + hp["weight_decay"] * params
        t = state["t"] + 1
        late = max(t - 1, 1)
        m = b1 * state["m"] + (1 - b1) * g
        v = b2 * state["v"] + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1**late), v / (1 - b2**late)
        return params - lr * m_hat / (v_hat**0.5 + eps), {"t": t, "m": m, "v": v}


class DecayAfterUpdate(Adam):
    """AdamW whose decoupled weight decay is applied to the updated parameters, after the
    Adam step, instead of to the parameters before it."""

    name = "adamw"
    hypers = OPTIMIZERS["adamw"].hypers

    def update(self, grad, state, params, lr, hp):
        stepped, state = OPTIMIZERS["adam"].update(
            grad, state, params, lr, {**hp, "weight_decay": 0.0}
        )
        return stepped * (1 - lr * hp["weight_decay"]), state


class Mistaken(gdbench.Backend):
    """NumPy (hand-derived gradient, the spec's update) with ``changed`` hyperparameters or
    a ``wrong`` optimizer in place of the one asked for."""

    modes = ("eager",)
    default_mode = "eager"
    requires = ("numpy",)

    def __init__(self, name, optimizer, doc, changed=None, wrong=None):
        self.name, self.optimizers, self.doc = name, (optimizer,), doc
        self.changed, self.wrong = changed or {}, wrong

    def prepare(self, problem, inst, setup):
        hyper = {**setup.hyper, **self.changed}
        setup = replace(setup, hyper=hyper, optimizer=self.wrong or setup.optimizer)
        return NumpySession(problem, inst, setup)


MISTAKES = [
    Mistaken("adam-eps-1e-7", "adam", "Adam with eps 1e-7 where the spec says 1e-8", {"eps": 1e-7}),
    Mistaken("adam-beta2-0.998", "adam", "Adam with β2 0.998 for 0.999", {"beta2": 0.998}),
    Mistaken(
        "adam-late-bias-correction",
        "adam",
        "Adam's bias correction computed with t − 1",
        wrong=LateBiasCorrection(),
    ),
    Mistaken(
        "rmsprop-eps-in-sqrt",
        "rmsprop",
        "RMSprop with eps inside the square root",
        {"eps_in_sqrt": True},
    ),
    Mistaken(
        "momentum-dampening-0.01",
        "momentum",
        "SGD momentum with dampening 0.01 where the spec has 0",
        {"dampening": 0.01},
    ),
    Mistaken(
        "adamw-decay-after-update",
        "adamw",
        "AdamW's weight decay applied after the update instead of before",
        wrong=DecayAfterUpdate(),
    ),
]

for mistake in MISTAKES:
    gdbench.register_backend(mistake)
