"""``compare --json`` and ``history --json``: what a CI job reads instead of the text.

Each document names its ``schema`` and ``version`` (``VERSION``; a field removed or whose
meaning changes raises it, a field added does not) and validates against ``SCHEMAS``
(JSON Schema, draft 2020-12; also in docs/schemas/). Numbers that do not apply are null,
never NaN: the files are strict JSON.
"""

from __future__ import annotations

import json
import math
from typing import Any

VERSION = 1


def clean(value: Any) -> Any:
    """``value`` as strict JSON can hold it: NaN and infinities as null, numpy scalars as
    Python numbers, paths and timestamps as text."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if value is None or isinstance(value, bool | str):
        return value
    if hasattr(value, "item") and not hasattr(value, "isoformat"):  # a numpy scalar
        value = value.item()
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def dumps(document: dict) -> str:
    return json.dumps(clean(document), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def compare_document(cmp, fail_above: float | None, require_testable: bool, failures) -> dict:
    """``gdbench compare``'s document: every cell with its timing decision and the
    evidence behind it, the cells not compared, the environment difference, what fails."""
    from gdbench.reports.compare import label

    differs, same = cmp.env_differences()
    cells = []
    for c in cmp.cells:
        ch = c.change
        cells.append(
            {
                "cell": label(c.new),
                "decision": _decision(c),
                "evidence": (ch.evidence or None) if ch else None,
                "note": _note(c),
                "ratio": ch.ratio if ch else None,
                "low": ch.low if ch else None,
                "high": ch.high if ch else None,
                "p": ch.p_value if ch else None,
                "p_adjusted": ch.p if ch else None,
                "unit": ch.unit if ch else None,
                "n_old": ch.n_old if ch else None,
                "n_new": ch.n_new if ch else None,
                "rounds_old": ch.rounds_old if ch else None,
                "rounds_new": ch.rounds_new if ch else None,
                "old_time_per_step_s": ch.old_median if ch else _time(c.old),
                "new_time_per_step_s": ch.new_median if ch else _time(c.new),
                "old_numerics": c.old_numerics,
                "new_numerics": c.new_numerics,
                "numerics_broke": c.broke,
            }
        )
    return {
        "schema": "gdbench-compare",
        "version": VERSION,
        "old": str(cmp.old.folder),
        "new": str(cmp.new.folder),
        "threshold": cmp.threshold,
        "fail_above": fail_above,
        "require_testable": require_testable,
        "ignore": list(cmp.ignore),
        "environment": {
            "differs": [{"what": w, "old": a, "new": b} for w, a, b in differs],
            "same": same,
        },
        "cells": cells,
        "not_compared": [
            {"cell": label(row), "side": side, "reason": reason}
            for side, row, reason in cmp.unmatched
        ],
        "fails": failures,
        "exit_status": 1 if failures else 0,
    }


def _note(c) -> str | None:
    """What the decision rests on or why there is none, in words."""
    ch = c.change
    if ch is None:
        return c.timing_note or None
    why = ch.verdict if ch.verdict.startswith("not testable") else ""
    return "; ".join(t for t in (why, ch.shown) if t) or None


def _time(row: dict):
    from gdbench.reports.table import number

    return number(row.get("time_per_step_s"))


def _decision(c) -> str:
    """slower, faster, no significant change, not testable, not comparable, not timed."""
    if c.change is not None:
        return c.change.verdict.split(":")[0].replace(" with these rounds", "")
    note = c.timing_note
    if note.startswith("not comparable"):
        return "not comparable"
    if note.startswith("no samples.csv"):
        return "not testable"
    return "not timed"


def history_document(hist, fail_on: float | None, require_testable: bool, failures) -> dict:
    """``gdbench history``'s document: the runs, every cell with its latest decision, the
    events with the environment change of each, what fails."""
    untestable = hist.untestable()
    cells = []
    for cell, g in hist.points.groupby("cell", sort=True):
        fit = hist.fits.get(cell)
        mine = hist.events[hist.events.cell == cell]
        timed = g.time_per_step_s.fillna(0) > 0
        last = g.sort_values("run").iloc[-1]
        cells.append(
            {
                "cell": cell,
                "runs": len(g),
                "latest_run": int(last.run),
                "time_per_step_s": last.time_per_step_s,
                "noise_floor": math.expm1(fit.floor) if fit else None,
                **_latest_step(mine, cell, untestable, bool(timed.any())),
                "numerics_events": int((mine.kind == "numerics").sum()),
            }
        )
    return {
        "schema": "gdbench-history",
        "version": VERSION,
        "threshold": hist.threshold,
        "fail_on_regression": fail_on,
        "require_testable": require_testable,
        "runs": [
            {"run": i, "folder": str(r.folder), "when": r.when, "commit": r.commit}
            for i, r in enumerate(hist.runs)
        ],
        "cells": cells,
        "events": hist.events.to_dict("records"),
        "fails": failures,
        "exit_status": 1 if failures else 0,
    }


def _latest_step(events, cell: str, untestable: dict, timed: bool) -> dict:
    """The cell's timing as of the latest run: the regression it still holds, else its
    last step, else none; or why it could not be judged."""
    if cell in untestable:
        return {"decision": "not testable", "evidence": None, "note": untestable[cell]}
    if not timed:
        return {"decision": "not timed", "evidence": None, "note": None}
    steps = events[events.kind != "numerics"]
    held = steps[(steps.kind == "regression") & ~steps.recovered.astype(bool)]
    pick = held.iloc[-1] if len(held) else (steps.iloc[-1] if len(steps) else None)
    if pick is None:
        return {"decision": "no step", "evidence": EVIDENCE, "note": None}
    return {
        "decision": pick.kind,
        "evidence": EVIDENCE,
        "note": f"{pick.detail} at run {pick.run_after}; {pick.changed or 'nothing recorded'}",
        "ratio": pick.ratio,
        "low": pick.low,
        "high": pick.high,
        "since_run": int(pick.run_after),
        "held_by_latest_run": bool(pick.kind == "regression" and not pick.recovered),
    }


EVIDENCE = "step fit against run-to-run noise measured without the step"
