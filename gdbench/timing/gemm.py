"""`gdbench machine`'s compute roof: each backend's sustained matrix-multiply rate.

A square GEMM C = A·B of n × n operands costs 2·n³ floating-point operations; its rate is
2·n³ / time (triton's and the BLAS benchmarks' FLOP/s), median and IQR over repeats, each
operand made once and reused (the first product, off the clock, warms caches, threads and
any compilation). n = 2,048 on the CPU: 17 GFLOP a product, 48 MiB of float32 operands (more
than a 32 MiB last-level cache), and enough blocks for every core; n = 8,192 on CUDA. The
roof of a dtype on a device is the best backend's rate (the machine's, not one library's):
a cell of any backend is measured against what the hardware has shown it can do.
"""

from __future__ import annotations

import importlib.util
from dataclasses import asdict, dataclass

import numpy as np

from gdbench.compat.machine import available_cpus
from gdbench.timing.timer import rate

GEMM_REPEATS = 7
CPU_SIZE = 2048
CUDA_SIZE = 8192
DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class GemmRate:
    """One backend's square-GEMM rate: GFLOP/s (10⁹ per second), median and IQR."""

    device: str
    dtype: str
    method: str
    gflops: float
    iqr_gflops: float
    size: int
    threads: int

    def asdict(self) -> dict:
        return asdict(self)


def _operands(n: int, dtype: str):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, n)).astype(dtype), rng.standard_normal((n, n)).astype(dtype)


def cpu_gemm_rates(
    dtypes=DTYPES, n: int | None = None, repeats: int = GEMM_REPEATS
) -> list[GemmRate]:
    """NumPy's, torch's and XLA's (jit) n × n products on the CPU (default ``CPU_SIZE``),
    per dtype, with every thread each library uses."""
    n = n or CPU_SIZE
    out = []
    threads = available_cpus()
    for dtype in dtypes:
        a, b = _operands(n, dtype)
        flop = 2.0 * n**3
        r = rate(lambda: a @ b, flop, repeats)  # noqa: B023 (called at once)
        out.append(GemmRate("cpu", dtype, f"numpy matmul {n}²", *r, n, threads))
        if importlib.util.find_spec("torch") is not None:
            import torch

            ta, tb = torch.from_numpy(a), torch.from_numpy(b)
            r = rate(lambda: ta @ tb, flop, repeats)  # noqa: B023
            method = f"torch matmul {n}² ({torch.get_num_threads()} threads)"
            out.append(GemmRate("cpu", dtype, method, *r, n, torch.get_num_threads()))
        if importlib.util.find_spec("jax") is not None:
            from gdbench.compat.frameworks import import_jax

            jax = import_jax()
            cpu = jax.devices("cpu")[0]
            ja, jb = jax.device_put(a, cpu), jax.device_put(b, cpu)
            product = jax.jit(lambda x, y: x @ y)
            r = rate(lambda: product(ja, jb).block_until_ready(), flop, repeats)  # noqa: B023
            out.append(GemmRate("cpu", dtype, f"jax matmul {n}² (XLA CPU)", *r, n, threads))
    return out


def cuda_gemm_rates(
    dtypes=DTYPES, n: int | None = None, repeats: int = GEMM_REPEATS
) -> list[GemmRate]:
    """torch's n × n products on the GPU (default ``CUDA_SIZE``), synchronised, in full
    precision (TF32 off, as gdbench's CUDA cells run); [] without a CUDA device."""
    n = n or CUDA_SIZE
    if importlib.util.find_spec("torch") is None:
        return []
    import torch

    if not torch.cuda.is_available():
        return []
    out = []
    torch.backends.cuda.matmul.allow_tf32 = False
    for dtype in dtypes:
        a, b = (torch.as_tensor(x, device="cuda") for x in _operands(n, dtype))

        def product(a=a, b=b):
            a @ b
            torch.cuda.synchronize()

        name = f"torch matmul {n}² on {torch.cuda.get_device_name()}"
        out.append(GemmRate("cuda", dtype, name, *rate(product, 2.0 * n**3, repeats), n, 0))
        del a, b
    return out


def roofs(rates: list[GemmRate]) -> dict[str, dict]:
    """machine.json's ``gemm`` entry of one device: per dtype the best backend's rate
    (``gflops``, ``iqr_gflops``, ``method``, ``size``) and every backend's
    (``by_method``: method → GFLOP/s)."""
    out: dict[str, dict] = {}
    for dtype in dict.fromkeys(r.dtype for r in rates):
        mine = [r for r in rates if r.dtype == dtype]
        top = max(mine, key=lambda r: r.gflops)
        out[dtype] = {
            "gflops": top.gflops,
            "iqr_gflops": top.iqr_gflops,
            "method": top.method,
            "size": top.size,
            "by_method": {r.method: r.gflops for r in mine},
        }
    return out
