"""`gdbench sweep`: a grid of sizes × backends × modes × devices × dtypes, timed, with the
roofline columns, then plots and a report. Rows land in sweep.csv as each cell finishes."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from gdbench.errors import UsageError
from gdbench.results.schema import SUMMARY_COLUMNS
from gdbench.timing.roofline import ROOFLINE_COLUMNS

SWEEP_COLUMNS = [*SUMMARY_COLUMNS, *ROOFLINE_COLUMNS]
DEFAULT_PROBLEMS = ("quadratic", "linreg")


def measure_limits(out: Path, resume: bool, stream) -> dict:
    """The machine's read bandwidth per device, measured once and kept in machine.json."""
    path = out / "machine.json"
    if resume and path.exists():
        try:
            limits = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"--resume {out}: machine.json cannot be read ({exc})") from None
        from gdbench.timing.bandwidth import check_limits

        return check_limits(limits, path)
    from gdbench.timing.bandwidth import machine_limits

    print("measuring this machine's memory read bandwidth (gdbench machine)…", file=stream)
    limits = {dev: b.asdict() for dev, b in machine_limits().items()}
    for dev, b in limits.items():
        print(f"  {dev}: {b['gbps']:.1f} ± {b['iqr_gbps']:.1f} GB/s ({b['method']})", file=stream)
    path.write_text(json.dumps(limits, indent=2) + "\n")
    return limits


def cmd_sweep(args) -> int:
    from gdbench.execution.plan import build_plan

    if args.problem is None and getattr(args, "data", None) is None:
        # The default grid stays the two problems whose step is one pass over the data
        # (about 2 minutes here); logreg and mlp at N = 1e7 would take it past 10.
        args.problem = ",".join(DEFAULT_PROBLEMS)
    plan = build_plan(args, single_size=False, out_prefix="sweep")
    plan.saved["command"] = "sweep"
    if plan.cluster is not None:
        return _on_cluster(plan)
    limits = measure_limits(plan.out, plan.resume, sys.stderr) if plan.options.timing else {}
    if not plan.options.timing:
        (plan.out / "machine.json").write_text("{}\n")
    plan.options = dataclasses.replace(plan.options, limits=limits)
    return _finish(plan)


def _on_cluster(plan) -> int:
    """The sweep's cells on the cluster; each host's bandwidth measured once on it (kept in
    machine.json under "hosts"), each row's roofline from its own host's."""
    from gdbench.execution.cluster import cluster_runner

    path = plan.out / "machine.json"
    saved = None
    if plan.resume and path.exists():
        saved = measure_limits(plan.out, True, sys.stderr).get("hosts")
    with cluster_runner(plan, measure=plan.options.timing and saved is None) as runner:
        if saved is not None:
            runner.host_limits = saved
        if runner.host_limits is None:
            runner.host_limits = {}
        else:
            for host, limits in runner.host_limits.items():
                for dev, b in limits.items():
                    if isinstance(b, dict):
                        print(
                            f"  {host} {dev}: {b['gbps']:.1f} GB/s ({b['method']})", file=sys.stderr
                        )
        path.write_text(json.dumps({"hosts": runner.host_limits}, indent=2) + "\n")
        plan.options = dataclasses.replace(plan.options, limits={})
        return _finish(plan, runner.run_cells)


def _finish(plan, run_cells=None) -> int:
    from gdbench.cli.run_command import execute_plan

    extra = {} if run_cells is None else {"run_cells": run_cells}
    code = execute_plan(plan, summary="sweep.csv", columns=SWEEP_COLUMNS, bar=True, **extra)
    if run_cells is None and plan.options.timing:
        from gdbench.execution.step_profile import write_breakdown

        write_breakdown(plan.out, plan.options)
    try:
        from gdbench.reports.report import write_report
    except ImportError as exc:  # matplotlib is an extra
        print(f"no plots or report: {exc} (pip install 'gdbench[plot]')", file=sys.stderr)
        return code
    report = write_report(plan.out)
    print(f"report: {report}")
    return code
