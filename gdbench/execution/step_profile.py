"""A sweep's "where the time goes": every timed cell at the largest N of each problem, D,
dtype, device and optimizer is prepared again in a fresh worker process (one per backend,
as for timing) and its step profiled (``gdbench.timing.breakdown``); the rows land in
``breakdown.csv``, which the report reads."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from gdbench.results.schema import Status
from gdbench.spec import RunSpec
from gdbench.timing.breakdown import BREAKDOWN_COLUMNS, explain, profile

GROUP = ["problem", "features", "dtype", "device", "optimizer"]
PROFILE_COLUMNS = [
    *RunSpec.__dataclass_fields__,
    "step_s",
    "profiled_steps",
    "roofline_bytes",
    "explanation",
    *BREAKDOWN_COLUMNS,
]


def largest_cells(sweep: pd.DataFrame) -> list[RunSpec]:
    """The timed cells at the largest N of each problem, D, dtype, device and optimizer."""
    timed_ok = pd.to_numeric(sweep.time_per_step_s, "coerce").notna()
    timed = sweep[(sweep.status == Status.OK) & timed_ok]
    if "bytes_per_step" in timed:  # problems without data (quadratic) have no roofline
        timed = timed[pd.to_numeric(timed.bytes_per_step, "coerce") > 0]
    if timed.empty:
        return []
    top = timed.groupby(GROUP, dropna=False).n_samples.transform("max")
    return [RunSpec.from_row(r) for r in timed[timed.n_samples == top].to_dict("records")]


@contextlib.contextmanager
def quiet_stderr():
    """File descriptor 2 sent to /dev/null (C++ libraries write there directly)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def profile_cell(spec: RunSpec, opts) -> list[dict] | str:
    """The worker's task: the cell's step profiled; its rows, or an error line."""
    from gdbench import registry
    from gdbench.execution.runner import exception_line, instance, problem_of, setup_of

    try:
        backend = registry.backends()[spec.backend]
        backend.profiling()
        problem = problem_of(spec.problem, spec.problem_args)
        inst = instance(spec.instance_args(), opts.data_file)
        session = backend.prepare(problem, inst, setup_of(spec, opts))
        with quiet_stderr():  # torch's profiler prints start/stop lines from C++
            rows, step_s, steps = profile(session)
    except NotImplementedError as exc:
        return str(exc)
    except Exception as exc:
        return exception_line(exc)
    ideal = problem.bytes_per_step(inst, np.dtype(spec.dtype).itemsize)
    roof = (opts.limits or {}).get(spec.device, {}).get("gbps")
    line = explain(rows, step_s, ideal, roof)
    common = {
        **spec.asdict(),
        "step_s": step_s,
        "profiled_steps": steps,
        "roofline_bytes": ideal,
        "explanation": line,
    }
    return [{**common, **r} for r in rows]


def write_breakdown(out: Path, opts, stream=None) -> Path | None:
    """Profiles the sweep's largest cells into ``out/breakdown.csv`` (rows appended as each
    cell finishes); None where no cell was timed."""
    from gdbench.execution.runner import in_backend_workers

    stream = stream or sys.stderr
    specs = largest_cells(pd.read_csv(out / "sweep.csv"))
    if not specs:
        return None
    path = out / "breakdown.csv"
    pd.DataFrame(columns=PROFILE_COLUMNS).to_csv(path, index=False)
    print(
        f"profiling one step of {len(specs)} cells at the largest N (breakdown.csv)…", file=stream
    )

    def on_result(spec, result):
        if isinstance(result, str):
            print(
                f"  {spec.backend}/{spec.mode} D={spec.features}: no profile: {result}", file=stream
            )
            return
        frame = pd.DataFrame(result).reindex(columns=PROFILE_COLUMNS)
        frame.to_csv(path, mode="a", header=False, index=False)

    in_backend_workers([(s,) for s in specs], opts, profile_cell, on_result, lambda spec: None)
    return path
