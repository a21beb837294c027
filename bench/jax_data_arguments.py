"""JAX's compiled step and loop with the data as arguments or as constants closed over, and
with or without donating the carried parameters: measured side by side in one process.

    python bench/jax_data_arguments.py [--out results/<machine>/jax-data-arguments.csv]

Sizes: `--n-samples roof` for D = 1 and D = 16 (X and y beyond 4× the last-level cache),
float32, linreg, plain gradient descent; the same update function as gdbench's jax
backend (jax.value_and_grad of the problem's loss, optax's sgd). Each variant: compiled
and warmed up off the clock, then REPEATS blocks of STEPS steps in random order of
variants; median ± IQR of the per-step time. A script rather than a pytest-benchmark
suite because the variants must be interleaved within one process to be compared.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import numpy as np

REPEATS = 15
STEPS = 10


def variants(jax, optax, problem, data, w0):
    """name → (run(carry, n) → carry, carry0)."""
    tx = optax.sgd(0.01)

    def update(carry, d):
        w, state = carry
        g = jax.grad(lambda v: problem.loss(v, **d))(w)
        updates, state = tx.update(g, state, w)
        return optax.apply_updates(w, updates), state

    def loop_args(carry, d, n):
        return jax.lax.fori_loop(0, n, lambda i, c: update(c, d), carry)

    def loop_closed(carry, n):
        return jax.lax.fori_loop(0, n, lambda i, c: update(c, data), carry)

    carry0 = (w0, tx.init(w0))
    step_args = jax.jit(update)
    step_args_donated = jax.jit(update, donate_argnums=0)
    step_closed = jax.jit(lambda c: update(c, data))
    scan_args = jax.jit(loop_args)
    scan_args_donated = jax.jit(loop_args, donate_argnums=0)
    scan_closed = jax.jit(loop_closed)

    def stepping(fn, *extra):
        def run(carry, n):
            for _ in range(n):
                carry = fn(carry, *extra)
            return carry

        return run

    return {
        "jit step, data as arguments (gdbench)": stepping(step_args, data),
        "jit step, data as arguments, carry donated": stepping(step_args_donated, data),
        "jit step, data closed over (constants)": stepping(step_closed),
        "scan loop, data as arguments (gdbench)": lambda c, n: scan_args(c, data, n),
        "scan loop, data as arguments, carry donated": lambda c, n: scan_args_donated(c, data, n),
        "scan loop, data closed over (constants)": lambda c, n: scan_closed(c, n),
    }, carry0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="CSV to write (default: print only)")
    args = parser.parse_args()

    import jax
    import optax
    import pandas as pd

    from gdbench import registry
    from gdbench.compat.environment import environment
    from gdbench.execution.limits import roof_samples
    from gdbench.timing.bandwidth import last_level_cache_bytes

    problem = registry.problems()["linreg"]
    rows = []
    for d in (1, 16):
        n = roof_samples(d, 4)
        inst = problem.make(n_samples=n, features=d)
        data = {k: jax.device_put(np.asarray(v, np.float32)) for k, v in inst.data.items()}
        w0 = jax.device_put(np.zeros(d, np.float32))
        runs, carry0 = variants(jax, optax, problem, data, w0)
        compile_s = {}
        fresh = lambda c0=carry0: jax.tree_util.tree_map(lambda x: x.copy(), c0)  # noqa: E731
        for name, run in runs.items():
            t0 = time.perf_counter()
            jax.block_until_ready(run(fresh(), 2))
            compile_s[name] = time.perf_counter() - t0
        times: dict[str, list[float]] = {name: [] for name in runs}
        order = [name for name in runs for _ in range(REPEATS)]
        random.Random(0).shuffle(order)
        for name in order:
            carry = fresh()  # a donated carry is deleted by the call
            jax.block_until_ready(carry)
            t0 = time.perf_counter()
            jax.block_until_ready(runs[name](carry, STEPS))
            times[name].append((time.perf_counter() - t0) / STEPS)
        nbytes = 4 * (n * d + n)
        for name, ts in times.items():
            q1, med, q3 = np.percentile(ts, [25, 50, 75])
            rows.append(
                {
                    "n_samples": n,
                    "features": d,
                    "variant": name,
                    "time_per_step_s": med,
                    "iqr_s": q3 - q1,
                    "gbps_at_roofline_bytes": nbytes / med / 1e9,
                    "first_call_s": compile_s[name],
                    "repeats": REPEATS,
                    "steps_per_repeat": STEPS,
                    "cache_bytes": last_level_cache_bytes(),
                    "jax": jax.__version__,
                    "cpu_model": environment()["cpu_model"],
                }
            )
            print(
                f"N×D={n}×{d:<3} {name:45s} {med * 1e3:8.3f} ms ± {(q3 - q1) * 1e3:.3f} "
                f"{nbytes / med / 1e9:6.1f} GB/s  first call {compile_s[name]:.2f} s"
            )
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(rows).to_csv(args.out, index=False)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
