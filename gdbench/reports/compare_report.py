"""What `gdbench compare` shows: the table on stdout, compare.md, compare.csv and the plot
of the ratios. The decisions are made in ``gdbench.reports.compare`` and
``gdbench.reports.significance``; this module only presents them."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from gdbench.reports import legend
from gdbench.reports.compare import Cell, Comparison, label
from gdbench.reports.render import markdown_table, plain_table
from gdbench.reports.significance import (
    ALPHA,
    MIN_ROUNDS,
    RESAMPLES,
    SAME,
    SEPARATION,
    SEPARATION_FLOOR,
    SEPARATION_ROUNDS,
    SLOWER,
)
from gdbench.reports.table import number, seconds
from gdbench.results.files import atomic_figure
from gdbench.results.schema import SPEC_COLUMNS


def _timing_text(c: Cell) -> list[str]:
    if c.change is None:
        t_old, t_new = number(c.old.get("time_per_step_s")), number(c.new.get("time_per_step_s"))
        ratio = f"{t_new / t_old:.2f}×" if t_old and t_new else ""
        return [
            f"{seconds(t_old)}" if t_old else "",
            f"{seconds(t_new)}" if t_new else "",
            ratio,
            "",
            c.timing_note,
        ]
    ch = c.change
    return [
        f"{seconds(ch.old_median)} ± {seconds(ch.old_iqr)}, {ch.n_old} {ch.unit}",
        f"{seconds(ch.new_median)} ± {seconds(ch.new_iqr)}, {ch.n_new} {ch.unit}",
        f"{ch.ratio:.2f}× [{ch.low:.2f}, {ch.high:.2f}]",
        f"{ch.p:.2g}",
        _decision(ch),
    ]


def _decision(ch) -> str:
    if ch.evidence == SEPARATION:
        return f"{ch.verdict} (separation: {ch.shown})"
    if ch.verdict == SAME and math.isfinite(ch.detectable):
        return f"{SAME} (detectable here: beyond {ch.detectable:.2f}×)"
    return ch.verdict


def _numerics_text(c: Cell) -> list[str]:
    d_old, d_new = number(c.old.get("max_rel_dev")), number(c.new.get("max_rel_dev"))
    l_old, l_new = number(c.old.get("final_loss")), number(c.new.get("final_loss"))
    verdicts = (
        c.new_numerics
        if c.old_numerics == c.new_numerics
        else f"{c.old_numerics} → {c.new_numerics}"
    )
    if c.broke:
        verdicts = f"BROKE: {verdicts}"
    return [
        verdicts,
        f"{d_old:.2g} → {d_new:.2g}" if d_old is not None and d_new is not None else "",
        f"{l_new - l_old:+.2g}" if l_old is not None and l_new is not None else "",
    ]


HEADER = [
    "cell",
    "old time/step (median ± IQR, n)",
    "new",
    "new/old [95% CI]",
    "p (adjusted)",
    "timing",
    "numerics",
    "max dev old → new",
    "Δ final loss",
]


def table_rows(cmp: Comparison) -> list[list[str]]:
    return [[label(c.new), *_timing_text(c), *_numerics_text(c)] for c in cmp.cells]


def header_lines(cmp: Comparison) -> list[str]:
    diff, same = cmp.env_differences()
    lines = [f"old: {cmp.old.folder}", f"new: {cmp.new.folder}"]
    if diff:
        lines.append("differs: " + "; ".join(f"{c} {a} → {b}" for c, a, b in diff))
    else:
        lines.append("differs: nothing the rows record (same versions, machine, threads, commit)")
    lines.append("same: " + "; ".join(same))
    if cmp.ignore:
        lines.append(f"matched ignoring: {', '.join(cmp.ignore)}")
    units = {c.change.unit for c in cmp.cells if c.change}
    lines.append(
        f"timing: ratio of medians new/old per step, 95% bootstrap percentile interval "
        f"({RESAMPLES} resamples), two-sided Mann–Whitney U, p adjusted over the "
        f"{sum(c.change is not None for c in cmp.cells)} tested cells (Benjamini–Hochberg); "
        f"unit: {' and '.join(sorted(units)) or 'none'}; a change counts when adjusted "
        f"p < {ALPHA} and it exceeds ±{100 * cmp.threshold:g}%"
    )
    if any(c.change and c.change.evidence == SEPARATION for c in cmp.cells):
        lines.append(
            "separation: where the rounds were too few for the test, a cell is called slower "
            f"(faster) only from {SEPARATION_ROUNDS} rounds a side or more, when every new "
            "round is slower (faster) than every old one by more than the larger side's "
            f"spread (max/min of its rounds), the threshold and {SEPARATION_FLOOR:g}× (the "
            "run-to-run shift one run's rounds do not show)"
        )
    if "blocks" in units:
        lines.append(
            f"caution: cells tested on blocks had fewer than {MIN_ROUNDS} rounds on a side: "
            "blocks of one round show within-run noise only, and two runs of the same code "
            "can differ by more (up to 2× per cell on a shared 2-core machine); run both with "
            f"--rounds {MIN_ROUNDS} or more for a test of the run-to-run variation"
        )
    return lines


def summary_line(cmp: Comparison) -> str:
    counts: dict[str, int] = {}
    for c in cmp.cells:
        v = c.change.verdict if c.change else (c.timing_note or "not tested")
        v = v.split(":")[0]  # the kind; each cell's row says why
        counts[v] = counts.get(v, 0) + 1
    broke = sum(c.broke for c in cmp.cells)
    parts = [f"{n} {v}" for v, n in counts.items()]
    return (
        f"{len(cmp.cells)} cells compared: {', '.join(parts)}; numerics broke in {broke}; "
        f"{len(cmp.unmatched)} not compared"
    )


def unmatched_lines(cmp: Comparison) -> list[str]:
    return [f"{label(row)}: {reason}" for _, row, reason in cmp.unmatched]


def render(
    cmp: Comparison, markdown: bool = False, fails: list[str] | None = None, policy: str = ""
) -> str:
    """The report; with ``fails`` (what ``--fail-above`` or ``--require-testable`` fail
    on, given only where one was asked), ``policy`` (what fails) and its FAIL lines, or
    that none failed."""
    rows = table_rows(cmp)
    out = []
    if markdown:
        out += ["# gdbench compare", ""]
        out += [f"- {line}" for line in header_lines(cmp)]
    else:
        out += header_lines(cmp)
    broke = [c for c in cmp.cells if c.broke]
    if broke:
        out += ["", "NUMERICS BROKE (agreed before, not now):"]
        out += [f"  {label(c.new)}: {c.new.get('reason')}" for c in broke]
    out += ["", markdown_table(HEADER, rows) if markdown else plain_table(HEADER, rows)]
    if cmp.unmatched:
        out += ["", "not compared:"]
        out += [f"  {line}" if not markdown else f"- {line}" for line in unmatched_lines(cmp)]
    out += ["", summary_line(cmp)]
    if fails is not None:
        out += ["", f"fails on: {policy}"]
        out += [f"FAIL: {line}" for line in fails] or ["FAIL: none"]
    return "\n".join(out) + "\n"


def frame(cmp: Comparison):
    """compare.csv: one row per cell, compared or not."""
    import pandas as pd

    recs = []
    for c in cmp.cells:
        rec = {k: c.new.get(k) for k in SPEC_COLUMNS}
        rec.update(compared="yes", old_numerics=c.old_numerics, new_numerics=c.new_numerics)
        rec["numerics_broke"] = c.broke
        for side, r in (("old", c.old), ("new", c.new)):
            rec[f"{side}_max_rel_dev"] = r.get("max_rel_dev")
            rec[f"{side}_final_loss"] = r.get("final_loss")
        if c.change is not None:
            ch = c.change
            rec.update(
                old_median_s=ch.old_median,
                old_iqr_s=ch.old_iqr,
                unit=ch.unit,
                old_n=ch.n_old,
                new_median_s=ch.new_median,
                new_iqr_s=ch.new_iqr,
                new_n=ch.n_new,
                ratio=ch.ratio,
                ratio_low=ch.low,
                ratio_high=ch.high,
                p_value=ch.p_value,
                p_adjusted=ch.p,
                detectable_ratio=ch.detectable,
                timing=ch.verdict,
                evidence=ch.evidence,
            )
        else:
            rec.update(
                old_median_s=c.old.get("time_per_step_s"),
                new_median_s=c.new.get("time_per_step_s"),
                timing=c.timing_note,
            )
        recs.append(rec)
    for side, row, reason in cmp.unmatched:
        rec = {k: row.get(k) for k in SPEC_COLUMNS}
        rec.update(compared="no", timing=reason, side=side)
        recs.append(rec)
    return pd.DataFrame(recs)


def plot_ratios(cmp: Comparison, path: Path) -> Path | None:
    """compare.png (``ratio_figure``); None where there is no figure."""
    fig = ratio_figure(cmp)
    if fig is None:
        return None
    return atomic_figure(fig, path, dpi=120, bbox_inches="tight")


def ratio_figure(cmp: Comparison):
    """The ratios with their intervals, log scale, sorted (a matplotlib Figure); None
    without matplotlib or without a tested cell."""
    tested = sorted((c for c in cmp.cells if c.change), key=lambda c: c.change.ratio)  # type: ignore[union-attr]
    if not tested:
        return None
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return None
    ratios = np.array([c.change.ratio for c in tested])  # type: ignore[union-attr]
    low = np.array([c.change.low for c in tested])  # type: ignore[union-attr]
    high = np.array([c.change.high for c in tested])  # type: ignore[union-attr]
    colours = {SLOWER: "tab:red", SAME: "tab:gray"}
    fig = Figure(figsize=(8, 1.2 + 0.3 * len(tested)))
    ax = fig.subplots()
    y = np.arange(len(tested))
    for i, c in enumerate(tested):
        ax.errorbar(
            ratios[i],
            y[i],
            xerr=[[ratios[i] - low[i]], [high[i] - ratios[i]]],
            fmt="o",
            color=colours.get(c.change.verdict, "tab:green"),  # type: ignore[union-attr]
            capsize=3,
        )
    from matplotlib.lines import Line2D

    legend.outside(
        ax,
        handles=[
            Line2D([], [], marker="o", ls="", color=col, label=name)
            for name, col in ((SLOWER, "tab:red"), ("faster", "tab:green"), (SAME, "tab:gray"))
        ],
    )
    ax.axvline(1.0, color="black", lw=0.8)
    ax.axvspan(1 - cmp.threshold, 1 + cmp.threshold, color="0.9", zorder=0)
    ax.set_xscale("log")
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    lo, hi = min(low.min(), 1 - cmp.threshold), max(high.max(), 1 + cmp.threshold)
    ticks = [t for t in (0.25, 0.5, 0.67, 0.8, 1, 1.25, 1.5, 2, 3, 4) if lo / 1.2 <= t <= hi * 1.2]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}×"))
    ax.set_yticks(y, [label(c.new) for c in tested], fontsize=7)
    ax.set_xlabel("time per step, new / old (95% bootstrap interval; log scale)")
    ax.set_title(f"{cmp.new.folder.name} vs {cmp.old.folder.name}", fontsize=9)
    fig.tight_layout()
    return fig
