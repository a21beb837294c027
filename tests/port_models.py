"""The users' code of the port tests and docs/port.md: a 64-128-10 MLP with LayerNorm and
exact GELU in PyTorch, trained with AdamW, and a JAX/optax port of it as a user writes one,
with the three mistakes a port makes (tanh GELU, LayerNorm eps 1e-6, optax.adamw's default
weight decay) as switches."""

from __future__ import annotations

import numpy as np

LR, WEIGHT_DECAY = 1e-3, 0.01
PARAM_MAP = {
    "fc1.weight": "fc1/w.T",
    "fc1.bias": "fc1/b",
    "ln.weight": "ln/scale",
    "ln.bias": "ln/bias",
    "fc2.weight": "fc2/w.T",
    "fc2.bias": "fc2/b",
}


def torch_mlp(seed: int = 0):
    import torch
    import torch.nn.functional as F
    from torch import nn

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(64, 128)
            self.ln = nn.LayerNorm(128)
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x):
            return self.fc2(F.gelu(self.ln(self.fc1(x))))

    torch.manual_seed(seed)
    model = MLP()
    optimizer = lambda p: torch.optim.AdamW(p, lr=LR, weight_decay=WEIGHT_DECAY)  # noqa: E731
    return model, optimizer, F.cross_entropy


def data(n: int = 512, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 64)).astype(np.float32), rng.integers(0, 10, n)


def jax_port(gelu_tanh: bool = False, ln_eps: float = 1e-5, default_decay: bool = False):
    import jax
    import jax.numpy as jnp
    import optax

    def apply(p, x):
        h = x @ p["fc1"]["w"] + p["fc1"]["b"]
        mu = h.mean(-1, keepdims=True)
        var = ((h - mu) ** 2).mean(-1, keepdims=True)
        h = (h - mu) / jnp.sqrt(var + ln_eps) * p["ln"]["scale"] + p["ln"]["bias"]
        h = jax.nn.gelu(h, approximate=gelu_tanh)
        return h @ p["fc2"]["w"] + p["fc2"]["b"]

    def loss(logits, y):
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    params = {
        "fc1": {"w": jnp.zeros((64, 128)), "b": jnp.zeros(128)},
        "ln": {"scale": jnp.ones(128), "bias": jnp.zeros(128)},
        "fc2": {"w": jnp.zeros((128, 10)), "b": jnp.zeros(10)},
    }
    tx = optax.adamw(LR) if default_decay else optax.adamw(LR, weight_decay=WEIGHT_DECAY)
    return params, apply, tx, loss
