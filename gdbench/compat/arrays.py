"""The array API namespace of an array: exp, log1p, tanh … for NumPy, torch and JAX alike.

A loss that needs more than operators asks ``namespace(w)`` for the module of functions
that fits its arrays, as SciPy and scikit-learn do with array-api-compat, instead of
branching on the library itself. torch tensors are answered with ``array_api_compat.torch``
directly, by type: torch.compile would otherwise trace array-api-compat's own cached
lookup (and warn about it) inside a compiled loss; the torch sessions call ``namespace``
once before compiling, so the compiled loss only reads it back.
"""

from __future__ import annotations

import importlib

import numpy as np

_TORCH: list = []  # array_api_compat.torch once imported (dynamo cannot trace an import)


def namespace(x):
    """The array API namespace of ``x`` (NumPy, torch or JAX, tracers included)."""
    top = type(x).__module__.partition(".")[0]
    if top == "torch":
        if not _TORCH:
            _TORCH.append(importlib.import_module("array_api_compat.torch"))
        return _TORCH[0]
    if hasattr(x, "__array_namespace__") and top != "numpy":
        return x.__array_namespace__()  # jax.numpy, for arrays and tracers
    try:
        import array_api_compat
    except ImportError:  # NumPy alone: numpy 2 is its own array API namespace
        return np
    return array_api_compat.array_namespace(x)
