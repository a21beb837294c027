"""A sweep: a grid of sizes × backends × modes × devices × dtypes, timed, with the
roofline columns, then plots and a report. Rows land in sweep.csv as each cell finishes."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from gdbench.api.run_plan import execute_plan
from gdbench.errors import UsageError
from gdbench.execution.local import LocalExecutor
from gdbench.results.files import atomic_text
from gdbench.results.schema import SUMMARY_COLUMNS
from gdbench.timing.roofline import ROOFLINE_COLUMNS

SWEEP_COLUMNS = [*SUMMARY_COLUMNS, *ROOFLINE_COLUMNS]
DEFAULT_PROBLEMS = ("quadratic", "linreg")


def measure_limits(out: Path, resume: bool, executor, stream, dtypes=("float32",)) -> dict:
    """Each host's read bandwidth per device, measured once on it (``executor.measure``)
    and kept in machine.json (``{"hosts": {name: {device: …}}}``); a resumed sweep reads
    the file instead, whichever layout an earlier version wrote."""
    path = out / "machine.json"
    if resume and path.exists():
        try:
            limits = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"--resume {out}: machine.json cannot be read ({exc})") from None
        from gdbench.timing.machine_file import check_limits

        return check_limits(limits, path)
    print("measuring this machine's roofs: bandwidth and GEMM rate (gdbench machine)…", file=stream)
    limits = executor.measure(tuple(dtypes))
    many = len(limits["hosts"]) > 1 or not isinstance(executor, LocalExecutor)
    for host, devices in limits["hosts"].items():
        for dev, b in devices.items():
            if not isinstance(b, dict):
                continue
            where = f"{host} {dev}" if many else dev
            print(
                f"  {where}: {b['gbps']:.1f} ± {b['iqr_gbps']:.1f} GB/s ({b['method']})",
                file=stream,
            )
            if "cache_gbps" in b:
                print(f"  {where} cache: {b['cache_gbps']:.1f} GB/s", file=stream)
            for dtype, g in b.get("gemm", {}).items():
                print(
                    f"  {where} {dtype} GEMM: {g['gflops']:.1f} ± {g['iqr_gflops']:.1f} "
                    f"GFLOP/s ({g['method']})",
                    file=stream,
                )
    atomic_text(path, json.dumps(limits, indent=2) + "\n")
    return limits


def sweep_defaults(args) -> None:
    """The default grid stays the two problems whose step is one pass over the data (about
    2 minutes here); logreg and mlp at N = 1e7 would take it past 10."""
    if args.problem is None and getattr(args, "data", None) is None:
        args.problem = ",".join(DEFAULT_PROBLEMS)


def _bounding(plan, executor, stream, limits: dict):
    """What a sweep does once its cells are done: the roofs quick to measure are measured
    again (GEMM rates, cache bandwidth: ``compute_roofs``; an executor that cannot keeps
    the first measurement), each kept where higher (machine.json says so), and every row's
    roof columns computed again against them. A roof read low at the start (a busy moment
    on a shared machine) is so raised; a step still faster than its roof by more than
    ``ROOF_SLACK`` has no fraction but a warning (``roof underestimated: …``)."""

    def finish(writer) -> None:
        from gdbench.timing.machine_file import best_limits, host_limits
        from gdbench.timing.roofline import bound_again

        best = limits
        if hasattr(executor, "remeasure") and writer.rows:
            dtypes = tuple(dict.fromkeys(s.dtype for s in plan.specs)) or ("float32",)
            best, raised = best_limits(limits, executor.remeasure(dtypes))
            if raised:
                print(
                    f"roofs measured again after the cells, the higher kept: {'; '.join(raised)}",
                    file=stream,
                )
                atomic_text(plan.out / "machine.json", json.dumps(best, indent=2) + "\n")
        for row in writer.rows:
            bound_again(row, host_limits(best, str(row.get("host") or "")).get(row["device"]))
        writer.flush(traj_changed=False, samples_changed=False)

    return finish


def execute_sweep(plan, executor, stream, report: bool = True):
    """The sweep's bandwidths, cells and step profile, then (with ``report`` and
    matplotlib) its plots and report.md: ``(outcome, report path or None)``."""
    if plan.options.timing:
        dtypes = tuple(dict.fromkeys(s.dtype for s in plan.specs)) or ("float32",)
        limits = measure_limits(plan.out, plan.resume, executor, stream, dtypes)
    else:
        limits = {"hosts": {}}
        atomic_text(plan.out / "machine.json", json.dumps(limits) + "\n")
    plan.options = dataclasses.replace(plan.options, limits=limits)
    finish = _bounding(plan, executor, stream, limits) if plan.options.timing else None
    outcome = execute_plan(
        plan,
        executor,
        stream,
        summary="sweep.csv",
        columns=SWEEP_COLUMNS,
        bar=True,
        finish=finish,
    )
    if plan.options.timing:
        from gdbench.execution.step_profile import write_breakdown

        write_breakdown(plan.out, plan.options, executor, stream)
    if not report:
        return outcome, None
    try:
        from gdbench.reports.report import write_report
    except ImportError as exc:  # matplotlib is an extra
        print(f"no plots or report: {exc} (pip install 'gdbench[plot]')", file=stream)
        return outcome, None
    return outcome, write_report(plan.out)
