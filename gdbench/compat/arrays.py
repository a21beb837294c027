"""The array API namespace of an array: exp, log1p, tanh … for NumPy, torch and JAX alike.

A loss that needs more than operators asks ``namespace(w)`` for the module of functions
that fits its arrays, as SciPy and scikit-learn do with array-api-compat, instead of
branching on the library itself. torch tensors are answered with ``array_api_compat.torch``
directly, by type: torch.compile would otherwise trace array-api-compat's own cached
lookup (and warn about it) inside a compiled loss; the torch sessions call ``namespace``
once before compiling, so the compiled loss only reads it back.

The standard has no ``erf``, which exact GELU needs (``0.5·x·(1 + erf(x/√2))``, torch's
``nn.GELU()`` default): torch's namespace passes ``torch.erf`` through, and NumPy's and
JAX's are given one (SciPy's ``erf`` where SciPy is installed, else ``math.erf`` element
by element; ``jax.scipy.special.erf``). A function none of them has is an AttributeError
that names it and the library.
"""

from __future__ import annotations

import importlib
import math
import types

import numpy as np

# array_api_compat.torch and torch.Tensor once imported (dynamo cannot trace an import)
_TORCH: list = []
_EXTENDED: dict[str, types.ModuleType] = {}  # by library: its namespace with erf added


def namespace(x):
    """The array API namespace of ``x`` (NumPy, torch or JAX, tracers included)."""
    # A tensor by isinstance first: inside a compiled loss dynamo traces it, where it cannot
    # trace str.partition on an nn.Parameter's module name (torch-nn's compile mode).
    if _TORCH and isinstance(x, _TORCH[1]):
        return _TORCH[0]
    top = type(x).__module__.partition(".")[0]
    if top == "torch":
        if not _TORCH:
            import torch

            _TORCH[:] = [importlib.import_module("array_api_compat.torch"), torch.Tensor]
        return _TORCH[0]
    if hasattr(x, "__array_namespace__") and top != "numpy":
        return _extended("jax", x.__array_namespace__())  # jax.numpy, arrays and tracers
    try:
        import array_api_compat
    except ImportError:  # NumPy alone: numpy 2 is its own array API namespace
        return _extended("numpy", np)
    return _extended("numpy", array_api_compat.array_namespace(x))


def _numpy_erf(x):
    try:
        from scipy.special import erf
    except ImportError:
        a = np.asarray(x)
        kind = a.dtype if a.dtype.kind == "f" else np.dtype(np.float64)
        return np.vectorize(math.erf, otypes=[kind])(a)
    return erf(x)


def _jax_erf(x):
    from jax.scipy.special import erf

    return erf(x)


def _extended(library: str, base: types.ModuleType) -> types.ModuleType:
    """``base`` as a module of its own with ``erf`` added (made once per library)."""
    made = _EXTENDED.get(library)
    if made is not None and made.__dict__.get("_base") is base:
        return made
    module = types.ModuleType(f"gdbench.compat.arrays.{library}")
    module.__dict__.update({k: v for k, v in vars(base).items() if not k.startswith("__")})
    module.__dict__.update(_base=base, erf=_numpy_erf if library == "numpy" else _jax_erf)

    def missing(name: str):
        if not name.startswith("__") and hasattr(base, name):  # a lazily loaded one
            return getattr(base, name)
        raise AttributeError(
            f"gdbench.namespace(w) has no {name!r} for {library} arrays (the array API "
            "standard's functions and erf are there; write it from them)"
        )

    module.__dict__["__getattr__"] = missing
    _EXTENDED[library] = module
    return module
