"""Binary logistic regression with an L2 penalty, labels y ∈ {0, 1}.

loss(w) = mean(softplus(X·w) − y·(X·w)) + (l2/2)·‖w‖². Generated data by seed: X ~ N(0, 1),
w_true ~ N(0, 1), y ~ Bernoulli(σ(X·w_true)); w0 = 0. softplus(z) = logaddexp(0, z) never
overflows (|z| up to 1e3 and beyond in float32).
"""

from __future__ import annotations

import numpy as np

from gdbench.compat.arrays import namespace
from gdbench.compat.products import gram_top_eigenvalue, matvec
from gdbench.hyper import Hyper
from gdbench.problem import Instance, Problem
from gdbench.registry import register_problem


def softplus(xp, z):
    """log(1 + e^z) as logaddexp(0, z): no overflow, and smooth at 0 for every autodiff
    (max(z, 0) + log1p(e^−|z|) has kinks whose subgradients the libraries split
    differently at z = 0, where w0 = 0 puts every sample)."""
    return xp.logaddexp(z * 0, z)


def sigmoid(z: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return np.where(z >= 0, 1 / (1 + np.exp(-z)), np.exp(z) / (1 + np.exp(z)))


class LogisticRegression(Problem):
    name = "logreg"
    description = "L2-regularised logistic regression, labels 0/1 (generated, or --data)"
    order = 2
    default_lr = 1.0
    default_steps = 100
    sized = True
    default_n_samples = 500
    default_features = 3
    takes_data = True
    binary_target = True
    options = (Hyper("l2", 1e-3, doc="L2 penalty (l2/2)·‖w‖²"),)

    def make(self, n_samples=None, features=None, seed=0) -> Instance:
        n = n_samples or self.default_n_samples
        d = features or self.default_features
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((n, d))
        w_true = rng.standard_normal(d)
        y = (rng.random(n) < sigmoid(X @ w_true)).astype(np.float64)
        return Instance(self.name, w0=np.zeros(d), data={"X": X, "y": y}, n_samples=n, seed=seed)

    def loss(self, w, X, y):
        xp = namespace(w)
        z = matvec(X, w)  # X @ w (gdbench.compat.products)
        return (softplus(xp, z) - y * z).mean() + (self.opt["l2"] / 2) * (w * w).sum()

    def grad(self, w, X, y):
        # d/dw mean(softplus(Xw) − y·Xw) = Xᵀ(σ(Xw) − y)/N; the penalty adds l2·w.
        return X.T @ (sigmoid(matvec(X, w)) - y) / len(y) + self.opt["l2"] * w

    def smoothness(self, inst):
        # The Hessian is XᵀSX/N + l2·I with S = diag(σ(1 − σ)) ≤ 1/4.
        X = inst.data["X"]
        return gram_top_eigenvalue(X) / 4 + float(self.opt["l2"])

    def hessian_max_eig(self, inst):
        return self.smoothness(inst)

    def flops_per_step(self, inst):
        # X·w: 2ND; softplus, σ and the residual: ~10N; Xᵀr: 2ND.
        n, d = inst.data["X"].shape
        return 4 * n * d + 10 * n

    def torch_nn_module(self, w0):
        """nn.Linear(D, 1, bias=False) under nn.BCEWithLogitsLoss, plus the L2 term."""
        import torch
        from torch import nn

        l2 = self.opt["l2"]

        class LogisticBCE(nn.Module):
            def __init__(self):
                super().__init__()
                self.linear = nn.Linear(w0.numel(), 1, bias=False)
                self.bce = nn.BCEWithLogitsLoss()
                with torch.no_grad():
                    self.linear.weight.copy_(w0.reshape(1, -1))

            def forward(self, X, y):
                w = self.linear.weight
                return self.bce(self.linear(X).squeeze(-1), y) + (l2 / 2) * (w * w).sum()

        return LogisticBCE().to(dtype=w0.dtype, device=w0.device)


register_problem(LogisticRegression())
