"""What ``gdbench.history`` returns: result folders over time, with the steps found in
each cell's time per step and the changes in its numerics."""

from __future__ import annotations

import os

from gdbench.api.keywords import text


class History:
    """``runs`` (the folders in the order they ran), ``points`` (one row per run and
    cell: time per step with the variance of its log, numerics, environment) and
    ``events`` (regressions, recoveries, improvements and numerics events, each with the
    runs on either side and what changed between them) as DataFrames; ``fails(pct)``:
    what the latest run holds that ``--fail-on-regression PCT`` fails on."""

    def __init__(self, runs, points, events, threshold: float, fits=None):
        self.runs, self.points, self.events, self.threshold = runs, points, events, threshold
        self.fits = fits or {}  # cell → reports.history.CellFit: what the page draws

    def fails(self, percent: float) -> list[str]:
        """A regression above ``percent`` that the latest run still holds (not recovered,
        in a cell the latest run has), or a numerics event that came with the latest run."""
        if not self.runs or not len(self.events):
            return []
        latest = len(self.runs) - 1
        cells = set(self.points[self.points.run == latest].cell)
        out = []
        for e in self.events.itertuples():
            if e.kind == "numerics" and e.run_after == latest:
                out.append(f"{e.cell}: numerics {e.detail} ({e.changed or 'no recorded change'})")
            held = e.kind == "regression" and not e.recovered and e.cell in cells
            if held and e.ratio > 1 + percent / 100:
                out.append(f"{e.cell}: slower {e.detail} since run {e.run_after}")
        return out

    def __repr__(self) -> str:
        from gdbench.reports.history_report import render

        return render(self.runs, self.points, self.events).rstrip("\n")

    def html(self, path=None) -> str:
        """The history as one self-contained HTML page (``--html``); written to ``path``
        where one is given."""
        from pathlib import Path

        from gdbench.reports.history_page import render

        page = render(self)
        if path is not None:
            Path(path).write_text(page, encoding="utf-8")
        return page

    def markdown(self) -> str:
        from gdbench.reports.history_report import render

        return render(self.runs, self.points, self.events, markdown=True)


def history(*paths, threshold: float = 5) -> History:
    """Result folders (or folders holding them, or a list of them), ordered by when they
    ran: a ``History``.
    ``threshold``: a step must also exceed this many percent to count (as ``compare``)."""
    import pandas as pd

    from gdbench.errors import UsageError
    from gdbench.reports import history as h
    from gdbench.reports.compare import percent

    flat: list = []
    for p in paths:  # history("A", "B") and history(["A", "B"]) alike
        flat.extend(p if isinstance(p, list | tuple) else [p])
    bad = [p for p in flat if not isinstance(p, str | os.PathLike)]
    if bad:
        raise UsageError(f"history: a result folder is a path, got {type(bad[0]).__name__}")
    paths = tuple(flat)
    if not paths:
        raise UsageError("history: give one or more result folders")
    limit = percent(text(threshold), "--threshold")
    limit = 0.05 if limit is None else limit
    runs = h.runs(paths)
    pts = h.points(runs)
    if pts.empty:
        raise UsageError("history: the folders hold no finished cell")
    cell_fits = h.fits(pts)
    events = pd.DataFrame(
        h.timing_events(cell_fits, limit) + h.numerics_events(pts),
        columns=h.EVENT_COLUMNS,
    )
    return History(runs, pts, events, limit, cell_fits)
