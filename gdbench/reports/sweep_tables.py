"""The sweep report's tables: the fastest cell per size, every mode's fraction of the
memory roofline, and where each series crosses NumPy eager."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from gdbench.reports import plots, table
from gdbench.reports.table import seconds
from gdbench.results.schema import flag


def _frac(v) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.2f}"


def _row_frac(row) -> str:
    """A row's fraction of its roof, or "roof underestimated" where the step beat the
    measured roof (``gdbench.timing.roofline.ROOF_SLACK``) and has no fraction."""
    from gdbench.timing.roofline import ROOF_NOTE

    warning = row.get("timing_warning")
    if isinstance(warning, str) and ROOF_NOTE in warning:
        return ROOF_NOTE.removesuffix(": ")
    return _frac(row.roofline_frac)


def _resident(v) -> bool:
    return flag(v)


def _gflops(row) -> str:
    v = row.get("gflops")
    return f"{v:.1f}" if isinstance(v, float) and not math.isnan(v) else ""


def _bound(row) -> str:
    """The roof that limits the cell, or why none does."""
    bound = row.get("bound")
    if isinstance(bound, str) and bound:
        return bound + (
            " (in cache)" if bound == "compute" and _resident(row.cache_resident) else ""
        )
    return "none applies (in cache)" if _resident(row.get("cache_resident")) else ""


def _opt(df: pd.DataFrame, optimizer: str) -> str:
    """The optimizer as a label's prefix, once a sweep has more than one."""
    return f"{optimizer} " if df.optimizer.nunique() > 1 else ""


def _on(df: pd.DataFrame, machine: str) -> str:
    """The machine as a label's suffix, once a sweep ran on more than one."""
    return f" on {machine}" if df.machine.nunique() > 1 else ""


def fastest_per_size(df: pd.DataFrame) -> list[list]:
    rows = []
    several = df.optimizer.nunique() > 1
    machines = df.machine.nunique() > 1
    keys = ["problem", "n_samples", "features", "dtype", "optimizer", "machine"]
    for (problem, n, d, dtype, optimizer, machine), g in table.ordered_groups(df, keys):
        best = g.loc[g.time_per_step_s.idxmin()]
        tied = ties(g, best)
        rows.append(
            [
                _prob(df, problem)
                + size_label(n)
                + (f" {optimizer}" if several else "")
                + (f" on {machine}" if machines else ""),
                d,
                dtype,
                f"{best.backend}/{best['mode']} {best.device}"
                + (f" (a tie: within the IQRs of {', '.join(tied)})" if tied else ""),
                f"{seconds(best.time_per_step_s)} ± {seconds(best.time_per_step_iqr_s)}",
                f"{best.achieved_gbps:.1f}" if pd.notna(best.achieved_gbps) else "",
                _gflops(best),
                _row_frac(best),
                _bound(best),
            ]
        )
    return rows


def ties(g: pd.DataFrame, best) -> list[str]:
    """The other cells of ``g`` whose median ± IQR/2 overlaps the fastest's: not told
    apart by this run, so the fastest is not named a winner over them."""

    def half_iqr(row) -> float:
        return float(row.time_per_step_iqr_s) / 2 if pd.notna(row.time_per_step_iqr_s) else 0.0

    top = best.time_per_step_s + half_iqr(best)
    out = []
    for _, r in g.iterrows():
        if r.name == best.name:
            continue
        if r.time_per_step_s - half_iqr(r) <= top:
            out.append(f"{r.backend}/{r['mode']} {r.device}")
    return out


def size_label(n) -> str:
    """1e3, 2.6e7: two significant digits, so that a roof size is not shown rounded."""
    mantissa, exp = f"{float(n):.1e}".split("e")
    return f"{mantissa.removesuffix('.0')}e{int(exp)}"


def fraction_table(df: pd.DataFrame) -> tuple[list[str], list[list]]:
    sizes = sorted(df.n_samples.unique())
    header = ["backend/mode device", *[f"N={size_label(n)}" for n in sizes]]
    rows = []
    for (problem, optimizer, backend, mode, device, dtype, d, machine), g in table.ordered_groups(
        df, plots.SERIES
    ):
        by_n = {r.n_samples: r for _, r in g.iterrows()}
        name = f"{_prob(df, problem)}{_opt(df, optimizer)}{backend}/{mode} {device} {dtype} D={d}"
        # Each fraction with the roof it is of (compute, memory or cache).
        cells = []
        for n in sizes:
            r = by_n.get(n)
            if r is None:
                cells.append("")
                continue
            text = _row_frac(r)
            cells.append(f"{text} {r.get('bound') or ''}".strip() if text else "")
        rows.append([name + _on(df, machine), *cells])
    return header, rows


def _prob(df: pd.DataFrame, problem: str) -> str:
    """The problem as a label's prefix, once a sweep has more than one."""
    return f"{problem} " if df.problem.nunique() > 1 else ""


def _crossing(n, s, i) -> float:
    """N where the speed-up passes 1 between sizes i and i+1, log-log interpolated."""
    return math.exp(
        np.interp(
            0.0,
            sorted([math.log(s[i]), math.log(s[i + 1])]),
            [math.log(n[i]), math.log(n[i + 1])][:: 1 if s[i] < s[i + 1] else -1],
        )
    )


def crossovers(df: pd.DataFrame, baseline: tuple[str, str]) -> list[list]:
    """Where each series passes the baseline (speed-up 1), up or down, interpolated."""
    rows = []
    for (problem, optimizer, backend, mode, device, dtype, d, machine), g in table.ordered_groups(
        df, plots.SERIES
    ):
        if (backend, mode) == tuple(baseline):
            continue
        g = g.sort_values("n_samples")
        n, s = g.n_samples.to_numpy(float), g.speedup.to_numpy(float)
        if (s >= 1).all():
            text = f"faster at every size tried ({s.min():.2f}× to {s.max():.2f}×)"
        elif (s < 1).all():
            text = f"slower at every size tried (at best {s.max():.2f}×)"
        else:
            events = []
            for i in range(len(s) - 1):
                if (s[i] < 1) != (s[i + 1] < 1):
                    way = "faster" if s[i + 1] >= 1 else "slower again"
                    events.append(f"{way} from N ≈ {_crossing(n, s, i):.2g}")
            text = "; ".join(events) + f" ({s[-1]:.2f}× at N = {size_label(n[-1])})"
        name = f"{_prob(df, problem)}{_opt(df, optimizer)}{backend}/{mode} {device} {dtype} D={d}"
        rows.append([name + _on(df, machine), text])
    return rows
