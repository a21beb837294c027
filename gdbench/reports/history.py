"""`gdbench history PATH…`: result folders over time. Per cell (matched by key, as in
``compare``) a series over runs of its time per step, with each point's spread, and of its
numerics (verdict, max deviation from float64, final loss, error ratio), each point with
the environment it ran in; steps in the times (``history_fit``), reported as regressions,
recoveries and improvements with what changed in the environment between them, and
numerics events where a trajectory moved beyond its own rounding.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gdbench.errors import UsageError
from gdbench.reports.compare import ENV_COLUMNS, RESULT_FILES, Side, label, load
from gdbench.reports.history_fit import CellFit
from gdbench.reports.table import number
from gdbench.results.schema import Status

NUMERICS = ("verdict", "max_rel_dev", "final_loss", "error_ratio")
ENVIRONMENT = (*ENV_COLUMNS, "host")


def folders(paths) -> list[Path]:
    """The result folders in ``paths``: each a folder gdbench wrote, or a folder holding
    them at any depth; a usage error where a path is neither."""
    found: list[Path] = []
    for p in map(Path, paths):
        if not p.is_dir():
            raise UsageError(f"history: {p} is not a folder")
        before = len(found)
        for root, dirs, files in os.walk(p):
            if any(f in files for f in RESULT_FILES):
                found.append(Path(root))
                dirs.clear()  # a result folder's own subfolders are its, not runs
            dirs.sort()
        if len(found) == before:
            raise UsageError(f"history: {p} holds no gdbench results (no summary.csv or sweep.csv)")
    return list(dict.fromkeys(found))


@dataclass
class Run:
    """One result folder as a point in time: when it ran (its rows' earliest timestamp)
    and the commit its rows record."""

    folder: Path
    side: Side
    when: pd.Timestamp
    commit: str


def runs(paths) -> list[Run]:
    """The result folders in ``paths``, ordered by when they ran, then by commit."""
    out = []
    for folder in folders(paths):
        side = load(folder, (), what="history")
        stamps = pd.to_datetime(
            pd.Series([r.get("timestamp") for r in side.rows]), errors="coerce", utc=True
        ).dropna()
        when = (
            stamps.min()
            if len(stamps)
            else pd.Timestamp(folder.stat().st_mtime, unit="s", tz="UTC")
        )
        commits = [str(r.get("git_commit") or "") for r in side.rows]
        commit = max(set(commits), key=commits.count) if commits else ""
        out.append(Run(folder, side, when, commit))
    return sorted(out, key=lambda r: (r.when, r.commit, str(r.folder)))


def _log_variance(side: Side, key: tuple, row: dict) -> float:
    """The variance of log(time per step) of one point: from its rounds' medians where it
    has several, from its blocks where one, from its IQR where no samples are kept."""
    rounds = side.samples.get(key)
    if rounds:
        if len(rounds) > 1:
            m = np.log([np.median(r) for r in rounds])
            return float(np.var(m, ddof=1) / len(m))
        blocks = np.log(rounds[0][rounds[0] > 0])
        if len(blocks) > 1:
            mad = 1.4826 * np.median(np.abs(blocks - np.median(blocks)))
            return float(mad**2 / len(blocks))
    t, iqr = number(row.get("time_per_step_s")), number(row.get("time_per_step_iqr_s"))
    if t and iqr is not None:
        repeats = number(row.get("repeats")) or 1
        return float((iqr / 1.349 / t) ** 2 / repeats)
    return 0.0


def points(history: list[Run]) -> pd.DataFrame:
    """One row per run and cell: the series every chart and test is made of."""
    rows = []
    labels: dict[tuple, str] = {}  # a key's label, made once (a history repeats its cells)
    for i, run in enumerate(history):
        for r, key in zip(run.side.rows, run.side.keys, strict=True):
            if r.get("status") not in (Status.OK, Status.DIVERGED):
                continue
            if key not in labels:
                labels[key] = label(r)
            t = number(r.get("time_per_step_s"))
            rows.append(
                {
                    "run": i,
                    "folder": str(run.folder),
                    "when": run.when,
                    "commit": run.commit,
                    "cell": labels[key],
                    "label": labels[key],
                    "key": key,
                    **{c: r.get(c) for c in ("problem", "backend", "mode", "optimizer", "dtype")},
                    "time_per_step_s": t,
                    "log_var": _log_variance(run.side, key, r) if t else math.nan,
                    "rounds": number(r.get("rounds")),
                    **{c: r.get(c) for c in NUMERICS},
                    **{c: r.get(c) for c in ENVIRONMENT},
                    **{c: r.get(c) for c in UNLABELLED},
                }
            )
    return _distinct_cells(pd.DataFrame(rows))


# What a cell's key holds that its label does not say: where two keys share a label (a sweep
# over --lr or seeds, two --opt settings of one optimizer), the cell's name adds these.
UNLABELLED = ("seed", "lr", "steps", "data", "optimizer_args", "problem_args")


def _distinct_cells(pts: pd.DataFrame) -> pd.DataFrame:
    """One name per key: a label that several keys share gets what differs between them
    ("linreg N=4 … float32 lr=0.01")."""
    if pts.empty:
        return pts
    for name, g in pts.groupby("cell", sort=False):
        if g.key.nunique() < 2:
            continue
        differing = [c for c in UNLABELLED if g[c].astype(str).nunique() > 1]
        if differing:
            extra = (
                g[differing]
                .astype(str)
                .apply(lambda r: " ".join(f"{c}={v}" for c, v in r.items()), axis=1)
            )
        else:
            codes = {k: f"#{i + 1}" for i, k in enumerate(dict.fromkeys(g.key))}
            extra = pd.Series([codes[k] for k in g.key], index=g.index)
        pts.loc[g.index, "cell"] = name + " " + extra
    return pts


def environment_change(before: pd.Series, after: pd.Series) -> str:
    """What differs in the environment between two points: "jax 0.9.2 → 0.10.2; threads
    2 → 1", or "" where nothing recorded does."""
    parts = []
    for c in ENVIRONMENT:
        a, b = before.get(c), after.get(c)
        a, b = ("" if pd.isna(a) else str(a)), ("" if pd.isna(b) else str(b))
        if a == b:
            continue
        if c == "versions":
            old = dict(p.rsplit(" ", 1) for p in a.split(", ") if " " in p)
            new = dict(p.rsplit(" ", 1) for p in b.split(", ") if " " in p)
            for lib in sorted(set(old) | set(new)):
                if old.get(lib) != new.get(lib):
                    parts.append(f"{lib} {old.get(lib, '–')} → {new.get(lib, '–')}")
        else:
            parts.append(f"{c} {a or '–'} → {b or '–'}")
    return "; ".join(parts)


EVENT_COLUMNS = [
    "kind",
    "cell",
    "run_before",
    "run_after",
    "folder_before",
    "folder_after",
    "ratio",
    "low",
    "high",
    "noise_floor",
    "changed",
    "detail",
    "recovered",
]


def event(kind, before, after, detail, ratio=math.nan, low=math.nan, high=math.nan, floor=math.nan):
    """One event of a cell between the points ``before`` and ``after``, as a row of
    ``EVENT_COLUMNS`` (a timing event's ratio, its interval and the cell's noise floor;
    NaN for a numerics event)."""
    return {
        "kind": kind,
        "cell": after.cell,
        "run_before": int(before.run),
        "run_after": int(after.run),
        "folder_before": before.folder,
        "folder_after": after.folder,
        "ratio": ratio,
        "low": low,
        "high": high,
        "noise_floor": floor,
        "changed": environment_change(before, after),
        "detail": detail,
        "recovered": False,
    }


def timing_events(cell_fits: dict[str, CellFit], threshold: float) -> list[dict]:
    """Each cell's steps in time per step beyond ``threshold`` (a fraction): regressions
    (slower), recoveries (faster again after a regression) and improvements."""
    events: list[dict] = []
    for fit in cell_fits.values():
        g = fit.points
        open_regression = None
        for step, judged_by in zip(fit.steps, fit.step_floors, strict=True):
            low, high = step.interval
            if abs(step.ratio - 1) <= threshold or low <= 1 <= high:
                continue
            if step.ratio > 1:
                kind, open_regression = "regression", len(events)
            elif open_regression is not None:
                kind = "recovery"
                events[open_regression]["recovered"] = True
                open_regression = None
            else:
                kind = "improvement"
            before, after = g.iloc[step.at - 1], g.iloc[step.at]
            detail = f"{step.ratio:.3g}× [{low:.3g}, {high:.3g}]"
            floor = math.expm1(judged_by)
            events.append(event(kind, before, after, detail, step.ratio, low, high, floor))
    return events


def numerics_events(pts: pd.DataFrame) -> list[dict]:
    """Between consecutive runs of a cell: its verdict changed, its max deviation from the
    float64 reference changed by more than a factor of 2, or its final loss moved by more
    than either run's own distance from the reference (beyond its rounding)."""
    events = []
    read: dict[str, dict[str, np.ndarray] | None] = {}  # each folder's trajectories, once
    for _, g in pts.groupby("cell", sort=True):
        g = g.sort_values("run")
        for i in _numerics_candidates(g):
            a, b = g.iloc[i - 1], g.iloc[i]
            why = _numerics_change(a, b)
            if why:
                events.append(event("numerics", a, b, why + first_difference(a, b, read)))
    return events


def first_difference(a: pd.Series, b: pd.Series, read: dict) -> str:
    """ " from step k": the first recorded step at which the cell's trajectory (loss, w,
    gradient, as written) differs between the two runs, where both folders kept it
    (``read``: the folders' trajectories read so far)."""
    for folder in (a.folder, b.folder):
        if folder not in read:
            read[folder] = _trajectories(folder)
    ta, tb = (None if read[p.folder] is None else read[p.folder].get(p.label) for p in (a, b))
    if ta is None or tb is None or not len(ta) or not len(tb):
        return ""
    n = min(len(ta), len(tb))
    x, y = ta[:n, 1:], tb[:n, 1:]
    differs = np.flatnonzero(((x != y) & ~(np.isnan(x) & np.isnan(y))).any(axis=1))
    return f" from step {int(ta[differs[0], 0])}" if len(differs) else ""


def _trajectories(folder: str) -> dict[str, np.ndarray] | None:
    """A folder's trajectories.csv per cell label, as numbers: step, then the other values
    (NaN where a column does not apply); None where it has none or it cannot be read."""
    from gdbench.results.schema import SPEC_COLUMNS, read_results

    path = Path(folder) / "trajectories.csv"
    if not path.is_file():
        return None
    try:
        df = read_results(path)
        spec = [c for c in SPEC_COLUMNS if c in df]
        values = [c for c in df.columns if c not in spec and c != "step"]
        out = {}
        for _, g in df.groupby(spec, sort=False, dropna=False):
            numbers = g[["step", *values]].apply(pd.to_numeric, errors="coerce")
            first = {**g.iloc[0].to_dict(), "steps": 0}  # a label does not name the steps
            out[label(first)] = numbers.to_numpy(float)
        return out
    except (OSError, ValueError, TypeError, KeyError, pd.errors.ParserError):
        return None  # a trajectory that cannot be read only leaves the step unsaid


def _numerics_candidates(g: pd.DataFrame) -> np.ndarray:
    """The positions in one cell's series where its verdict, max deviation or final loss
    differs at all from the run before (``_numerics_change`` then judges each)."""
    cols = g[["verdict", "max_rel_dev", "final_loss"]].astype(str).to_numpy()
    return np.flatnonzero((cols[1:] != cols[:-1]).any(axis=1)) + 1


def _numerics_change(a: pd.Series, b: pd.Series) -> str:
    if str(a.verdict) != str(b.verdict):
        return f"verdict {a.verdict} → {b.verdict}"
    da, db = number(a.max_rel_dev), number(b.max_rel_dev)
    if da and db and max(da, db) > 2 * min(da, db):
        return f"max dev {da:.2g} → {db:.2g}"
    la, lb = number(a.final_loss), number(b.final_loss)
    if la is not None and lb is not None and la != lb:
        own = max(da or 0.0, db or 0.0) * max(abs(la), abs(lb))
        if abs(lb - la) > own:
            return f"final loss {la:.7g} → {lb:.7g}"
    return ""
