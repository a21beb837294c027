"""What ``gdbench.history`` returns: result folders over time, with the steps found in
each cell's time per step and the changes in its numerics."""

from __future__ import annotations

import math
import os

from gdbench.api.keywords import text
from gdbench.reports.ci_schema import failure


class History:
    """``runs`` (the folders in the order they ran), ``points`` (one row per run and
    cell: time per step with the variance of its log, numerics, environment) and
    ``events`` (regressions, recoveries, improvements and numerics events, each with the
    runs on either side and what changed between them) as DataFrames; ``fails(pct)``:
    what the latest run holds that ``--fail-on-regression PCT`` fails on."""

    def __init__(self, runs, points, events, threshold: float, fits=None):
        self.runs, self.points, self.events, self.threshold = runs, points, events, threshold
        self.fits = fits or {}  # cell → reports.history.CellFit: what the page draws

    def failures(self, percent: float | None, require_testable: bool = False) -> list[dict]:
        """What fails CI, one dict each (cell, kind, ratio, low, high, since_run, line):
        with ``percent``, a regression above it that the latest run still holds (not
        recovered, in a cell the latest run has) and a numerics event that came with the
        latest run; with ``require_testable``, each timed cell of the latest run whose
        steps could not be judged."""
        if not self.runs:
            return []
        latest = len(self.runs) - 1
        cells = set(self.points[self.points.run == latest].cell)
        out: list[dict] = []
        limit = math.inf if percent is None else 1 + percent / 100
        for e in self.events.itertuples() if percent is not None else ():
            if e.kind == "numerics" and e.run_after == latest:
                line = f"{e.cell}: numerics {e.detail} ({e.changed or 'no recorded change'})"
                out.append(failure(e.cell, "numerics", line, since_run=e.run_after))
            held = e.kind == "regression" and not e.recovered and e.cell in cells
            if held and e.ratio > limit:
                line = f"{e.cell}: slower {e.detail} since run {e.run_after}"
                out.append(
                    failure(
                        e.cell, "regression", line, e.ratio, e.low, e.high, since_run=e.run_after
                    )
                )
        if require_testable:
            for cell, why in self.untestable().items():
                line = f"{cell}: not testable ({why})"
                out.append(failure(cell, "not testable", line, since_run=None))
        return out

    def fails(self, percent: float | None, require_testable: bool = False) -> list[str]:
        """The lines ``--fail-on-regression PCT`` (and ``--require-testable``) fail on
        (``failures``)."""
        return [f["line"] for f in self.failures(percent, require_testable)]

    def policy(self, percent: float | None, require_testable: bool = False) -> str:
        """What fails, in words (for the reports)."""
        parts = []
        if percent is not None:
            parts.append(
                f"a regression above {percent:g}% that the latest run holds "
                "(--fail-on-regression), a numerics event in the latest run"
            )
        if require_testable:
            parts.append("a timed cell of the latest run no test could judge (--require-testable)")
        return "; ".join(parts) or "nothing (no --fail-on-regression)"

    def untestable(self) -> dict[str, str]:
        """Each timed cell of the latest run whose steps no test could judge, with why:
        a cell the history has once, or one whose run-to-run noise could not be measured
        without the step in question (``reports.history_fit``)."""
        from gdbench.reports.history_fit import MIN_RUNS

        latest = len(self.runs) - 1
        timed = self.points[self.points.time_per_step_s.fillna(0) > 0]
        out = {}
        for cell in sorted(set(timed[timed.run == latest].cell)):
            fit = self.fits.get(cell)
            if fit is None:
                out[cell] = f"1 run; noise without a step needs {MIN_RUNS}"
            elif fit.untestable:
                out[cell] = fit.untestable
        return out

    def __repr__(self) -> str:
        from gdbench.reports.history_report import render

        text = render(self.runs, self.points, self.events).rstrip("\n")
        return "\n".join([text, *self._untestable_lines()])

    def _untestable_lines(self) -> list[str]:
        untestable = self.untestable()
        if not untestable:
            return []
        why = sorted(set(untestable.values()))
        return [f"not testable: {len(untestable)} cells of the latest run ({'; '.join(why)})"]

    def html(self, path=None) -> str:
        """The history as one self-contained HTML page (``--html``); written to ``path``
        where one is given."""
        from pathlib import Path

        from gdbench.reports.history_page import render

        page = render(self)
        if path is not None:
            from gdbench.errors import UsageError
            from gdbench.results.files import atomic_text

            try:
                atomic_text(Path(path), page)
            except OSError as exc:
                raise UsageError(f"{path} cannot be written ({exc.strerror or exc})") from None
        return page

    def markdown(self, percent: float | None = None, require_testable: bool = False) -> str:
        """The report as Markdown, with the threshold; with ``percent`` or
        ``require_testable``, what fails and the FAIL lines (for $GITHUB_STEP_SUMMARY)."""
        from gdbench.reports.history_report import render

        asked = percent is not None or require_testable
        text = render(self.runs, self.points, self.events, markdown=True)
        lines = [text.rstrip("\n"), "", f"a step counts beyond {100 * self.threshold:g}%"]
        lines += self._untestable_lines()
        if asked:
            lines.append(f"fails on: {self.policy(percent, require_testable)}")
            fails = self.fails(percent, require_testable)
            lines += [f"FAIL: {line}" for line in fails] or ["FAIL: none"]
        return "\n".join(lines) + "\n"

    def json(self, percent: float | None = None, require_testable: bool = False, path=None) -> str:
        """The ``--json`` document (``gdbench.reports.ci_schema.HISTORY``); written to
        ``path`` where one is given."""
        from gdbench.reports.ci_json import dumps, history_document

        failures = self.failures(percent, require_testable)
        fail_on = None if percent is None else percent / 100
        text = dumps(history_document(self, fail_on, require_testable, failures))
        if path is not None:
            from pathlib import Path

            from gdbench.results.files import atomic_text

            atomic_text(Path(path), text)
        return text


def history(*paths, threshold: float = 5, **unknown) -> History:
    """Result folders (or folders holding them, or a list of them), ordered by when they
    ran: a ``History``.
    ``threshold``: a step must also exceed this many percent to count (as ``compare``)."""
    import pandas as pd

    from gdbench.errors import UsageError
    from gdbench.reports import history as h
    from gdbench.reports.compare import percent
    from gdbench.reports.history_fit import fits

    if unknown:
        raise UsageError(f"history() takes no keyword {next(iter(unknown))!r}; valid: threshold")
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
    cell_fits = fits(pts)
    events = pd.DataFrame(
        h.timing_events(cell_fits, limit) + h.numerics_events(pts),
        columns=h.EVENT_COLUMNS,
    )
    return History(runs, pts, events, limit, cell_fits)
