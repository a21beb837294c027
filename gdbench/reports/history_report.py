"""A history as text: what it covers, then its events (regressions, recoveries,
improvements, numerics), each with the runs on either side and what changed between them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from gdbench.reports.render import markdown_table, plain_table

HEADER = ["event", "cell", "runs", "change", "environment change"]


def summary_lines(runs, pts: pd.DataFrame, events: pd.DataFrame) -> list[str]:
    """What the history covers, and how many events of each kind it holds."""
    if not runs:
        return ["history: no runs"]
    first, last = runs[0].when, runs[-1].when
    kinds = events.kind.value_counts().to_dict() if len(events) else {}
    counts = ", ".join(
        f"{kinds.get(k, 0)} {name}"
        for k, name in (
            ("regression", "regressions"),
            ("recovery", "recoveries"),
            ("improvement", "improvements"),
            ("numerics", "numerics events"),
        )
    )
    cells = pts.cell.nunique() if len(pts) else 0
    lines = [
        f"history of {len(runs)} runs, {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC; "
        f"{cells} cells; {counts}"
    ]
    timed = pts[pts.time_per_step_s > 0] if len(pts) else pts
    single = int((timed.rounds.fillna(1) < 2).sum()) if len(timed) else 0
    if single:
        lines.append(
            f"note: {single} of {len(timed)} timed points have one timing round, so their "
            "intervals leave out the run-to-run noise of fresh processes; record histories "
            "with --rounds 3 or more"
        )
    return lines


def event_rows(events: pd.DataFrame) -> list[list[str]]:
    rows = []
    for e in events.itertuples():
        names = f"{Path(e.folder_before).name} → {Path(e.folder_after).name}"
        runs = f"{e.run_before} → {e.run_after} ({names})"
        kind = f"{e.kind} (recovered later)" if e.kind == "regression" and e.recovered else e.kind
        rows.append([kind, e.cell, runs, e.detail, e.changed or "nothing recorded"])
    return rows


def render(runs, pts: pd.DataFrame, events: pd.DataFrame, markdown: bool = False) -> str:
    """The history's summary line and its events table (plain text or Markdown)."""
    lines = summary_lines(runs, pts, events)
    if len(events):
        table = markdown_table if markdown else plain_table
        lines += ["", table(HEADER, event_rows(events))]
    return "\n".join(lines) + "\n"
