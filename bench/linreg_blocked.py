"""linreg's gradient at D = 16 in one pass over memory: the residual and its product with X
computed block by block of rows, each block still in cache for the second product.

    python bench/linreg_blocked.py [N]

The gradient (2/N)·Xᵀ(X·w − y) reads X twice when its two products are two calls over the
whole of X (NumPy eager, the fused kernels): twice the roofline's bytes from memory. Cut
into blocks of rows small enough to stay in the last-level cache, the second product reads
each block from the cache instead. This script times, in one process and interleaved in
random order, the two-call gradient on column-major X (NumPy eager's) and on row-major X,
and the blocked one at several block sizes; 15 repeats each after one untimed, median ± IQR
per gradient and the GB/s of the roofline's bytes (X and y once) over it, float32,
N×D = 3e6×16 by default (X 192 MB, beyond 4× a 48 MiB L3).
"""

from __future__ import annotations

import random
import sys
import time

import numpy as np


def two_calls(X, y, w):
    return (2 / len(y)) * (X.T @ (X @ w - y))


def blocked(rows):
    def grad(X, y, w):
        g = np.zeros(X.shape[1], dtype=X.dtype)
        for start in range(0, len(y), rows):
            Xb = X[start : start + rows]
            g += Xb.T @ (Xb @ w - y[start : start + rows])
        return (2 / len(y)) * g

    return grad


def main(n: int = 3_000_000, d: int = 16, repeats: int = 15) -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d), dtype=np.float32)
    XF = np.asfortranarray(X)
    y = rng.standard_normal(n, dtype=np.float32)
    w = rng.standard_normal(d).astype(np.float32)
    cases = {
        "two calls, X column-major (numpy eager)": (two_calls, XF),
        "two calls, X row-major": (two_calls, X),
    }
    for rows in (8192, 32768, 131072, 524288):
        size = f"{rows} rows ({rows * d * 4 / 2**20:g} MiB)"
        cases[f"blocked, {size}, row-major"] = (blocked(rows), X)
        cases[f"blocked, {size}, column-major"] = (blocked(rows), XF)
    ref = two_calls(X.astype(np.float64), y.astype(np.float64), w.astype(np.float64))
    times: dict[str, list[float]] = {k: [] for k in cases}
    for name, (fn, data) in cases.items():
        g = fn(data, y, w)  # untimed, and checked against float64
        assert np.allclose(g, ref, rtol=1e-3, atol=1e-4), name
    order = [k for k in cases for _ in range(repeats)]
    random.Random(0).shuffle(order)
    for name in order:
        fn, data = cases[name]
        t0 = time.perf_counter()
        fn(data, y, w)
        times[name].append(time.perf_counter() - t0)
    nbytes = X.nbytes + y.nbytes
    print(f"N×D = {n}×{d} float32, roofline bytes {nbytes / 1e6:.0f} MB; median ± IQR of {repeats}")
    for name, ts in times.items():
        t = np.asarray(ts)
        q1, med, q3 = np.percentile(t, [25, 50, 75])
        gbps = nbytes / med / 1e9
        print(f"  {name:<46} {med * 1e3:7.2f} ± {(q3 - q1) * 1e3:5.2f} ms  {gbps:5.1f} GB/s")


if __name__ == "__main__":
    main(int(float(sys.argv[1])) if len(sys.argv) > 1 else 3_000_000)
