"""`gdbench history --html FILE`: the history as one self-contained HTML page (no server,
nothing loaded from elsewhere). Its summary of events first, then one small chart per cell
(time per step with each point's 95% interval and the fitted levels, steps marked; below it
the max deviation from float64, coloured by verdict), filterable by problem, backend,
optimizer and mode; hovering a point shows its run's environment. The charts are SVG
written here, the filters a few lines of inline script.
"""

from __future__ import annotations

import html
import itertools
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from gdbench.reports.history import ENVIRONMENT
from gdbench.reports.history_fit import CellFit
from gdbench.reports.history_report import HEADER, event_rows, summary_lines
from gdbench.reports.step_detect import Z95
from gdbench.reports.table import number, seconds

FILTERS = ("problem", "backend", "optimizer", "mode")
COLOURS = {
    "regression": "#c0392b",
    "recovery": "#1e8449",
    "improvement": "#2874a6",
    "numerics": "#7d3c98",
}
VERDICT_COLOURS = {"agrees": "#1e8449", "noisy": "#b9770e", "disagrees": "#c0392b"}
WIDTH, LEFT, RIGHT = 440, 62, 10
TIME_HEIGHT, DEV_HEIGHT, TOP, BOTTOM = 120, 64, 8, 18

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.5em; }
table { border-collapse: collapse; margin: .5em 0; }
td, th { border: 1px solid #ccc; padding: 2px 6px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
.kind-regression { color: #c0392b; } .kind-recovery { color: #1e8449; }
.kind-improvement { color: #2874a6; } .kind-numerics { color: #7d3c98; }
#filters label { margin-right: 1em; }
#cells { display: flex; flex-wrap: wrap; gap: 12px; }
.cell { border: 1px solid #ddd; padding: 6px; width: 460px; }
.cell h3 { font-size: .9em; margin: 0 0 4px; font-weight: 600; word-break: break-all; }
.cell.has-events { border-color: #999; }
svg text { font-size: 10px; fill: #555; }
.hidden { display: none; }
#tip { position: fixed; pointer-events: none; background: #fffff0; border: 1px solid #999;
  padding: 4px 6px; font-size: 12px; white-space: pre; display: none; max-width: 60em; }
"""

SCRIPT = """
const selects = Array.from(document.querySelectorAll('#filters select'));
const only = document.getElementById('only-events');
function applyFilters() {
  let shown = 0;
  const cells = document.querySelectorAll('.cell');
  cells.forEach(c => {
    const ok = selects.every(s => s.value === '' || c.dataset[s.name] === s.value)
      && (!only.checked || c.classList.contains('has-events'));
    c.classList.toggle('hidden', !ok);
    if (ok) shown += 1;
  });
  document.getElementById('shown').textContent = shown + ' of ' + cells.length + ' cells';
}
selects.forEach(s => s.addEventListener('change', applyFilters));
only.addEventListener('change', applyFilters);
const runs = JSON.parse(document.getElementById('runs-data').textContent);
const tip = document.getElementById('tip');
document.querySelectorAll('.point').forEach(p => {
  p.addEventListener('mouseenter', e => {
    tip.textContent = p.dataset.info + '\\n' + runs[p.dataset.run];
    tip.style.display = 'block';
  });
  p.addEventListener('mousemove', e => {
    tip.style.left = (e.clientX + 12) + 'px'; tip.style.top = (e.clientY + 12) + 'px';
  });
  p.addEventListener('mouseleave', () => { tip.style.display = 'none'; });
});
applyFilters();
"""


def render(hist) -> str:
    """The page of a ``gdbench.history(...)`` result."""
    pts, events = hist.points, hist.events
    n_runs = len(hist.runs)
    with_events = set(events.cell) if len(events) else set()
    groups = sorted(pts.groupby("cell", sort=True), key=lambda cg: cg[0] not in with_events)
    anchors = {cell: f"cell-{i}" for i, (cell, _) in enumerate(groups)}  # events' cells first
    env = _environment(pts)
    cells = []
    for i, (cell, g) in enumerate(groups):
        mine = events[events.cell == cell] if len(events) else events
        cells.append(_cell(i, cell, g.sort_values("run"), hist.fits.get(cell), mine, n_runs))
    body = [
        "<h1>gdbench history</h1>",
        "<div id='summary'>"
        + "".join(f"<p>{_e(line)}</p>" for line in summary_lines(hist.runs, pts, events))
        + "</div>",
        "<h2>Events</h2>",
        _events_table(events, anchors),
        "<h2>Cells</h2>",
        _filters(pts),
        "<div id='cells'>",
        *cells,
        "</div>",
        "<h2>Runs</h2>",
        _runs_table(hist.runs, pts, env),
        "<div id='tip'></div>",
        f"<script type='application/json' id='runs-data'>{_runs_json(hist.runs, env)}</script>",
        f"<script>{SCRIPT}</script>",
    ]
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>gdbench history</title><style>{STYLE}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def _e(text) -> str:
    return html.escape("" if text is None else str(text), quote=True)


def _events_table(events: pd.DataFrame, anchors: dict[str, str]) -> str:
    if not len(events):
        return "<p id='no-events'>No regressions, recoveries, improvements or numerics events.</p>"
    head = "".join(f"<th>{_e(h)}</th>" for h in HEADER)
    rows = []
    for e, cells in zip(events.itertuples(), event_rows(events), strict=True):
        kind, cell, *rest = cells
        tds = [
            f"<td class='kind-{_e(e.kind)}'>{_e(kind)}</td>",
            f"<td><a href='#{anchors[e.cell]}'>{_e(cell)}</a></td>",
            *(f"<td>{_e(c)}</td>" for c in rest),
        ]
        attrs = (
            f"class='event' data-kind='{_e(e.kind)}' data-cell='{_e(e.cell)}' "
            f"data-run-after='{int(e.run_after)}'"
        )
        rows.append(f"<tr {attrs}>{''.join(tds)}</tr>")
    return f"<table id='events'><tr>{head}</tr>{''.join(rows)}</table>"


def _filters(pts: pd.DataFrame) -> str:
    parts = ["<p id='filters'>"]
    for name in FILTERS:
        values = sorted({str(v) for v in pts[name].dropna()})
        options = "".join(f"<option value='{_e(v)}'>{_e(v)}</option>" for v in values)
        parts.append(
            f"<label>{name} <select name='{name}' id='f-{name}'>"
            f"<option value=''>all</option>{options}</select></label>"
        )
    parts.append(
        "<label><input type='checkbox' id='only-events'> only cells with events</label>"
        "<span id='shown'></span></p>"
    )
    return "".join(parts)


def _cell(i, cell, g: pd.DataFrame, fit: CellFit | None, events: pd.DataFrame, n_runs) -> str:
    first = g.iloc[0]
    data = " ".join(f"data-{k}='{_e(first[k])}'" for k in FILTERS)
    cls = "cell has-events" if len(events) else "cell"
    return (
        f"<section class='{cls}' id='cell-{i}' data-cell='{_e(cell)}' {data}>"
        f"<h3>{_e(cell)}</h3>{_time_chart(g, fit, events, n_runs)}"
        f"{_dev_chart(g, events, n_runs)}</section>"
    )


def _x(run: float, n_runs: int) -> float:
    span = WIDTH - LEFT - RIGHT
    return LEFT + (span * run / (n_runs - 1) if n_runs > 1 else span / 2)


def _log_axis(lo: float, hi: float, height: int):
    """A function from a positive value to its y in a chart ``height`` tall (log scale)."""
    a, b = math.log(lo), math.log(hi)
    if b - a < 1e-9:
        a, b = a - 0.1, b + 0.1
    pad = 0.05 * (b - a)
    a, b = a - pad, b + pad
    inner = height - TOP - BOTTOM
    return lambda v: TOP + inner * (b - math.log(v)) / (b - a)


def _frame(height: int, n_runs: int, top_label: str, bottom_label: str, name: str) -> list[str]:
    x0, x1, y1 = LEFT, WIDTH - RIGHT, height - BOTTOM
    out = [
        f"<rect x='{x0}' y='{TOP}' width='{x1 - x0}' height='{y1 - TOP}' fill='none' "
        "stroke='#ccc'/>",
        f"<text x='{x0 - 4}' y='{TOP + 8}' text-anchor='end'>{_e(top_label)}</text>",
        f"<text x='{x0 - 4}' y='{y1}' text-anchor='end'>{_e(bottom_label)}</text>",
        f"<text x='{x0}' y='{height - 4}'>run 0</text>",
        f"<text x='{x1}' y='{height - 4}' text-anchor='end'>run {n_runs - 1}</text>",
        f"<text x='{(x0 + x1) / 2}' y='{height - 4}' text-anchor='middle'>{_e(name)}</text>",
    ]
    return out


def _markers(events: pd.DataFrame, kinds, height: int, n_runs: int) -> list[str]:
    out = []
    for e in events.itertuples():
        if e.kind not in kinds:
            continue
        x = _x((e.run_before + e.run_after) / 2, n_runs)
        colour = COLOURS[e.kind]
        title = f"{e.kind} {e.detail}; {e.changed or 'nothing recorded changed'}"
        out.append(
            f"<line class='marker marker-{e.kind}' x1='{x:.1f}' x2='{x:.1f}' y1='{TOP}' "
            f"y2='{height - BOTTOM}' stroke='{colour}' stroke-width='2' stroke-dasharray='4 2'>"
            f"<title>{_e(title)}</title></line>"
        )
    return out


def _time_chart(g: pd.DataFrame, fit: CellFit | None, events: pd.DataFrame, n_runs) -> str:
    timed = g[g.time_per_step_s.notna() & (g.time_per_step_s > 0)]
    if timed.empty:
        return "<p class='untimed'>not timed</p>"
    t = timed.time_per_step_s.to_numpy(float)
    half = Z95 * np.sqrt(timed.log_var.fillna(0).to_numpy(float))
    lo, hi = t * np.exp(-half), t * np.exp(half)
    y = _log_axis(float(lo.min()), float(hi.max()), TIME_HEIGHT)
    top, bottom = seconds(float(hi.max())), seconds(float(lo.min()))
    out = _frame(TIME_HEIGHT, n_runs, top, bottom, "time/step")
    if fit is not None:
        out += _levels(fit, n_runs, y)
    out += _markers(events, ("regression", "recovery", "improvement"), TIME_HEIGHT, n_runs)
    for r, ti, a, b in zip(timed.itertuples(), t, lo, hi, strict=True):
        x = _x(r.run, n_runs)
        info = f"run {r.run}: {seconds(ti)} per step, 95% [{seconds(a)}, {seconds(b)}]"
        out.append(
            f"<line x1='{x:.1f}' x2='{x:.1f}' y1='{y(a):.1f}' y2='{y(b):.1f}' stroke='#888'/>"
            f"<circle class='point' cx='{x:.1f}' cy='{y(ti):.1f}' r='3' fill='#333' "
            f"data-run='{r.run}' data-info='{_e(info)}'/>"
        )
    return _svg("time", TIME_HEIGHT, out)


def _levels(fit: CellFit, n_runs: int, y) -> list[str]:
    """The fitted level of each segment between the fit's steps (all of them, counted
    or not), as a horizontal line over the segment's runs."""
    runs = fit.points.run.to_numpy(int)
    bounds = [0, *(s.at for s in fit.steps), len(runs)]
    w = 1 / fit.var
    out = []
    for a, b in itertools.pairwise(bounds):
        level = math.exp(float(np.sum(w[a:b] * fit.y[a:b]) / np.sum(w[a:b])))
        x0, x1 = _x(runs[a], n_runs), _x(runs[b - 1], n_runs)
        if x1 - x0 < 4:
            x0, x1 = x0 - 3, x1 + 3
        out.append(
            f"<line class='level' x1='{x0:.1f}' x2='{x1:.1f}' y1='{y(level):.1f}' "
            f"y2='{y(level):.1f}' stroke='#e67e22' stroke-width='2'/>"
        )
    return out


def _dev_chart(g: pd.DataFrame, events: pd.DataFrame, n_runs) -> str:
    dev = g.max_rel_dev.map(number)
    shown = g[dev.notna() & (dev > 0)]
    if shown.empty:
        return "<p class='no-numerics'>no deviation from float64 recorded</p>"
    d = shown.max_rel_dev.map(number).to_numpy(float)
    y = _log_axis(float(d.min()), float(d.max()), DEV_HEIGHT)
    out = _frame(DEV_HEIGHT, n_runs, f"{d.max():.2g}", f"{d.min():.2g}", "max dev vs float64")
    out += _markers(events, ("numerics",), DEV_HEIGHT, n_runs)
    for r, di in zip(shown.itertuples(), d, strict=True):
        verdict = str(r.verdict)
        colour = VERDICT_COLOURS.get(verdict, "#555")
        ratio = number(r.error_ratio)
        info = f"run {r.run}: {verdict}, max dev {di:.3g}" + (
            f", error ratio {ratio:.3g}" if ratio is not None else ""
        )
        out.append(
            f"<circle class='point' cx='{_x(r.run, n_runs):.1f}' cy='{y(di):.1f}' r='3' "
            f"fill='{colour}' data-run='{r.run}' data-info='{_e(info)}'/>"
        )
    return _svg("numerics", DEV_HEIGHT, out)


def _svg(kind: str, height: int, parts: list[str]) -> str:
    return (
        f"<svg class='chart chart-{kind}' width='{WIDTH}' height='{height}' "
        f"viewBox='0 0 {WIDTH} {height}' xmlns='http://www.w3.org/2000/svg'>"
        + "".join(parts)
        + "</svg>"
    )


def _environment(pts: pd.DataFrame) -> dict[int, dict]:
    """Each run's environment as its first row records it."""
    first = pts.drop_duplicates("run").set_index("run")
    return {int(r): {c: first.at[r, c] for c in ENVIRONMENT if c in first} for r in first.index}


def _env_text(run, env: dict) -> str:
    when = f"{run.when:%Y-%m-%d %H:%M} UTC"
    lines = [f"{Path(run.folder).name} · {when} · commit {run.commit or '–'}"]
    lines += [f"{k}: {v}" for k, v in env.items() if not (v is None or pd.isna(v) or v == "")]
    return "\n".join(lines)


def _runs_json(runs, env: dict[int, dict]) -> str:
    """The runs' environments as JSON that no text in them can end or turn off: every <,
    > and & as its \\u escape (JSON reads them back as they were), so neither "</script>"
    nor "<!--" (which made chromium swallow the page's script) can appear in the page."""
    texts = [_env_text(run, env.get(i, {})) for i, run in enumerate(runs)]
    raw = json.dumps(texts, ensure_ascii=True)
    return raw.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _runs_table(runs, pts: pd.DataFrame, env: dict[int, dict]) -> str:
    cols = [c for c in ENVIRONMENT if c in pts]
    head = "".join(f"<th>{_e(h)}</th>" for h in ("run", "folder", "when (UTC)", "commit", *cols))
    rows = []
    for i, run in enumerate(runs):
        e = env.get(i, {})
        vals = [i, run.folder, f"{run.when:%Y-%m-%d %H:%M}", run.commit]
        vals += ["" if e.get(c) is None or pd.isna(e.get(c)) else e.get(c) for c in cols]
        rows.append("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in vals) + "</tr>")
    return f"<table id='runs'><tr>{head}</tr>{''.join(rows)}</table>"
