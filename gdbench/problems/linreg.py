"""Mean-squared-error linear regression y ≈ X·w, without bias.

The default instance is the notebook's: X = [1, 2, 3, 4], y = 2X, w0 = 0, lr = 0.01,
100 steps. With n_samples/features it is generated from a seed: X ~ N(0, 1), y = X·w_true
plus 0.1·N(0, 1) noise, w0 = 0.
"""

from __future__ import annotations

import numpy as np

from gdbench.compat.products import gram_eigh, gram_top_eigenvalue, matvec, mean_squared_error
from gdbench.problem import Instance, Problem
from gdbench.registry import register_problem
from gdbench.trajectory import Trajectory

NOTEBOOK_X = (1.0, 2.0, 3.0, 4.0)


class LinearRegression(Problem):
    name = "linreg"
    description = "MSE linear regression y ≈ X·w (notebook data, or generated with --n-samples)"
    order = 1
    default_lr = 0.01
    default_steps = 100
    sized = True
    takes_data = True

    def make(self, n_samples=None, features=None, seed=0) -> Instance:
        if n_samples is None and features is None:
            x = np.asarray(NOTEBOOK_X)
            return Instance(
                self.name, w0=np.zeros(1), data={"X": x[:, None], "y": 2 * x}, n_samples=len(x)
            )
        n = n_samples or self.default_n_samples
        d = features or self.default_features
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((n, d))
        w_true = rng.standard_normal(d)
        y = X @ w_true + 0.1 * rng.standard_normal(n)
        return Instance(self.name, w0=np.zeros(d), data={"X": X, "y": y}, n_samples=n, seed=seed)

    def loss(self, w, X, y):
        # mean((X·w − y)²), through gdbench.compat.products: matvec(X, w) is X @ w
        return mean_squared_error(matvec(X, w), y)

    def grad(self, w, X, y):
        # d/dw (1/N) Σ (x_i·w - y_i)² = (2/N) Xᵀ(Xw - y)
        return (2 / len(y)) * (X.T @ (matvec(X, w) - y))

    def closed_form(self, inst, lr, steps):
        """Closed form, in float64, through the eigendecomposition A = XᵀX/N = V Λ Vᵀ
        (by the thin SVD of X when N < D, see ``gram_eigh``).

        With b = Xᵀy/N the update is w ← w − 2 lr (A w − b). In z = Vᵀw each coordinate
        moves on its own: z_k − z* = (1 − 2 lr λ_i)^k (z_0 − z*), z*_i = (Vᵀb)_i / λ_i
        (for λ_i ≈ 0 the coordinate does not move). The loss is L* + Σ λ_i (z_i − z*_i)² and
        the gradient 2 V Λ (z − z*): sums of non-negative terms, no cancellation, so the
        reference keeps its accuracy down to losses near zero.
        """
        X, y = inst.data["X"], inst.data["y"]
        n = len(y)
        lam, V = gram_eigh(X)  # V: D×min(N, D)
        c = V.T @ (X.T @ y / n)
        live = lam > lam.max() * 1e-12
        z_star = np.where(live, c / np.where(live, lam, 1.0), 0.0)
        z0 = V.T @ inst.w0
        z_star = np.where(live, z_star, z0)  # flat directions stay where they start
        # What of w0 lies outside V (N < D: the directions X never sees) stays as it is.
        w_flat = inst.w0 - V @ z0 if V.shape[1] < V.shape[0] else 0.0
        w_star = w_flat + V @ z_star
        loss_star = float(((X @ w_star - y) ** 2).mean())
        k = np.arange(steps + 1, dtype=np.float64)[:, None]
        with np.errstate(all="ignore"):
            e = (1.0 - 2.0 * lr * lam) ** k * (z0 - z_star)  # (steps+1, D): z_k − z*
            w_all = w_flat + (z_star + e) @ V.T
            loss = loss_star + (lam * e[:-1] ** 2).sum(axis=1)
            grad = (2.0 * lam * e[:-1]) @ V.T
        return (
            Trajectory.from_steps(loss, grad, w_all[1:]),
            "closed form via eigendecomposition of XᵀX/N",
        )

    def flops_per_step(self, inst):
        # X·w: 2ND; r = X·w − y: N; mean(r²): 2N; Xᵀr: 2ND; the 2/N scale: N.
        # (The update of w, 2D, is negligible.) bytes_per_step: X and y read once, 4·(ND + N)
        # in float32.
        n, d = inst.data["X"].shape
        return 4 * n * d + 4 * n

    def hessian_max_eig(self, inst):
        X = inst.data["X"]
        return 2.0 * gram_top_eigenvalue(X)

    def torch_nn_module(self, w0):
        """The idiomatic nn form: nn.Linear(D, 1, bias=False) under nn.MSELoss."""
        import torch
        from torch import nn

        class LinearMSE(nn.Module):
            def __init__(self):
                super().__init__()
                self.linear = nn.Linear(w0.numel(), 1, bias=False)
                self.mse = nn.MSELoss()
                with torch.no_grad():
                    self.linear.weight.copy_(w0.reshape(1, -1))

            def forward(self, X, y):
                return self.mse(self.linear(X).squeeze(-1), y)

        return LinearMSE().to(dtype=w0.dtype, device=w0.device)


register_problem(LinearRegression())
