"""A one-hidden-layer perceptron, tanh, linear output, mean squared error.

pred = tanh(X·W1ᵀ + b1)·W2 + b2; loss = mean((pred − y)²). The parameters are one flat
vector [W1 (hidden×D, row-major), b1 (hidden), W2 (hidden), b2 (1)], the order of
nn.Sequential(nn.Linear(D, hidden), nn.Tanh(), nn.Linear(hidden, 1)).parameters(), so
every backend and optimizer runs it unchanged and trajectories record every parameter.
Initialised from the seed: W1 ~ N(0, 1/D), W2 ~ N(0, 1/hidden), biases 0. Generated data:
X ~ N(0, 1), y = sin(X·v) + 0.1·N(0, 1) with v ~ N(0, 1/D).
"""

from __future__ import annotations

import numpy as np

from gdbench.compat.arrays import namespace
from gdbench.hyper import Hyper
from gdbench.problem import Instance, Problem
from gdbench.registry import register_problem


class MLP(Problem):
    name = "mlp"
    description = "one tanh hidden layer, MSE; backprop derived by hand for NumPy (nonconvex)"
    order = 4
    default_lr = 0.05
    default_steps = 200
    sized = True
    default_n_samples = 200
    default_features = 2
    takes_data = True
    options = (Hyper("hidden", 16, 1, 4096, doc="hidden units", integer=True),)

    @property
    def hidden(self) -> int:
        return int(self.opt["hidden"])

    def blocks(self, d: int) -> dict[str, tuple[slice, tuple[int, ...]]]:
        """Where each parameter lies in the flat vector, and its shape."""
        h = self.hidden
        return {
            "W1": (slice(0, h * d), (h, d)),
            "b1": (slice(h * d, h * d + h), (h,)),
            "W2": (slice(h * d + h, h * d + 2 * h), (h,)),
            "b2": (slice(h * d + 2 * h, h * d + 2 * h + 1), (1,)),
        }

    def layout(self, inst: Instance) -> dict[str, slice]:
        return {name: where for name, (where, _) in self.blocks(inst.features).items()}

    def param_count(self, features: int) -> int:
        return self.hidden * (features + 2) + 1

    def unpack(self, w, d: int):
        return [w[s].reshape(shape) for s, shape in self.blocks(d).values()]

    def init(self, d: int, rng) -> np.ndarray:
        h = self.hidden
        W1 = rng.standard_normal((h, d)) / np.sqrt(d)
        W2 = rng.standard_normal(h) / np.sqrt(h)
        return np.concatenate([W1.ravel(), np.zeros(h), W2, np.zeros(1)])

    def make(self, n_samples=None, features=None, seed=0) -> Instance:
        n = n_samples or self.default_n_samples
        d = features or self.default_features
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((n, d))
        v = rng.standard_normal(d) / np.sqrt(d)
        y = np.sin(X @ v) + 0.1 * rng.standard_normal(n)
        w0 = self.init(d, rng)
        return Instance(self.name, w0=w0, data={"X": X, "y": y}, n_samples=n, seed=seed)

    def init_for(self, X: np.ndarray, seed: int) -> np.ndarray:
        """w0 for the user's data (--data): the same initialisation, from the seed."""
        return self.init(X.shape[1], np.random.default_rng(seed))

    def loss(self, w, X, y):
        xp = namespace(w)
        W1, b1, W2, b2 = self.unpack(w, X.shape[1])
        H = xp.tanh(X @ W1.T + b1)
        r = H @ W2 + b2 - y
        return (r * r).mean()

    def grad(self, w, X, y):
        """Backpropagation by hand: r = pred − y, ∂L/∂pred = 2r/N, then through the
        output layer, tanh' = 1 − tanh², and the hidden layer."""
        W1, b1, W2, b2 = self.unpack(w, X.shape[1])
        H = np.tanh(X @ W1.T + b1)
        g_pred = 2 * (H @ W2 + b2 - y) / len(y)  # (N,)
        g_W2 = H.T @ g_pred  # (h,)
        g_b2 = g_pred.sum(keepdims=True)  # (1,)
        g_Z = np.outer(g_pred, W2) * (1 - H * H)  # (N, h): through tanh
        g_W1 = g_Z.T @ X  # (h, D)
        g_b1 = g_Z.sum(axis=0)
        return np.concatenate([g_W1.ravel(), g_b1, g_W2, g_b2])

    def diagnose(self, inst, hand, truth) -> str | None:
        """Names the classic backprop mistakes: a wrong block, tanh' forgotten, a gradient
        returned transposed."""
        d = inst.data["X"].shape[1]
        blocks = self.blocks(d)
        wrong = [
            k
            for k, (s, _) in blocks.items()
            if not np.allclose(hand[s], truth[s], rtol=1e-6, atol=1e-12 * np.abs(truth).max())
        ]
        if not wrong or len(wrong) == len(blocks):
            return None
        s, (h, dd) = blocks["W1"]
        if "W1" in wrong and dd > 1 and h > 1:
            transposed = truth[s].reshape(h, dd).T.ravel()
            if np.allclose(hand[s], transposed, rtol=1e-6):
                return (
                    "W1's gradient is the true one transposed: a (D, hidden) array returned "
                    "where the parameter is (hidden, D) (X.T @ g_Z instead of g_Z.T @ X)"
                )
        if set(wrong) == {"W1", "b1"}:
            W1, b1, W2, b2 = self.unpack(inst.w0, d)
            X, y = inst.data["X"], inst.data["y"]
            H = np.tanh(X @ W1.T + b1)
            g_pred = 2 * (H @ W2 + b2 - y) / len(y)
            no_deriv = np.outer(g_pred, W2)
            if np.allclose(hand[blocks["b1"][0]], no_deriv.sum(axis=0), rtol=1e-6):
                return (
                    "the hidden layer's gradients (W1, b1) are wrong and the output layer's "
                    "right: they equal backprop without tanh' = 1 − tanh² (forgotten)"
                )
            return "the hidden layer's gradients (W1, b1) are wrong, the output layer's right"
        return f"the gradients of {', '.join(wrong)} are wrong, the others right"

    def flops_per_step(self, inst):
        # Forward: X·W1ᵀ 2NDh, tanh ~10Nh, H·W2 2Nh; backward: the same matrix products
        # again twice (g_W1, g_Z) and the elementwise tanh' terms.
        n, d = inst.data["X"].shape
        h = self.hidden
        return 2 * n * d * h * 2 + 2 * n * h * 3 + 14 * n * h

    def torch_nn_module(self, w0):
        """nn.Sequential(nn.Linear(D, hidden), nn.Tanh(), nn.Linear(hidden, 1)) + nn.MSELoss,
        shaped for the flat w0 (the torch-nn session copies w0 into its parameters)."""
        from torch import nn

        h = self.hidden
        d = (w0.numel() - 1) // h - 2

        class TanhMLP(nn.Module):
            def __init__(self):
                super().__init__()
                self.net = nn.Sequential(nn.Linear(d, h), nn.Tanh(), nn.Linear(h, 1))
                self.mse = nn.MSELoss()

            def forward(self, X, y):
                return self.mse(self.net(X).squeeze(-1), y)

        return TanhMLP().to(dtype=w0.dtype, device=w0.device)


register_problem(MLP())
