"""Autodiff gradients of a problem's loss: in float64 for references and gradient checks, in
float32 for the float32 baseline (``gdbench.numerics.budget``)."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

import numpy as np

GradFn = Callable[[np.ndarray, dict], np.ndarray]


def torch_gradient(problem, dtype: str = "float64") -> GradFn:
    """The gradient in ``dtype`` (returned as a NumPy array of that dtype); data of that
    dtype is used in place, not copied."""
    import torch

    tdtype = getattr(torch, dtype)

    def grad(w, data):
        wt = torch.tensor(w, dtype=tdtype, requires_grad=True)
        # writable (torch warns on a read-only array, as --data's are): no copy if it is
        dt = {
            k: torch.as_tensor(np.require(v, requirements="W"), dtype=tdtype)
            for k, v in data.items()
        }
        problem.loss(wt, **dt).backward()
        return wt.grad.numpy().copy()

    return grad


def jax_gradient(problem, dtype: str = "float64") -> GradFn:
    from gdbench.compat.frameworks import import_jax

    jax = import_jax()
    g = jax.grad(lambda w, data: problem.loss(w, **data))

    def grad(w, data):
        dj = {k: jax.numpy.asarray(v, dtype=dtype) for k, v in data.items()}
        return np.asarray(g(jax.numpy.asarray(w, dtype=dtype), dj), dtype=dtype)

    return grad


def autodiff_gradient(problem, dtype: str) -> tuple[GradFn, str] | None:
    """An autodiff gradient in ``dtype`` (torch, else JAX), or None when neither is here."""
    if importlib.util.find_spec("torch") is not None:
        return torch_gradient(problem, dtype), "torch autodiff"
    if importlib.util.find_spec("jax") is not None:
        return jax_gradient(problem, dtype), "jax autodiff"
    return None


def import_autodiff() -> None:
    """Imports the framework ``autodiff_gradient`` takes (torch, else JAX), so that a time
    limit on user code (``containment.deadline``) never stops it halfway through its
    import: a module stopped mid-import stays broken for the rest of the process."""
    if importlib.util.find_spec("torch") is not None:
        import torch  # noqa: F401
    elif importlib.util.find_spec("jax") is not None:
        from gdbench.compat.frameworks import import_jax

        import_jax()


def float64_gradient(problem) -> tuple[GradFn, str]:
    """An autodiff gradient (torch, else JAX), or the hand-derived one when neither is here."""
    found = autodiff_gradient(problem, "float64")
    if found is not None:
        return found
    return (
        lambda w, data: np.asarray(problem.grad(w, **data), dtype=np.float64),
        "hand-derived (no autodiff framework installed)",
    )
