"""What a run may ask of this machine and of its dtypes, checked before any work starts.

Each check raises ``UsageError`` with one line that names the option to change.
"""

from __future__ import annotations

import math

from gdbench.compat.machine import available_cpus, last_level_cache_bytes, physical_memory
from gdbench.errors import UsageError
from gdbench.results.schema import RECORDED_PARAMS, TRAJECTORY_ID

# Share of physical memory a run may plan to use; the rest is the frameworks' own, the
# operating system's and the CSV writer's headroom.
MEMORY_SHARE = 0.6
# Python objects recorded per step besides the arrays (loss, gradient and parameter
# objects and their list slots), and a summary-free trajectory row's fixed columns.
STEP_OVERHEAD_BYTES = 400
TRAJECTORY_ID_COLUMNS = len(TRAJECTORY_ID) + 1  # and the step


def _gib(n: float) -> str:
    return f"{n / 1024**3:.1f} GiB"


# What a run holds per sample, parent and worker together, as multiples of a float64 value
# of X (per feature) and of y (per sample): X lives in float64 (generation, reference) and
# in the run's dtype, and N-long temporaries (residuals, their gradients) come on top.
# Measured as the growth of the peak resident memory of the whole process tree between two
# sizes (tests/test_limits.py repeats it at N = 1e6 and 4e6, D = 1): torch autograd, timed,
# grew 14.5 float64 values a sample at D = 1 there (11.7 between N = 2e6 and 8e6, and
# 2.1 per X value + 9.6 per sample from D = 1 and 4 at those sizes), JAX 6.8, NumPy 5.3.
# The old guard (3 per X value, 3 per sample) let torch hold twice what it allowed. The
# float32 baseline (numerics.budget: the planner iterates the spec in float32 beside the
# reference) added up to 4.8 a sample while it took torch autodiff for every problem:
# torch autograd grew 19.3 there (463.7 MB from N = 1e6 to 4e6 on a 2-core AMD EPYC). A
# built-in problem's baseline now takes its closed-form gradient in NumPy (not measured
# again); a plug-in's still takes autodiff, so the guard keeps that figure.
PER_X_VALUE, PER_SAMPLE = 3, 20


def data_bytes(n: int, d: int) -> int:
    """What a run's data cost in memory at N×D, parent and worker together (see above)."""
    return 8 * (PER_X_VALUE * n * d + PER_SAMPLE * n)


def check_data_memory(n: int, d: int) -> None:
    """Generated data live in float64 (generation, reference) and in the run's dtype."""
    need = data_bytes(n, d)
    total = physical_memory()
    if total and need > MEMORY_SHARE * total:
        raise UsageError(
            f"N×D = {n}×{d} needs about {_gib(need)}, more than this machine's "
            f"{total / 1024**3:.0f} GiB allows (lower --n-samples or --features)"
        )


# `--n-samples roof`: X and y this many times the last-level cache, so that no step's data
# can stay in it and the memory bound applies.
CACHE_MULTIPLE = 4


def _two_digits(n: float, up: bool) -> int:
    """``n`` rounded to two significant digits, up or down: 25165825 → 26000000."""
    scale = 10 ** max(0, math.floor(math.log10(max(n, 1))) - 1)
    return int((math.ceil if up else math.floor)(n / scale) * scale)


def roof_samples(features: int, itemsize: int, notes: list[str] | None = None) -> int:
    """The smallest N (two significant digits) whose X (N×D) and y, at ``itemsize`` bytes,
    exceed ``CACHE_MULTIPLE``× this machine's last-level cache; at most what
    ``check_data_memory`` allows, with a note appended to ``notes`` when that caps it (the
    planner says it once the whole command has been checked)."""
    cache = last_level_cache_bytes()
    n = _two_digits(CACHE_MULTIPLE * cache / (itemsize * (features + 1)) + 1, up=True)
    total = physical_memory()
    if total:
        most = _two_digits(MEMORY_SHARE * total / data_bytes(1, features), up=False)
        if n > most:
            if notes is not None:
                notes.append(
                    f"D={features} would need N={n}; this machine's memory allows {most} "
                    f"(X and y {itemsize * most * (features + 1) / cache:.2g}× the "
                    "last-level cache)"
                )
            n = most
    return n


DENSE_COPIES = 4  # min(N, D)² float64 matrices the reference holds at once, at most

# Characters a value takes in trajectories.csv: pandas writes float64 with repr's 17
# significant digits ("-0.0012345678901234567"), and a comma. Measured: 22.5 a value on
# linreg at D = 5000.
CSV_VALUE_BYTES = 24


def recorded_rows(steps: int, every: int = 1) -> int:
    """At most how many rows of trajectories.csv a cell writes (``results.schema.
    recorded_steps``: the multiples of ``every``, step 1 and the last), counted without
    building the steps (a billion-step run is refused here)."""
    return steps if every <= 1 else min(steps, steps // every + 2)


def row_values(params: int) -> int:
    """The values of one trajectories.csv row: its id columns, step, loss, w and grad
    (their norms beyond ``RECORDED_PARAMS``)."""
    return 2 * (params if params <= RECORDED_PARAMS else 1) + 1 + TRAJECTORY_ID_COLUMNS


def held_bytes(steps: int, params: int) -> int:
    """What one trajectory holds while its run records it: float64 loss, gradient and
    parameters per step, and the Python objects that carried them."""
    return steps * (8 * (2 * params + 1) + STEP_OVERHEAD_BYTES)


def table_bytes(steps: int, params: int, every: int = 1) -> int:
    """Its rows in the writer, which keeps every cell's twice: as float64 values and as the
    CSV text it writes trajectories.csv from (results.writer renders each run once)."""
    return recorded_rows(steps, every) * (8 + CSV_VALUE_BYTES) * row_values(params)


def check_run_memory(
    specs,
    references: int,
    params=lambda spec: spec.features,
    every: int = 1,
    in_memory: bool = False,
) -> None:
    """Everything a run keeps: the largest instance's data, every reference's trajectory
    (computed in the parent, whole), each running cell's whole trajectory (one per backend's
    worker) and every cell's recorded rows (the writer keeps them all to rewrite
    trajectories.csv); ``in_memory`` (no results folder), trajectories.csv's text too and
    the frame read from it. ``params(spec)`` is a cell's number of parameters."""
    total = physical_memory()
    if not total or not specs:
        return
    data = max(data_bytes(s.n_samples, s.features) for s in specs)
    # The reference's dense work: linreg's closed form eigendecomposes XᵀX/N (the matrix, its
    # eigenvectors and LAPACK's workspace, float64), logreg's rate bound takes its spectrum,
    # both on the smaller side (N×N when N < D, see products.gram_eigh).
    data += max((DENSE_COPIES * 8 * min(s.n_samples, s.features) ** 2 for s in specs), default=0)
    tables = sum(table_bytes(s.steps, params(s), every) for s in specs)
    tables += references * max(table_bytes(s.steps, params(s), every) for s in specs)
    held = (references + len({s.backend for s in specs})) * max(
        held_bytes(s.steps, params(s)) for s in specs
    )
    traj = tables + held
    if in_memory:
        traj += 2 * csv_bytes(specs, references, params, every)
    if data + traj > MEMORY_SHARE * total:
        if traj < data:
            fix = "--n-samples or --features"
        elif data + held <= MEMORY_SHARE * total:  # thinning the recorded rows is enough
            fix = "--record-every, or --steps"
        else:  # a whole run's steps are held while it runs, whatever is recorded
            fix = "--steps"
        raise UsageError(
            f"{len(specs)} cells of up to {max(s.steps for s in specs)} steps need about "
            f"{_gib(data + traj)} (trajectories {_gib(traj)}, data {_gib(data)}), more "
            f"than this machine's {total / 1024**3:.0f} GiB allows (lower {fix}, or run "
            "fewer cells)"
        )


def csv_bytes(specs, references: int, params=lambda spec: spec.features, every: int = 1) -> int:
    """About what trajectories.csv will hold once every cell and reference is written."""
    per_spec = [recorded_rows(s.steps, every) * row_values(params(s)) for s in specs]
    if not per_spec:
        return 0
    return CSV_VALUE_BYTES * (sum(per_spec) + references * max(per_spec))


def check_disk(
    out, specs, references: int, params=lambda spec: spec.features, every: int = 1
) -> None:
    """trajectories.csv must fit on the results folder's disk twice over: each rewrite
    goes to a temporary file beside the old one."""
    import shutil
    from pathlib import Path

    need = 2 * csv_bytes(specs, references, params, every)
    place = Path(out).absolute()
    while not place.exists() and place != place.parent:
        place = place.parent
    try:
        free = shutil.disk_usage(place).free
    except OSError:
        return
    if free == 0:  # /proc, a full disk: the real cause, not "0.0 GiB more than 0.0 GiB"
        raise UsageError(f"--out {out}: nothing can be written under {place} (no space free)")
    if need > free:
        raise UsageError(
            f"trajectories.csv would be about {_gib(need / 2)} (written twice over while it is "
            f"rewritten), more than the {_gib(free)} free under {place} (--record-every K "
            "keeps every K-th step; or lower --steps, or run fewer cells)"
        )


def check_device_memory(specs) -> None:
    """CUDA cells keep their data on the device: it must fit in the device memory that
    each cell's backend says is free (``Backend.free_memory``; unknown: not checked)."""
    from gdbench import registry

    item = {"float32": 4, "float64": 8}
    need: dict[str, int] = {}
    for s in specs:
        if s.device == "cuda":
            n = item.get(s.dtype, 8) * (s.n_samples * s.features + s.n_samples)
            need[s.backend] = max(need.get(s.backend, 0), n)
    for backend, n in need.items():
        free = registry.backends()[backend].free_memory("cuda")
        if free is not None and n > MEMORY_SHARE * free:
            raise UsageError(
                f"the data need about {_gib(n)} on the GPU, which has {_gib(free)} free "
                f"for {backend} (lower --n-samples or --features)"
            )


def check_representable(value: float, dtypes, what: str) -> None:
    """A learning rate or hyperparameter must survive the cast to every run's dtype: not
    overflow to inf, not underflow to 0."""
    import numpy as np

    for dt in dtypes:
        with np.errstate(all="ignore"):
            cast = np.float64(value).astype(dt)
        if not np.isfinite(cast) or (value != 0 and cast == 0):
            info = np.finfo(dt)
            raise UsageError(
                f"{what}={value:g} cannot be represented in {dt} (finite values up to "
                f"{info.max:.4g}, nonzero ones from {info.smallest_subnormal:.4g})"
            )


def check_threads(threads: int | None) -> None:
    """More threads than the CPUs gdbench may use would be recorded but never run."""
    if threads and threads > available_cpus():
        raise UsageError(
            f"--threads {threads}: this machine lets gdbench use {available_cpus()} CPUs"
        )
