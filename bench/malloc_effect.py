"""The allocator's effect on a step, measured by interleaving processes: glibc's defaults
against ``MALLOC_MMAP_THRESHOLD_`` raised (large temporaries reused from the heap instead of
mapped afresh, and page-faulted in, at every operation).

    python bench/malloc_effect.py [--pairs 5] [--out results/<machine>/malloc-effect.csv]

An allocator setting acts when a process starts, so it cannot be compared inside one
process: each pair starts one process with each setting (in alternating order), each
times the same cells (gdbench's own sessions; linreg, float32, N = 2.6e7 at D = 1 unless
--n-samples), 7 steps after warm-up, and reports its median; the table gives, per cell and
setting, the median ± IQR over processes and the ratio of those medians.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

CELLS = (
    "numpy/eager",
    "numpy/naive",
    "torch-autograd/eager",
    "torch-autograd/fused",
    "jax/jit",
    "jax/scan",
)
SETTINGS = {"default": {}, "reuse": {"MALLOC_MMAP_THRESHOLD_": "4294967296"}}

CHILD = """
import json, sys, time
import numpy as np
from gdbench import registry
from gdbench.backend import Setup
from gdbench.optimizers.sgd import plain_setup
n, d, cells = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].split(",")
problem = registry.problems()["linreg"]
inst = problem.make(n_samples=n, features=d)
out = {}
for cell in cells:
    backend, mode = cell.split("/")
    setup = plain_setup(0.01, "float32", "cpu", mode)
    s = registry.backends()[backend].prepare(problem, inst, setup)
    s.warmup()
    times = []
    for _ in range(7):
        t0 = time.perf_counter()
        s.run_steps(1)
        s.sync()
        times.append(time.perf_counter() - t0)
    out[cell] = float(np.median(times))
print(json.dumps(out))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--n-samples", type=float, default=2.6e7)
    parser.add_argument("--features", type=int, default=1)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    n, d = int(args.n_samples), args.features
    runs: dict[str, list[dict]] = {name: [] for name in SETTINGS}
    for pair in range(args.pairs):
        order = list(SETTINGS) if pair % 2 == 0 else list(SETTINGS)[::-1]
        for name in order:
            env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
            env.update(SETTINGS[name])
            done = subprocess.run(
                [sys.executable, "-c", CHILD, str(n), str(d), ",".join(CELLS)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            runs[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"pair {pair + 1} {name}: done", file=sys.stderr)
    rows = []
    nbytes = 4 * (n * d + n)
    for cell in CELLS:
        med = {}
        for name in SETTINGS:
            ts = np.array([r[cell] for r in runs[name]])
            q1, m, q3 = np.percentile(ts, [25, 50, 75])
            med[name] = m
            rows.append(
                {
                    "cell": cell,
                    "malloc": name,
                    "n_samples": n,
                    "features": d,
                    "time_per_step_s": m,
                    "iqr_s": q3 - q1,
                    "processes": len(ts),
                    "gb_per_s_at_roofline_bytes": nbytes / m / 1e9,
                }
            )
        print(
            f"{cell:24s} default {med['default'] * 1e3:8.2f} ms  reuse "
            f"{med['reuse'] * 1e3:8.2f} ms  default/reuse {med['default'] / med['reuse']:.2f}×"
        )
    if args.out:
        import pandas as pd

        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(rows).to_csv(args.out, index=False)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
