"""Float64 autodiff gradients of a problem's loss, for references and gradient checks."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

import numpy as np

GradFn = Callable[[np.ndarray, dict], np.ndarray]


def torch_gradient(problem) -> GradFn:
    import torch

    def grad(w, data):
        wt = torch.tensor(w, dtype=torch.float64, requires_grad=True)
        dt = {k: torch.as_tensor(v, dtype=torch.float64) for k, v in data.items()}
        problem.loss(wt, **dt).backward()
        return wt.grad.numpy().copy()

    return grad


def jax_gradient(problem) -> GradFn:
    from gdbench.compat.frameworks import import_jax

    jax = import_jax()
    g = jax.grad(lambda w, data: problem.loss(w, **data))

    def grad(w, data):
        dj = {k: jax.numpy.asarray(v, dtype=np.float64) for k, v in data.items()}
        return np.asarray(g(jax.numpy.asarray(w, dtype=np.float64), dj), dtype=np.float64)

    return grad


def float64_gradient(problem) -> tuple[GradFn, str]:
    """An autodiff gradient (torch, else JAX), or the hand-derived one when neither is here."""
    if importlib.util.find_spec("torch") is not None:
        return torch_gradient(problem), "torch autodiff"
    if importlib.util.find_spec("jax") is not None:
        return jax_gradient(problem), "jax autodiff"
    return (
        lambda w, data: np.asarray(problem.grad(w, **data), dtype=np.float64),
        "hand-derived (no autodiff framework installed)",
    )
