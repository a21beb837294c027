"""A sweep folder read back for its report: sweep.csv, trajectories.csv and machine.json
checked, fractions beyond their roof shown as the warning a sweep now writes, and the
options the folder's run began with."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from gdbench.reports import plots
from gdbench.results.schema import check_values, read_results
from gdbench.timing.machine_file import check_limits


def load_sweep(folder: Path | str) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """A sweep folder's rows, trajectories and bandwidths; a usage error when they do not
    parse as what gdbench writes."""
    from gdbench.errors import UsageError

    folder = Path(folder)
    try:
        sweep = plots.sweep_frame(read_results(folder / "sweep.csv"))
        traj = plots.sweep_frame(read_results(folder / "trajectories.csv"))
        limits = json.loads((folder / "machine.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise UsageError(f"{folder}: its results cannot be read ({exc})") from None
    missing = [c for c in ("problem", "backend", "mode", "n_samples") if c not in sweep]
    if missing or "step" not in traj or not isinstance(limits, dict):
        raise UsageError(f"{folder}: sweep.csv, trajectories.csv or machine.json is not gdbench's")
    check_values(sweep, folder / "sweep.csv")
    check_values(traj, folder / "trajectories.csv")
    return unbounded_as_warned(sweep), traj, check_limits(limits, folder / "machine.json")


def unbounded_as_warned(sweep: pd.DataFrame) -> pd.DataFrame:
    """A sweep's rows as the report shows them: a fraction above ``ROOF_SLACK`` of its roof
    (a folder written before sweeps bounded their roofs) is no fraction but the warning
    that the roof was underestimated, as a sweep now writes it."""
    from gdbench.timing.roofline import ROOF_NOTE, ROOF_SLACK

    if "roofline_frac" not in sweep:
        return sweep
    over = sweep.roofline_frac > ROOF_SLACK
    if not over.any():
        return sweep
    sweep = sweep.copy()
    warning = sweep.timing_warning.astype("string").fillna("")
    for i in sweep.index[over]:
        bound = sweep.at[i, "bound"] if "bound" in sweep else ""
        note = f"{ROOF_NOTE}the step ran at {sweep.at[i, 'roofline_frac']:.2f}× the measured "
        note += f"{bound if isinstance(bound, str) else ''} roof"
        warning[i] = "; ".join(w for w in (warning[i], note) if w)
    sweep["timing_warning"] = warning.replace("", pd.NA)
    sweep.loc[over, "roofline_frac"] = float("nan")
    return sweep


def command_of(folder: Path) -> dict:
    """The options the folder's run began with (command.json); {} where there is none or
    it does not read (a folder saved by an older version)."""
    try:
        command = json.loads((folder / "command.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return command if isinstance(command, dict) else {}
