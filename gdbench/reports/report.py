"""report.md for a sweep folder: the machine, the figures, and the key tables: per size the
fastest backend and mode with its roofline fraction, every mode's fraction, crossovers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from gdbench.reports import plots
from gdbench.reports.table import seconds
from gdbench.results.schema import Status, check_values, read_results
from gdbench.timing.bandwidth import check_limits


def md_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _frac(v) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.2f}"


def _resident(v) -> bool:
    return str(v) == "True"


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
    keys = ["n_samples", "features", "dtype", "optimizer", "machine"]
    for (n, d, dtype, optimizer, machine), g in df.groupby(keys):
        best = g.loc[g.time_per_step_s.idxmin()]
        rows.append(
            [
                size_label(n)
                + (f" {optimizer}" if several else "")
                + (f" on {machine}" if machines else ""),
                d,
                dtype,
                f"{best.backend}/{best['mode']} {best.device}",
                f"{seconds(best.time_per_step_s)} ± {seconds(best.time_per_step_iqr_s)}",
                f"{best.achieved_gbps:.1f}" if pd.notna(best.achieved_gbps) else "",
                _frac(best.roofline_frac),
                "yes (no memory bound)" if _resident(best.cache_resident) else "no",
            ]
        )
    return rows


def size_label(n) -> str:
    """1e3, 2.6e7: two significant digits, so that a roof size is not shown rounded."""
    mantissa, exp = f"{float(n):.1e}".split("e")
    return f"{mantissa.removesuffix('.0')}e{int(exp)}"


def fraction_table(df: pd.DataFrame) -> tuple[list[str], list[list]]:
    sizes = sorted(df.n_samples.unique())
    header = ["backend/mode device", *[f"N={size_label(n)}" for n in sizes]]
    rows = []
    for (optimizer, backend, mode, device, dtype, d, machine), g in df.groupby(plots.SERIES):
        by_n = dict(zip(g.n_samples, g.roofline_frac, strict=True))
        cached = dict(zip(g.n_samples, g.cache_resident.map(_resident), strict=True))
        name = f"{_opt(df, optimizer)}{backend}/{mode} {device} {dtype} D={d}{_on(df, machine)}"
        # In the cache the memory bound does not apply: the figure is shown in parentheses.
        rows.append(
            [
                name,
                *[
                    f"({_frac(by_n.get(n))})"
                    if cached.get(n) and _frac(by_n.get(n))
                    else _frac(by_n.get(n))
                    for n in sizes
                ],
            ]
        )
    return header, rows


def _crossing(n, s, i) -> float:
    """N where the speed-up passes 1 between sizes i and i+1, log-log interpolated."""
    return math.exp(
        np.interp(
            0.0,
            sorted([math.log(s[i]), math.log(s[i + 1])]),
            [math.log(n[i]), math.log(n[i + 1])][:: 1 if s[i] < s[i + 1] else -1],
        )
    )


def crossovers(df: pd.DataFrame) -> list[list]:
    """Where each series passes NumPy eager (speed-up 1), up or down, interpolated."""
    rows = []
    for (optimizer, backend, mode, device, dtype, d, machine), g in df.groupby(plots.SERIES):
        if backend == "numpy" and mode == "eager":
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
        name = f"{_opt(df, optimizer)}{backend}/{mode} {device} {dtype} D={d}{_on(df, machine)}"
        rows.append([name, text])
    return rows


def _sentence(text) -> str:
    text = "" if pd.isna(text) else str(text)
    return f"{text[:1].upper()}{text[1:]}." if text else ""


def _ms(seconds) -> str:
    return "" if pd.isna(seconds) else f"{seconds * 1e3:.3g}"


def breakdown_section(folder: Path, timed: pd.DataFrame) -> list[str]:
    """ "Where the time goes": each profiled cell's operations (breakdown.csv), with the
    line that explains its roofline fraction; nothing where the sweep has no profile."""
    path = folder / "breakdown.csv"
    if not path.exists():
        return []
    ops = read_results(path)
    if ops.empty:
        return []
    lines = [
        "## Where the time goes, at the largest N",
        "",
        "One step of each timed cell at the largest N, profiled apart from the timing "
        "(`breakdown.csv`): NumPy's ufunc calls, torch.profiler's aten ops or compiled "
        "kernels, JAX eager's primitives one at a time, JAX jit/scan as one XLA program with "
        "XLA's own byte count. Bytes are the operands read plus new results written where "
        "the profile knows them. The roofline fraction is (roofline bytes / bytes moved) × "
        "(their GB/s / roof): each line says which factor holds the mode back. A profiler "
        "slows what it watches, so per-operation times can exceed the timed step.",
        "",
    ]
    frac = {
        tuple(
            r[k] for k in ("problem", "backend", "mode", "device", "dtype", "n_samples", "features")
        ): r
        for r in timed.to_dict("records")
    }
    keys = ["problem", "features", "dtype", "device", "backend", "mode", "n_samples"]
    for key, g in ops.groupby(keys, sort=True):
        problem, d, dtype, device, backend, mode, n = key
        row = frac.get((problem, backend, mode, device, dtype, n, d), {})
        first = g.iloc[0]
        f = row.get("roofline_frac")
        where = f", roofline fraction {f:.3f}" if f is not None and pd.notna(f) else ""
        lines.append(
            f"**{problem} {backend}/{mode}** {device} {dtype} N×D = {n}×{d}: step "
            f"{_ms(first.step_s)} ms{where}. {_sentence(first.explanation)}"
        )
        lines.append("")
        table = [
            [
                r.op,
                "" if pd.isna(r.operands) else r.operands,
                "" if pd.isna(r.calls_per_step) else f"{r.calls_per_step:g}",
                _ms(r.seconds_per_step),
                "" if pd.isna(r.share) else f"{r.share:.0%}",
                "" if pd.isna(r.gbps) else f"{r.gbps:.1f}",
            ]
            for r in g.itertuples()
        ]
        lines.append(
            md_table(["operation", "operands", "calls", "ms/step", "share", "GB/s"], table)
        )
        lines.append("")
    return lines


def load_sweep(folder: Path | str) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """A sweep folder's rows, trajectories and bandwidths; a usage error when they do not
    parse as what gdbench writes."""
    from gdbench.errors import UsageError

    folder = Path(folder)
    try:
        sweep = plots.with_optimizer(read_results(folder / "sweep.csv"))
        traj = plots.with_optimizer(read_results(folder / "trajectories.csv"))
        limits = json.loads((folder / "machine.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise UsageError(f"{folder}: its results cannot be read ({exc})") from None
    missing = [c for c in ("problem", "backend", "mode", "n_samples") if c not in sweep]
    if missing or "step" not in traj or not isinstance(limits, dict):
        raise UsageError(f"{folder}: sweep.csv, trajectories.csv or machine.json is not gdbench's")
    check_values(sweep, folder / "sweep.csv")
    check_values(traj, folder / "trajectories.csv")
    return sweep, traj, check_limits(limits, folder / "machine.json")


def write_report(folder: Path | str) -> Path:
    folder = Path(folder)
    sweep, traj, limits = load_sweep(folder)
    figs = {
        "time": plots.time_per_step(sweep, folder / "time_per_step.png"),
        "roofline": plots.roofline(sweep, folder / "roofline.png"),
        "speedup": plots.speedup(sweep, folder / "speedup.png"),
        "loss": plots.loss_vs_step(traj, folder / "loss_vs_step.png"),
    }
    timed = plots.timed(sweep)
    first = sweep.iloc[0]
    lines = [f"# gdbench sweep: {folder.name}", ""]
    lines.append(
        f"Machine: {first.cpu_model} ({first.threads} threads); python {first.python}, "
        f"numpy {first.numpy}, torch {first.torch}, jax {first.jax}; gdbench "
        f"{first.git_commit}; {first.timestamp}."
    )
    lines.append("")
    lines.append("Measured read bandwidth (`gdbench machine`, the roof):")
    hosts = limits.get("hosts")
    per_host = hosts.items() if isinstance(hosts, dict) else [("", limits)]
    for host, devices in per_host:
        for dev, b in devices.items():
            if not isinstance(b, dict):
                continue
            where = f"{devices.get('hostname', host)} " if host else ""
            lines.append(
                f"- {where}{dev}: {b['gbps']:.1f} ± {b['iqr_gbps']:.1f} GB/s (median ± IQR, "
                f"{b['method']}, {b['array_bytes'] / 1024**2:.0f} MiB array; cache "
                f"{b.get('cache_bytes', 0) / 1024**2:.0f} MiB)"
            )
    if first.get("worker", "local") not in ("local", None) and sweep.host.nunique() > 1:
        lines.append(
            f"Rows ran on {sweep.host.nunique()} hosts: {', '.join(sorted(sweep.host.unique()))}."
        )
    lines += [
        "",
        "Cost model per update step: bytes = itemsize·(N·D + N) (X and y read once, "
        "parameters negligible), flops = 4·N·D + 4·N. Where bytes fit in the cache the "
        "memory bound does not apply (marked), and fractions above 1 are possible.",
        "",
    ]
    agree = sweep[sweep.status.isin([Status.OK, Status.DIVERGED])]
    bad = agree[agree.agrees.astype(str) != "True"]
    errors = sweep[sweep.status == Status.ERROR]
    lines.append(
        f"Agreement: {len(agree) - len(bad)} of {len(agree)} runs agree with their "
        f"float64 reference; {len(errors)} errors; "
        f"{(sweep.status == Status.SKIPPED).sum()} skipped."
    )
    for _, r in pd.concat([bad, errors]).iterrows():
        lines.append(f"- {r.backend}/{r['mode']} {r.device} N={r.n_samples}: {r.reason}")
    lines += ["", "## Fastest per size", ""]
    lines.append(
        md_table(
            [
                "N",
                "D",
                "dtype",
                "fastest",
                "time/step (median ± IQR)",
                "GB/s",
                "roofline fraction",
                "in cache",
            ],
            fastest_per_size(timed),
        )
    )
    lines += [
        "",
        "## Every mode's fraction of the memory roofline",
        "",
        "In parentheses where X and y fit in the last-level cache: the memory bound does not "
        "apply there, and the figure is bytes over time, not a fraction of a limit.",
        "",
    ]
    lines.append(md_table(*fraction_table(timed)))
    lines += [
        "",
        f"![roofline fraction]({figs['roofline'].name})",
        "",
        "## Speed-up over NumPy eager, and crossovers",
        "",
    ]
    lines.append(
        md_table(["backend/mode", "against numpy eager"], crossovers(plots.speedups(sweep)))
    )
    lines += [
        "",
        f"![speed-up]({figs['speedup'].name})",
        "",
        *breakdown_section(folder, timed),
        "## Time per step",
        "",
        f"![time per step]({figs['time'].name})",
        "",
        "## Loss against step: agreement shown",
        "",
        f"![loss]({figs['loss'].name})",
        "",
    ]
    path = folder / "report.md"
    path.write_text("\n".join(lines))
    return path
