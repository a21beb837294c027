"""The data products of the built-in problems, as a performance-aware user writes them.

``matvec(X, w)`` is ``X @ w`` for the (N, D) data and the (D,) parameters. At D = 1 that
product is a matrix-vector call with one column, a shape the BLAS libraries handle slowly:
measured on a 2-core Xeon at N = 2.6e7 in float32, NumPy's ``X @ w`` read X at 1.0 GB/s
and torch's backward of it (``X.T @ r``) at 1.1 GB/s, where a scaling or a dot product over
the same bytes runs at 4–13 GB/s. So at D = 1 it is the scaling ``X[:, 0] * w``: the same
numbers (one product per sample, no sum), the same formula, a different call.

``mean_squared_error(pred, y)`` is ``((pred - y) ** 2).mean()``, and for torch tensors
the library's own ``torch.nn.functional.mse_loss``: one kernel forward and one backward,
where the formula makes autograd keep and fill four N-long temporaries (at N = 2.6e7 in
float32 on the Xeon, 182 ms against 329 ms a step, eager, same process).

The naive modes (NumPy's and torch's ``naive``) run the problems inside ``plain()``, where
both are the plain formula, so that the difference stays measurable.
"""

from __future__ import annotations

import contextlib

_PLAIN = [False]  # inside plain(): X @ w everywhere (read when a formula runs or traces)


def matvec(X, w):
    """X @ w (N,) for X (N, D) and w (D,); at D = 1 the scaling X[:, 0] * w."""
    if X.ndim == 2 and X.shape[1] == 1 and w.ndim == 1 and not _PLAIN[0]:
        return X[:, 0] * w
    return X @ w


def mean_squared_error(pred, y):
    """mean((pred − y)²); torch's fused mse_loss for torch tensors."""
    if not _PLAIN[0] and type(pred).__module__.startswith("torch"):
        import torch.nn.functional as F

        return F.mse_loss(pred, y)
    return ((pred - y) ** 2).mean()


def split_blocks(w, sizes):
    """A flat parameter vector cut into consecutive blocks of ``sizes``: ``torch.split``
    for a torch tensor, whose backward is one concatenation (a slice's backward writes a
    whole zero vector of w's size and adds it: at 1.9e6 parameters and six blocks that is
    six extra passes over w per step), slices otherwise (views in NumPy; XLA fuses them)."""
    if type(w).__module__.startswith("torch"):
        return list(w.split(list(sizes)))
    out, start = [], 0
    for n in sizes:
        out.append(w[start : start + n])
        start += n
    return out


def gram_eigh(X):
    """The eigenvalues λ and orthonormal eigenvectors V (D×r) of XᵀX/N, r = min(N, D),
    computed on the smaller side: ``eigh`` of the D×D matrix when N ≥ D, the thin SVD of X
    when N < D (XᵀX/N then has rank N at most, and a 200×5000 X took 40 s through the
    5000×5000 matrix against milliseconds this way). Directions outside V have λ = 0."""
    import numpy as np

    n, d = X.shape
    if n >= d:
        return np.linalg.eigh(X.T @ X / n)
    _, s, vt = np.linalg.svd(X, full_matrices=False)
    return s[::-1] ** 2 / n, vt[::-1].T


def gram_top_eigenvalue(X) -> float:
    """The largest eigenvalue of XᵀX/N, through the smaller of XᵀX and XXᵀ (same spectrum)."""
    import numpy as np

    n, d = X.shape
    gram = X.T @ X if n >= d else X @ X.T
    return float(np.linalg.eigvalsh(gram / n).max())


@contextlib.contextmanager
def plain():
    """Formulas evaluated inside use the plain ``X @ w`` product at every D."""
    before = _PLAIN[0]
    _PLAIN[0] = True
    try:
        yield
    finally:
        _PLAIN[0] = before
