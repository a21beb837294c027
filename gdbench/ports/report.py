"""A ``PortResult`` as a person reads it: one line per candidate and dtype, then each
row's reason."""

from __future__ import annotations

from gdbench.reports.render import plain_table
from gdbench.reports.table import seconds


def _time(row) -> str:
    if row["time_per_step_s"] is None:
        return ""
    return f"{seconds(row['time_per_step_s'])} ± {seconds(row['time_per_step_iqr_s'])}"


def _ratio(row) -> str:
    if row["time_ratio"] is None:
        return ""
    low, high = row["time_ratio_low"], row["time_ratio_high"]
    return f"{row['time_ratio']:.3g}× [{low:.3g}, {high:.3g}]"


def _first(row) -> str:
    if row["first_stage"] is None:
        return ""
    return f"step {row['first_step']}: {row['first_parameter']}, {row['first_stage']}"


def text(result) -> str:
    meta = result.meta
    head = (
        f"port: {result.steps} steps of {meta.get('batch_size')} rows (seed "
        f"{meta.get('seed')}) from the reference's weights; the truth: the reference "
        f"({meta.get('optimizer')}) in float64"
    )
    ref_time = meta.get("reference_time")
    if ref_time is not None:
        head += (
            f"; times in float32 on {meta.get('threads')} CPU threads, median ± IQR "
            f"(the reference: {seconds(ref_time.median)} ± {seconds(ref_time.iqr)}), "
            "ratio to the reference [95% interval]"
        )
    header = [
        "candidate",
        "dtype",
        "verdict",
        "max dev",
        "budget",
        "first divergence",
        "time/step",
        "vs reference",
    ]
    rows, reasons = [], []
    for r in result.rows:
        verdict = "error" if r["error"] else str(r["verdict"])
        budget = "" if r["error_ratio"] is None else f"{r['error_ratio']:.3g}×"
        dev = "" if r["max_rel_dev"] is None else f"{r['max_rel_dev']:.2g}"
        rows.append(
            [r["candidate"], r["dtype"], verdict, dev, budget, _first(r), _time(r), _ratio(r)]
        )
        why = r["error"] or r["detail"]
        if why:
            reasons.append(f"  {r['candidate']} {r['dtype']}: {why}")
    return "\n".join([head, plain_table(header, rows), *reasons])
