"""The printed summary table: one line per cell."""

from __future__ import annotations

import json
import math
import re

from gdbench.backend import BASELINE
from gdbench.numerics.verdict import Verdict
from gdbench.reports.render import html, plain_table
from gdbench.results.schema import Status, flag


def number(v) -> float | None:
    """A CSV cell as a float; None for empty, NaN or text."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def seconds(s: float | None) -> str:
    if s is None:
        return ""
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if s >= scale or unit == "ns":
            return f"{s / scale:.3g} {unit}"
    return ""


def verdict(row: dict) -> str:
    status = row.get("status")
    if status == Status.SKIPPED:
        return f"skipped: {row.get('reason')}"
    if status == Status.ERROR:
        return f"ERROR: {row.get('reason')}"
    agrees = flag(row.get("agrees"))
    reason = row.get("reason")
    note = f" ({reason})" if isinstance(reason, str) and reason else ""
    word = f"agrees{note}" if agrees else f"DISAGREES: {reason}"
    if Verdict.of(row.get("verdict")) is Verdict.IMPRECISE:
        word = f"IMPRECISE: {reason}"
    if Verdict.of(row.get("verdict")) is Verdict.NOISY:
        word = f"agrees, noisy: {reason}"
    if status == Status.DIVERGED:
        word = f"diverged at step {int(float(row['diverged_step']))}, {word}"
    warning = row.get("timing_warning")
    if isinstance(warning, str) and warning:  # "timing noisy: …"; the roof's says itself
        word += "; " + "; ".join(
            w if w.startswith("roof ") else f"timing {w}" for w in warning.split("; ")
        )
    return word


def _settings(text) -> dict:
    """A row's problem_args as a dict ({} where an older folder has none)."""
    return json.loads(text) if isinstance(text, str) and text else {}


def problem_labels(rows: list[dict]) -> list[str]:
    """Each row's problem, with the settings in which that problem's rows differ (a sweep
    that repeats --problem-opt): ``classifier[layers=784-256-10]``; the bare name where
    they do not differ."""
    settings = [_settings(r.get("problem_args")) for r in rows]
    varying: dict[str, list[str]] = {}
    for r, s in zip(rows, settings, strict=True):
        varying.setdefault(str(r["problem"]), []).append(json.dumps(s, sort_keys=True))
    out = []
    for r, s in zip(rows, settings, strict=True):
        name = str(r["problem"])
        others = [json.loads(t) for t in dict.fromkeys(varying[name])]
        keys = [k for k in s if len({json.dumps(o.get(k)) for o in others}) > 1]
        out.append(f"{name}[{','.join(f'{k}={s[k]}' for k in keys)}]" if keys else name)
    return out


def natural_key(value) -> tuple:
    """Text with its whole numbers compared as numbers (layers=784-256-… before
    784-1024-…); a number as itself."""
    if not isinstance(value, str):
        return (value,)
    return tuple(int(p) if i % 2 else p for i, p in enumerate(re.split(r"(\d+)", value)))


def ordered_groups(df, keys):
    """``df.groupby(keys)`` in natural order of its keys: a sweep over widths lists them
    256, 512, 1024, not as text sorts them."""
    return sorted(df.groupby(keys), key=lambda kg: tuple(natural_key(k) for k in kg[0]))


def _speedup_key(r: dict) -> tuple:
    return (
        r["problem"],
        r.get("problem_args"),
        r.get("n_samples"),
        r.get("features"),
        r["dtype"],
        str(r.get("optimizer") or "sgd"),
        flag(r.get("native_defaults")),
        r.get("optimizer_args"),
        r.get("host"),  # on a cluster, the speed-up over NumPy on the same machine
    )


def baseline_of(rows: list[dict], chosen=None) -> tuple[str, str]:
    """What speed-ups are relative to: ``chosen`` (``--baseline``, a (backend, mode) pair or
    ``"backend/mode"``), else NumPy eager where the rows time it, else the backend and mode
    of the first timed row (the table's header then says which)."""
    if isinstance(chosen, str) and chosen:
        backend, _, mode = chosen.partition("/")
        return backend, mode
    if chosen:
        backend, mode = chosen
        return str(backend), str(mode)
    timed = [(r.get("backend"), r.get("mode")) for r in rows if number(r.get("time_per_step_s"))]
    if not timed or BASELINE in timed:
        return BASELINE
    return str(timed[0][0]), str(timed[0][1])


def baseline_name(baseline: tuple[str, str]) -> str:
    """The baseline as the table's header names it: ``numpy`` for NumPy eager (the table
    every run printed before the choice existed), ``backend/mode`` otherwise."""
    return BASELINE[0] if tuple(baseline) == BASELINE else "/".join(baseline)


def speedups(rows: list[dict], baseline=None) -> dict[int, float]:
    """time(baseline) / time(cell) for cells with a baseline run (``baseline_of``) of the
    same problem, size, dtype and optimizer (NumPy's naive mode is a cell like any other)."""
    chosen = baseline_of(rows, baseline)
    base = {}
    for r in rows:
        t = number(r.get("time_per_step_s"))
        if (r.get("backend"), r.get("mode", BASELINE[1])) == chosen and t:
            base[_speedup_key(r)] = t
    out = {}
    for i, r in enumerate(rows):
        t = number(r.get("time_per_step_s"))
        b = base.get(_speedup_key(r))
        if t and b:
            out[i] = b / t
    return out


def optimizer_label(row: dict) -> str:
    """The optimizer as the table names it: ``adamw``, or ``adamw (native)`` where a native
    library's optimizer ran with its own defaults (not on a row that runs gdbench's
    specification, as NumPy's do: it has no native optimizer)."""
    name = str(row.get("optimizer") or "sgd")
    impl = str(row.get("optimizer_impl") or "")
    native = flag(row.get("native_defaults")) and not impl.startswith("gdbench specification")
    return f"{name} (native)" if native else name


def format_table(rows: list[dict], baseline=None) -> str:
    """The table ``run`` prints: one line per cell; speed-ups against ``baseline``
    (``baseline_of``)."""
    return plain_table(*table_cells(rows, baseline))


def html_table(rows: list[dict], baseline=None) -> str:
    """The same table as HTML, each verdict coloured (for Jupyter)."""
    header, lines = table_cells(rows, baseline)
    return html(header, lines, [verdict_colour(r) for r in rows])


def verdict_colour(row: dict) -> str:
    """A row's verdict as a colour: green agrees, light green noisy, amber imprecise, red
    disagrees or error, grey skipped."""
    status = row.get("status")
    if status == Status.SKIPPED:
        return "#777777"
    if status == Status.ERROR:
        return "#c62828"
    verdict_ = Verdict.of(row.get("verdict"))
    if verdict_ is Verdict.IMPRECISE:
        return "#e69500"
    if verdict_ is Verdict.NOISY:
        return "#7cb342"
    return "#2e7d32" if flag(row.get("agrees")) else "#c62828"


def table_cells(rows: list[dict], baseline=None) -> tuple[list[str], list[list[str]]]:
    """The table's header and its cells, row by row (the verdict last)."""
    # The optimizer column appears once a run has more than plain gradient descent, so the
    # default run prints the table it always printed.
    show_opt = any(optimizer_label(r) != "sgd" for r in rows)
    chosen = baseline_of(rows, baseline)
    header = [
        "problem",
        "N×D",
        "backend",
        "mode",
        "device",
        "dtype",
        "final w",
        "final loss",
        "max dev",
        "time/step (median ± IQR)",
        f"vs {baseline_name(chosen)}",
        "verdict",
    ]
    if show_opt:
        header.insert(2, "optimizer")
    ups = speedups(rows, chosen)
    problems = problem_labels(rows)
    lines = []
    for i, r in enumerate(rows):
        w, norm = number(r.get("final_w")), number(r.get("final_w_norm"))
        loss, dev = number(r.get("final_loss")), number(r.get("max_rel_dev"))
        t, iqr = number(r.get("time_per_step_s")), number(r.get("time_per_step_iqr_s"))
        n, d = number(r.get("n_samples")), number(r.get("features"))
        cells = [
            problems[i],
            f"{int(n)}×{int(d)}" if n and d else "",
            str(r["backend"]),
            str(r["mode"]),
            str(r["device"]),
            str(r["dtype"]),
            f"{w:.7g}" if w is not None else (f"‖w‖={norm:.6g}" if norm is not None else ""),
            f"{loss:.7g}" if loss is not None else "",
            f"{dev:.2g}" if dev is not None else "",
            f"{seconds(t)} ± {seconds(iqr)}" if t is not None else "",
            f"{ups[i]:.2f}×" if i in ups else "",
            verdict(r),
        ]
        if show_opt:
            cells.insert(2, optimizer_label(r))
        lines.append(cells)
    return header, lines
