"""report.md for a sweep folder: the machine, the figures, and the key tables: per size the
fastest backend and mode with its roofline fraction, every mode's fraction, crossovers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from gdbench.reports import plots, table
from gdbench.reports.render import markdown_table
from gdbench.reports.sweep_folder import command_of, load_sweep
from gdbench.reports.sweep_tables import (
    crossovers,
    fastest_per_size,
    fraction_table,
    size_label,
)
from gdbench.results.files import atomic_text
from gdbench.results.schema import Status, flag, read_results
from gdbench.timing.machine_file import machine_hosts


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
    ops = ops.assign(problem_name=ops.problem)
    ops = ops.assign(problem=plots.problem_labelled(ops, timed))
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
    for key, g in table.ordered_groups(ops, keys):
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
        ops_table = [
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
            markdown_table(
                ["operation", "operands", "calls", "ms/step", "share", "GB/s"], ops_table
            )
        )
        lines.append("")
    return lines


def write_report(folder: Path | str) -> Path:
    """The sweep folder's plots and report.md, from its CSVs and machine.json."""
    folder = Path(folder)
    sweep, traj, limits = load_sweep(folder)
    baseline = table.baseline_of(sweep.to_dict("records"), command_of(folder).get("baseline"))
    against = " ".join(baseline)
    figs = {
        "time": plots.time_per_step(sweep, folder / "time_per_step.png"),
        "roofline": plots.roofline(sweep, folder / "roofline.png"),
        "model": plots.roofline_model(sweep, limits, folder / "roofline_model.png"),
        "speedup": plots.speedup(sweep, folder / "speedup.png", baseline),
        "loss": plots.loss_vs_step(traj, folder / "loss_vs_step.png"),
    }
    timed = plots.timed(sweep)
    lines = [
        f"# gdbench sweep: {folder.name}",
        "",
        *machine_lines(sweep, limits),
        "",
        *cost_lines(sweep),
        "",
        *agreement_lines(sweep),
        "",
        *cache_lines(timed),
        "## Fastest per size",
        "",
        markdown_table(FASTEST_HEADER, fastest_per_size(timed)),
        "",
        *roofline_section(timed, figs),
        f"## Speed-up over {against}, and crossovers",
        "",
        markdown_table(
            ["backend/mode", f"against {against}"],
            crossovers(plots.speedups(sweep, baseline), baseline),
        ),
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
    atomic_text(path, "\n".join(lines))
    return path


def roofline_section(timed: pd.DataFrame, figs: dict) -> list[str]:
    """The roofline model's figure, and every mode's fraction of its roof."""
    return [
        "## The roofline",
        "",
        "Each cell's achieved rate (its problem's FLOP count over its time per step) against "
        "its arithmetic intensity, under the measured roofs: the GEMM rate (flat) and "
        "bandwidth × intensity (the memory's, and the cache's where the step's bytes fit in "
        "it).",
        "",
        f"![roofline]({figs['model'].name})",
        "",
        "## Every mode's fraction of its roof",
        "",
        "Each figure is achieved / min(GEMM rate, bandwidth × intensity), followed by the "
        "roof that is the lower one: compute, memory, or cache (the step's bytes fit in the "
        "last-level cache, whose bandwidth then applies).",
        "",
        markdown_table(*fraction_table(timed)),
        "",
        f"![roofline fraction]({figs['roofline'].name})",
        "",
    ]


FASTEST_HEADER = [
    "N",
    "D",
    "dtype",
    "fastest",
    "time/step (median ± IQR)",
    "GB/s",
    "GFLOP/s",
    "fraction of roof",
    "bound",
]


COST = {
    "linreg": "bytes = itemsize·(N·D + N) (X and y read once), flops = 4·N·D + 4·N",
    "logreg": "bytes = itemsize·(N·D + N), flops = 4·N·D + 10·N",
    "classifier": (
        "B = min(batch, N) rows a step; bytes = itemsize·(B·(D + K) + 6·P) (the batch read "
        "once, the P parameters read forward and backward, the gradient written, w and the "
        "gradient read and w written by the update), flops = the GEMMs' 6·B·Σ fan_in·fan_out "
        "− 2·B·D·H1 plus the bias, activation and softmax terms"
    ),
}


def cost_lines(sweep: pd.DataFrame) -> list[str]:
    """The cost model of each problem in the sweep: its least traffic and FLOP count."""
    lines = ["Cost model per update step (each problem's least traffic and FLOP count):"]
    for problem in dict.fromkeys(sweep.get("problem_name", sweep.problem)):
        text = COST.get(problem, "the problem's bytes_per_step and flops_per_step")
        lines.append(f"- {problem}: {text}.")
    return lines


def machine_lines(sweep: pd.DataFrame, limits: dict) -> list[str]:
    """What ran the sweep: the machine and versions, each host's measured bandwidth."""
    first = sweep.iloc[0]
    lines = [
        f"Machine: {first.cpu_model} ({first.threads} threads); python {first.python}, "
        f"{first.versions}; gdbench {first.git_commit}; {first.timestamp}.",
        "",
        "Measured roofs (`gdbench machine`): read bandwidth, and the GEMM rate per dtype:",
    ]
    hosts = machine_hosts(limits)
    cluster = first.get("worker", "local") not in ("local", None)
    for host, devices in hosts.items():
        for dev, b in devices.items():
            where = f"{host} " if (len(hosts) > 1 or cluster) and host else ""
            if not isinstance(b, dict):
                continue
            lines.append(
                f"- {where}{dev}: {b['gbps']:.1f} ± {b['iqr_gbps']:.1f} GB/s (median ± IQR, "
                f"{b['method']}, {b['array_bytes'] / 1024**2:.0f} MiB array; cache "
                f"{b.get('cache_bytes', 0) / 1024**2:.0f} MiB"
                + (f", read at {b['cache_gbps']:.1f} GB/s" if "cache_gbps" in b else "")
                + ")"
            )
            for dtype, g in b.get("gemm", {}).items():
                lines.append(
                    f"- {where}{dev} {dtype} GEMM (the compute roof): {g['gflops']:.1f} ± "
                    f"{g['iqr_gflops']:.1f} GFLOP/s ({g['method']}; "
                    + ", ".join(f"{m} {v:.1f}" for m, v in g.get("by_method", {}).items())
                    + ")"
                )
    if cluster and sweep.host.nunique() > 1:
        lines.append(
            f"Rows ran on {sweep.host.nunique()} hosts: {', '.join(sorted(sweep.host.unique()))}."
        )
    return lines


def cache_lines(timed: pd.DataFrame) -> list[str]:
    """Said once where some sizes fit in the last-level cache: there the memory bound does
    not apply, and how to reach sizes where it does."""
    if "cache_resident" not in timed or not timed.cache_resident.map(flag).any():
        return []
    resident = timed[timed.cache_resident.map(flag)]
    if timed.problem.nunique() > 1:  # several problems, or settings: each one's own sizes
        where = (
            "At "
            + "; ".join(
                f"{problem} N up to {size_label(g.n_samples.max())}"
                for (problem,), g in table.ordered_groups(resident, ["problem"])
            )
            + ","
        )
    else:
        where = f"At N up to {size_label(resident.n_samples.max())}"
    return [
        f"{where} the data fit in the last-level cache: the memory bound does "
        "not apply there, the cache's bandwidth (measured apart) does where it is below the "
        "GEMM rate (`cache`), and what a cache holds between steps moves between runs. "
        "`--n-samples roof` adds, per D, the smallest N whose data exceed 4× the cache, "
        "where the memory bound applies.",
        "",
    ]


def agreement_lines(sweep: pd.DataFrame) -> list[str]:
    """How many runs agree, and each one that does not or failed, with its reason."""
    agree = sweep[sweep.status.isin([Status.OK, Status.DIVERGED])]
    bad = agree[~agree.agrees.map(flag)]
    errors = sweep[sweep.status == Status.ERROR]
    lines = [
        f"Agreement: {len(agree) - len(bad)} of {len(agree)} runs agree with their "
        f"float64 reference; {len(errors)} errors; "
        f"{(sweep.status == Status.SKIPPED).sum()} skipped."
    ]
    for _, r in pd.concat([bad, errors]).iterrows():
        lines.append(f"- {r.backend}/{r['mode']} {r.device} N={r.n_samples}: {r.reason}")
    return lines
