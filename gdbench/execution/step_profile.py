"""A sweep's "where the time goes": every timed cell at the largest N of each problem, D,
dtype, device and optimizer is prepared again in a fresh worker process (one per backend,
as for timing) and its step profiled (``gdbench.timing.breakdown``); the rows land in
``breakdown.csv``, which the report reads."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from gdbench.execution.schedule import profile_cells
from gdbench.results.files import atomic_csv
from gdbench.results.schema import Status
from gdbench.spec import RunSpec
from gdbench.timing.breakdown import BREAKDOWN_COLUMNS

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


def write_breakdown(out: Path, opts, executor, stream=None) -> Path | None:
    """Profiles the sweep's largest cells into ``out/breakdown.csv`` (rows appended as each
    cell finishes) where ``executor`` runs the sweep's cells; None where no cell was timed."""

    stream = stream or sys.stderr
    specs = largest_cells(pd.read_csv(out / "sweep.csv"))
    if not specs:
        return None
    path = out / "breakdown.csv"
    rows = pd.DataFrame(columns=PROFILE_COLUMNS)
    atomic_csv(rows, path)
    print(
        f"profiling one step of {len(specs)} cells at the largest N (breakdown.csv)…", file=stream
    )

    def on_result(spec, result):
        if isinstance(result, str):
            print(
                f"  {spec.backend}/{spec.mode} D={spec.features}: no profile: {result}", file=stream
            )
            return
        nonlocal rows
        frame = pd.DataFrame(result).reindex(columns=PROFILE_COLUMNS)
        rows = frame if rows.empty else pd.concat([rows, frame], ignore_index=True)
        atomic_csv(rows, path)  # the whole file again: a few rows a cell

    profile_cells(executor, specs, opts, on_result)
    return path
