"""`gdbench sweep`: a grid of sizes × backends × modes × devices × dtypes, timed, with the
roofline columns, then plots and a report. Rows land in sweep.csv as each cell finishes."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from gdbench.options import UsageError
from gdbench.results import SUMMARY_COLUMNS
from gdbench.roofline import ROOFLINE_COLUMNS

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
        if not isinstance(limits, dict):
            raise UsageError(f"--resume {out}: machine.json is not gdbench's")
        return limits
    from gdbench.bandwidth import machine_limits

    print("measuring this machine's memory read bandwidth (gdbench machine)…", file=stream)
    limits = {dev: b.asdict() for dev, b in machine_limits().items()}
    for dev, b in limits.items():
        print(f"  {dev}: {b['gbps']:.1f} ± {b['iqr_gbps']:.1f} GB/s ({b['method']})", file=stream)
    path.write_text(json.dumps(limits, indent=2) + "\n")
    return limits


def cmd_sweep(args) -> int:
    from gdbench.plan import build_plan
    from gdbench.run_command import execute_plan

    if args.problem is None and getattr(args, "data", None) is None:
        # The default grid stays the two problems whose step is one pass over the data
        # (about 2 minutes here); logreg and mlp at N = 1e7 would take it past 10.
        args.problem = ",".join(DEFAULT_PROBLEMS)
    plan = build_plan(args, single_size=False, out_prefix="sweep")
    plan.saved["command"] = "sweep"
    limits = measure_limits(plan.out, plan.resume, sys.stderr)
    plan.options = dataclasses.replace(plan.options, limits=limits)
    code = execute_plan(plan, summary="sweep.csv", columns=SWEEP_COLUMNS, bar=True)
    try:
        from gdbench.report import write_report
    except ImportError as exc:  # matplotlib is an extra
        print(f"no plots or report: {exc} (pip install 'gdbench[plot]')", file=sys.stderr)
        return code
    report = write_report(plan.out)
    print(f"report: {report}")
    return code
