"""`gdbench machine`: this machine's roofs. Its sustained memory read bandwidth, its cache's,
and (``gdbench.timing.gemm``) its matrix-multiply rate per dtype.

STREAM-like: a read-only reduction (sum) over an array far larger than the last-level cache,
repeated, median and IQR. On the CPU it is measured with every library at hand and all
threads they use (torch's and XLA's reductions are multi-threaded, NumPy's is not); the
best is the machine's figure. The cache's: the same reductions over an array a quarter of
the last-level cache, which stays in it between repeats. On CUDA, a torch reduction over a
2 GiB array, synchronised.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import asdict, dataclass

import numpy as np

from gdbench.compat.machine import available_cpus, last_level_cache_bytes
from gdbench.timing.timer import rate

REPEATS = 15


@dataclass(frozen=True)
class Bandwidth:
    """One measurement: GB/s (10⁹ bytes per second) as median and IQR over repeats."""

    device: str
    method: str
    gbps: float
    iqr_gbps: float
    array_bytes: int
    threads: int
    cache_bytes: int = 0  # data up to this size may stay in cache: no memory bound there

    def asdict(self) -> dict:
        return asdict(self)


def cpu_bandwidths(array_bytes: int | None = None, repeats: int = REPEATS) -> list[Bandwidth]:
    """Each library's read bandwidth over an ``array_bytes`` array (default: 8× the
    last-level cache, at least 256 MiB)."""
    nbytes = array_bytes or max(8 * last_level_cache_bytes(), 256 * 1024**2)
    n = nbytes // 4
    threads = available_cpus()
    out = []
    x = np.ones(n, dtype=np.float32)
    llc = last_level_cache_bytes()
    out.append(
        Bandwidth("cpu", "numpy sum (1 thread)", *rate(x.sum, x.nbytes, repeats), x.nbytes, 1, llc)
    )
    del x
    if importlib.util.find_spec("torch") is not None:
        import torch

        t = torch.ones(n, dtype=torch.float32)
        out.append(
            Bandwidth(
                "cpu",
                f"torch sum ({torch.get_num_threads()} threads)",
                *rate(t.sum, n * 4, repeats),
                n * 4,
                torch.get_num_threads(),
                llc,
            )
        )
        del t
    if importlib.util.find_spec("jax") is not None:
        from gdbench.compat.frameworks import import_jax

        jax = import_jax()
        a = jax.device_put(np.ones(n, dtype=np.float32), jax.devices("cpu")[0])
        total = jax.jit(lambda v: v.sum())
        out.append(
            Bandwidth(
                "cpu",
                "jax sum (XLA CPU)",
                *rate(lambda: total(a).block_until_ready(), n * 4, repeats),
                n * 4,
                threads,
                llc,
            )
        )
        del a
    return out


def cache_bandwidth(repeats: int = 5 * REPEATS) -> Bandwidth:
    """The CPU's best read bandwidth from its last-level cache: ``cpu_bandwidths`` over an
    array a quarter of the cache (more repeats: each read is short)."""
    return best(cpu_bandwidths(last_level_cache_bytes() // 4, repeats))


def cuda_bandwidth(repeats: int = REPEATS) -> Bandwidth | None:
    if importlib.util.find_spec("torch") is None:
        return None
    import torch

    if not torch.cuda.is_available():
        return None
    n = 2 * 1024**3 // 4
    x = torch.ones(n, dtype=torch.float32, device="cuda")

    def read():
        x.sum()
        torch.cuda.synchronize()

    l2 = int(getattr(torch.cuda.get_device_properties(0), "L2_cache_size", 0))
    result = Bandwidth(
        "cuda",
        f"torch sum on {torch.cuda.get_device_name()}",
        *rate(read, n * 4, repeats),
        n * 4,
        0,
        l2,
    )
    return result


def best(measurements: list[Bandwidth]) -> Bandwidth:
    return max(measurements, key=lambda b: b.gbps)


@functools.cache
def machine_limits() -> dict[str, Bandwidth]:
    """The memory roof per device: the CPU's best reduction, and CUDA's where there is
    one; measured once per process (a sweep on resume reads machine.json instead)."""
    limits = {"cpu": best(cpu_bandwidths())}
    gpu = cuda_bandwidth()
    if gpu:
        limits["cuda"] = gpu
    return limits


@functools.cache
def device_limits(dtypes: tuple[str, ...] = ("float32",)) -> dict[str, dict]:
    """machine.json's entry of this host: per device the memory roof (``machine_limits``),
    on the CPU the cache's bandwidth (``cache_gbps``), and the compute roof of each of
    ``dtypes`` (``gemm``: ``gdbench.timing.gemm.roofs``); once per process and dtypes."""
    from gdbench.timing.gemm import cpu_gemm_rates, cuda_gemm_rates, roofs

    out = {dev: b.asdict() for dev, b in machine_limits().items()}
    out["cpu"]["cache_gbps"] = cache_bandwidth().gbps
    out["cpu"]["gemm"] = roofs(cpu_gemm_rates(dtypes))
    if "cuda" in out:
        out["cuda"]["gemm"] = roofs(cuda_gemm_rates(dtypes))
    return out


def compute_roofs(dtypes: tuple[str, ...] = ("float32",)) -> dict[str, dict]:
    """The roofs quick to measure again, measured now (never cached): per device the GEMM
    rate of each of ``dtypes``, and on the CPU the cache's bandwidth (``device_limits``
    has the rest: the memory bandwidth's several reductions over a large array)."""
    from gdbench.timing.gemm import cpu_gemm_rates, cuda_gemm_rates, roofs

    out: dict[str, dict] = {"cpu": {"cache_gbps": cache_bandwidth().gbps}}
    out["cpu"]["gemm"] = roofs(cpu_gemm_rates(dtypes))
    cuda = roofs(cuda_gemm_rates(dtypes))
    if cuda:
        out["cuda"] = {"gemm": cuda}
    return out


def main() -> int:
    from gdbench.compat.environment import cpu_model
    from gdbench.timing.gemm import GEMM_REPEATS, cpu_gemm_rates, cuda_gemm_rates

    llc = last_level_cache_bytes()
    print(
        f"CPU: {cpu_model()}, {available_cpus()} threads available, "
        f"last-level cache {llc / 1024**2:.0f} MiB"
    )
    cpu = cpu_bandwidths()
    print(
        f"memory read bandwidth, {cpu[0].array_bytes / 1024**2:.0f} MiB array, "
        f"median ± IQR of {REPEATS}:"
    )
    for b in cpu:
        print(f"  {b.method:<28} {b.gbps:7.1f} ± {b.iqr_gbps:.1f} GB/s")
    top = best(cpu)
    print(f"  => CPU roof: {top.gbps:.1f} GB/s ({top.method})")
    cache = cache_bandwidth()
    print(
        f"cache read bandwidth, {cache.array_bytes / 1024**2:.0f} MiB array: "
        f"{cache.gbps:.1f} ± {cache.iqr_gbps:.1f} GB/s ({cache.method})"
    )
    rates = cpu_gemm_rates()
    print(f"matrix multiply (2·n³ FLOP), median ± IQR of {GEMM_REPEATS}:")
    for r in rates:
        print(f"  {r.dtype:<8} {r.method:<34} {r.gflops:7.1f} ± {r.iqr_gflops:.1f} GFLOP/s")
    for dtype in dict.fromkeys(r.dtype for r in rates):
        top_rate = max((r for r in rates if r.dtype == dtype), key=lambda r: r.gflops)
        print(f"  => CPU {dtype} compute roof: {top_rate.gflops:.1f} GFLOP/s ({top_rate.method})")
    gpu = cuda_bandwidth()
    if gpu:
        print(
            f"CUDA: {gpu.method}: {gpu.gbps:.1f} ± {gpu.iqr_gbps:.1f} GB/s "
            f"({gpu.array_bytes / 1024**3:.0f} GiB array)"
        )
        for r in cuda_gemm_rates():
            print(f"  {r.dtype:<8} {r.method}: {r.gflops:.1f} ± {r.iqr_gflops:.1f} GFLOP/s")
    else:
        print("CUDA: no device visible")
    return 0
