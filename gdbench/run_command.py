"""`gdbench run`: executes a plan, writing every row as its cell finishes."""

from __future__ import annotations

import json
import sys
import time

from gdbench.results import ResultWriter, _normal_key
from gdbench.runner import reference_frame, run_cells, skipped_row
from gdbench.spec import RunSpec
from gdbench.table import format_table, seconds, verdict


def failed(row: dict) -> bool:
    """A cell counts against the exit status when it errored or disagrees."""
    if row.get("status") == "skipped":
        return False
    return row.get("status") == "error" or row.get("agrees") not in (True, "True", "true", 1)


def row_key(row: dict) -> tuple:
    return RunSpec(**{k: row[k] for k in RunSpec.__dataclass_fields__}).key()


def execute_plan(plan, stream=None) -> int:
    stream = stream or sys.stderr
    writer = ResultWriter(plan.out, resume=plan.resume)
    if not plan.resume:
        (plan.out / "command.json").write_text(json.dumps(plan.saved, indent=2) + "\n")
    done = writer.done_keys()
    threads = plan.options.threads
    for spec, reason in plan.skipped:
        if _normal_key(spec.key()) not in done:
            writer.add(skipped_row(spec, reason, threads))
    todo = [s for s in plan.specs if _normal_key(s.key()) not in done]
    if plan.resume:
        print(f"resuming {plan.out}: {len(plan.specs) - len(todo)} cells already done, "
              f"{len(todo)} to run", file=stream)

    seen_refs = set()
    for s in todo:
        ref_key = (s.problem, s.n_samples, s.features, s.seed, s.lr, s.steps)
        if ref_key not in seen_refs:
            seen_refs.add(ref_key)
            writer.traj.append(reference_frame(s))

    total, start = len(todo), time.perf_counter()

    def on_done(spec, row, traj):
        writer.add(row, traj)
        i = on_done.count = on_done.count + 1
        t = row.get("time_per_step_s")
        timing = f", {seconds(t)}/step" if isinstance(t, float) else ""
        elapsed = time.perf_counter() - start
        print(f"[{i}/{total}] {spec.problem} {spec.backend}/{spec.mode} {spec.device} "
              f"{spec.dtype}: {verdict(row)}{timing}  ({elapsed:.0f}s)", file=stream)

    on_done.count = 0
    run_cells(todo, plan.options, on_done)
    rank = {_normal_key(s.key()): i for i, s in enumerate(plan.ordered)}
    rows = sorted(writer.summary().to_dict("records"),
                  key=lambda r: rank.get(_normal_key(row_key(r)), len(rank)))
    print(format_table(rows))
    print(f"\nresults: {writer.summary_path}  {writer.traj_path}")
    return 1 if any(failed(r) for r in rows) else 0
