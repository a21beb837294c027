"""Peak resident memory per sample of a whole run, per backend: `python -m gdbench run
--problem linreg --features 1` at two sizes in a fresh process tree, its resident set
summed over the parent and its workers every 20 ms; the growth between the sizes over
the samples added, in bytes and in float64 values a sample. The float32 data are 8 bytes
a sample at D = 1 (X and y); the guard (``execution.limits``: PER_X_VALUE + PER_SAMPLE
float64 values a sample at D = 1) budgets 184.

    python bench/memory_per_sample.py [SMALL LARGE [BACKEND,…]]
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import tempfile
import time

import psutil


def peak_tree_rss(argv: list[str]) -> tuple[int, float]:
    """The command's peak resident memory, its process tree summed, and its seconds."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    root = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        total = 0
        with contextlib.suppress(psutil.Error):
            for p in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    total += p.memory_info().rss
        peak = max(peak, total)
        time.sleep(0.02)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(argv)} exited with {proc.returncode}")
    return peak, time.perf_counter() - start


def main(
    small: int = 1_000_000,
    large: int = 8_000_000,
    backends: str = "numpy,torch-autograd,torch-nn,jax",
) -> None:
    print(
        f"| backend | peak at N={small:.0e} | peak at N={large:.0e} | bytes a sample "
        "| float64 values a sample |"
    )
    print("|---|---|---|---|---|")
    for backend in backends.split(","):
        peaks = []
        for n in (small, large):
            with tempfile.TemporaryDirectory() as tmp:
                argv = [
                    sys.executable,
                    "-m",
                    "gdbench",
                    "run",
                    "--problem",
                    "linreg",
                    "--backend",
                    backend,
                    "--n-samples",
                    str(n),
                    "--features",
                    "1",
                    "--steps",
                    "20",
                    "--time-budget",
                    "0.2",
                    "--out",
                    f"{tmp}/r",
                ]
                peaks.append(peak_tree_rss(argv)[0])
        per = (peaks[1] - peaks[0]) / (large - small)
        print(
            f"| {backend} | {peaks[0] / 2**20:.0f} MiB | {peaks[1] / 2**20:.0f} MiB | "
            f"{per:.1f} | {per / 8:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    args = sys.argv[1:]
    main(*(int(float(a)) for a in args[:2]), *args[2:3])
