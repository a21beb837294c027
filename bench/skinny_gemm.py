"""The classifier's matrix products at a small batch: why B = 16 stays far below the memory
roof. Each product of one step of 784-1024-1024-10 at B rows, alone, in NumPy and torch.

    python bench/skinny_gemm.py [B]

float32; each product run once untimed, then 30 times; median ± IQR, its GFLOP/s and the
GB/s of its operands (read once, the result written once) over it. The weights are the
same arrays every repeat, so they come from the cache: a product that streams them slower
than the memory's bandwidth is limited by its kernel, not by memory.
"""

from __future__ import annotations

import sys

import numpy as np

from gdbench.timing.timer import call_times, median_iqr


def main(b: int = 16) -> None:
    import torch

    rng = np.random.default_rng(0)
    shapes = [  # (M, K) @ (K, N): forward, then the backward's ∂A = ∂Z·W and ∂W = ∂Zᵀ·A
        ("forward X·W1ᵀ", (b, 784), (784, 1024)),
        ("forward A1·W2ᵀ", (b, 1024), (1024, 1024)),
        ("backward ∂Z2·W2", (b, 1024), (1024, 1024)),
        ("backward ∂Z2ᵀ·A1", (1024, b), (b, 1024)),
        ("backward ∂Z1ᵀ·X", (1024, b), (b, 784)),
    ]
    print(f"B = {b}, float32; median ± IQR of 30")
    for name, (m, k), (k2, n) in shapes:
        A = rng.standard_normal((m, k)).astype(np.float32)
        B = rng.standard_normal((k2, n)).astype(np.float32)
        ta, tb = torch.from_numpy(A), torch.from_numpy(B)
        nbytes = 4 * (m * k + k * n + m * n)
        for lib, fn in (("numpy", lambda: A @ B), ("torch", lambda: ta @ tb)):  # noqa: B023
            t, iqr = median_iqr(call_times(fn, 30))
            print(
                f"  {name:<18} ({m}×{k})·({k}×{n}) {lib:<5} {t * 1e6:7.0f} ± {iqr * 1e6:5.0f} µs"
                f"  {2 * m * k * n / t / 1e9:6.1f} GFLOP/s  {nbytes / t / 1e9:5.1f} GB/s"
            )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 16)
