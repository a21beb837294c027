"""The matrix-vector shapes behind the eager modes' layout and D = 1 product: each product of
the data matrix, in NumPy and torch, row-major and column-major, at the roof sizes.

    python bench/blas_shapes.py

float32, N×D = 2.6e7×1 and 3e6×16 (X about 200 MB, beyond 4× a 48 MiB L3); each expression
run once untimed, then 7 times; the median and the GB/s of X's bytes over it. The docs'
table ("Eager as an expert writes it") is one run of this script.
"""

from __future__ import annotations

import numpy as np

from gdbench.timing.timer import call_times


def measure(n: int, d: int) -> None:
    """Every expression at one size, printed."""
    import torch

    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d), dtype=np.float32)
    y = rng.standard_normal(n, dtype=np.float32)
    w = np.ones(d, np.float32)
    XF = np.asfortranarray(X)
    r = X @ w - y
    Xt, XFt = torch.from_numpy(X), torch.from_numpy(XF)
    wt, rt = torch.from_numpy(w), torch.from_numpy(r)
    cases = {
        "numpy X @ w, row-major": lambda: X @ w,
        "numpy X @ w, column-major": lambda: XF @ w,
        "numpy X.T @ r, row-major": lambda: X.T @ r,
        "numpy X.T @ r, column-major": lambda: XF.T @ r,
        "torch X @ w, row-major": lambda: Xt @ wt,
        "torch X @ w, column-major": lambda: XFt @ wt,
        "torch X.T @ r, row-major": lambda: Xt.T @ rt,
        "torch X.T @ r, column-major": lambda: XFt.T @ rt,
    }
    if d == 1:
        x, xt = X[:, 0], Xt[:, 0]
        cases["numpy X[:, 0] * w"] = lambda: x * w
        cases["torch dot(x, r)"] = lambda: torch.dot(xt, rt)
    print(f"N×D = {n}×{d}, X {X.nbytes / 1e6:.0f} MB, torch threads {torch.get_num_threads()}")
    for name, fn in cases.items():
        s = float(np.median(call_times(fn, 7)))
        print(f"  {name:30s} {s * 1e3:8.2f} ms {X.nbytes / s / 1e9:6.1f} GB/s")


def main() -> None:
    for n, d in ((26_000_000, 1), (3_000_000, 16)):
        measure(n, d)


if __name__ == "__main__":
    main()
