"""Each cell's steps in time per step over a history, each judged against noise measured
without it.

A cell's series is log(time per step) over the runs that hold it. A point carries its own
variance (within-run noise: its rounds, or its blocks), and a candidate step at run r is
weighed against run-to-run noise measured from the differences between successive runs
that do not cross r: the cell's own (``step_detect.noise_floor`` with that difference left
out), shrunk towards the history's cells measured the same way (their 75th percentile:
a cell noisier than most must not borrow a quiet one's floor; ``shrunk_floor``). A step
is reported where the penalised fit (``step_detect.fit``) with that floor places one at
r. Left in, the step inflates its own floor: with three runs, one of the two differences
is the step itself, and a 6.7× slowdown in the third run passed.

A cell is testable where a candidate's floor rests on at least one measured difference
(its own or another cell's): a cell of two runs is, beside cells of three runs or more; a
history of two runs is not (``untestable``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from gdbench.reports import step_detect

# A cell's noise floor, from few runs, leans on the history's other cells as on this many
# differences of its own (a floor from 5 successive differences can come out 10× too small).
PRIOR_RUNS = 5
# Fewer runs of a cell than this, and no other cell to lend a floor: no test.
MIN_RUNS = 3


def shrunk_floor(own: float, pooled: float, diffs: int) -> float:
    """The cell's run-to-run scatter: its own, from ``diffs`` successive differences,
    weighted by their number, and the history's cells' (``pooled``) by ``PRIOR_RUNS``."""
    k = max(diffs, 0)
    return math.sqrt((PRIOR_RUNS * pooled**2 + k * own**2) / (PRIOR_RUNS + k))


@dataclass
class CellFit:
    """One cell's series of log(time per step) over runs, the variance each point is
    weighted by (its own + the cell's noise floor², the floor measured within the fitted
    segments), the floor, and the fitted steps, each with the floor it was judged by."""

    points: pd.DataFrame
    y: np.ndarray
    var: np.ndarray
    floor: float
    steps: list[step_detect.Step]
    step_floors: list[float] = field(default_factory=list)
    untestable: str = ""  # why no step could be judged, or ""


def within_variance(log_var: np.ndarray) -> np.ndarray:
    """Each point's within-run variance, no smaller than the cell's median over its runs:
    three rounds' variance is a draw with two degrees of freedom (under a tenth of the
    truth one time in twenty), and one run's luck must not weigh its point tenfold."""
    return np.maximum(log_var, np.median(log_var)) if len(log_var) else log_var


def own_floor(y: np.ndarray, runs: np.ndarray, left_out: set[int]) -> tuple[float, int]:
    """The floor from successive differences of ``y`` (points at ``runs``) that do not
    cross any run in ``left_out`` (a difference crosses run r when its later point is at r),
    and how many there were."""
    d = np.abs(np.diff(y))
    keep = np.array([r not in left_out for r in runs[1:]], dtype=bool)
    kept = d[keep]
    return (step_detect.noise_floor_of(kept), int(kept.size)) if kept.size else (0.0, 0)


def _pooled(series: dict[str, tuple[np.ndarray, np.ndarray]], left_out: set[int]) -> float | None:
    """The 75th percentile of the floors of the cells with a difference left once
    ``left_out`` is; None where no cell has one. (The median let the noisiest cells, whose
    own floor rests on one difference in a history of three runs, borrow a floor too
    small: seeded synthetic histories shaped like the committed one had a false step in
    half of those of three runs; bench/history_rule.py.)"""
    floors = [f for y, runs in series.values() for f, m in [own_floor(y, runs, left_out)] if m]
    return float(np.percentile(floors, 75)) if floors else None


def _judged(y, within, floors: dict[int, float]) -> tuple[list[step_detect.Step], list[float]]:
    """The steps of ``y`` each candidate's own floor confirms: a step at k where the fit
    with the floor measured without k places one there. Screened first by one fit with
    the smallest of those floors (the fit most ready to place a step), so that a long
    history fits again only where a step may be."""
    if not floors:
        return [], []
    lowest = min(floors.values())
    screened = {s.at for s in step_detect.fit(y, within + lowest**2)} & set(floors)
    steps, used = [], []
    for k in sorted(screened):
        found = [s for s in step_detect.fit(y, within + floors[k] ** 2) if s.at == k]
        if found:
            steps.append(found[0])
            used.append(floors[k])
    return steps, used


def fits(pts: pd.DataFrame) -> dict[str, CellFit]:
    """Each timed cell with two points or more, its steps found (see the module)."""
    timed = pts[pts.time_per_step_s.notna() & (pts.time_per_step_s > 0)]
    groups = {
        cell: g.sort_values("run") for cell, g in timed.groupby("cell", sort=True) if len(g) > 1
    }
    series = {
        cell: (np.log(g.time_per_step_s.to_numpy(float)), g.run.to_numpy(int))
        for cell, g in groups.items()
    }
    pooled: dict[int, float | None] = {}  # per candidate run, computed once for all cells
    pooled_without: dict[frozenset, float | None] = {}  # per set of a cell's steps' runs
    out = {}
    for cell, g in groups.items():
        y, runs = series[cell]
        within = within_variance(g.log_var.fillna(0).to_numpy(float))
        floors = {}  # candidate position → the floor measured without it
        for k in range(1, len(y)):
            r = int(runs[k])
            if r not in pooled:
                pooled[r] = _pooled(series, {r})
            own, m = own_floor(y, runs, {r})
            if pooled[r] is not None or m:  # else nothing measured without it: no test
                floors[k] = shrunk_floor(own, pooled[r] or 0.0, m)
        steps, step_floors = _judged(y, within, floors)
        at = {int(runs[s.at]) for s in steps}
        own, m = own_floor(y, runs, at)
        key = frozenset(at)  # most cells have no step: one pooled floor serves them all
        if key not in pooled_without:
            pooled_without[key] = _pooled(series, at)
        floor = shrunk_floor(own, pooled_without[key] or 0.0, m)
        why = "" if floors else f"{len(y)} runs; noise without the step needs {MIN_RUNS}"
        out[cell] = CellFit(g, y, within + floor**2, floor, steps, step_floors, why)
    return out
