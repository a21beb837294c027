"""`gdbench run` (and `sweep`): executes a plan, writing every row as its cell finishes."""

from __future__ import annotations

import json
import sys
import time

from gdbench.compat.containment import deadline
from gdbench.execution.runner import (
    error_row,
    exception_line,
    reference_frame,
    run_cells,
    skipped_row,
)
from gdbench.numerics.verdict import Verdict
from gdbench.reports.table import format_table, optimizer_label, seconds, verdict
from gdbench.results.schema import Status, normal_key
from gdbench.results.writer import ResultWriter
from gdbench.spec import RunSpec


def failed(row: dict, strict: bool = False) -> bool:
    """A cell counts against the exit status when it errored or disagrees; an imprecise
    one (float32 rounding, the float64 run agrees) only with ``strict``."""
    if row.get("status") == Status.SKIPPED:
        return False
    if row.get("status") == Status.ERROR:
        return True
    verdict = Verdict.of(row.get("verdict"))
    if verdict is Verdict.IMPRECISE:
        return strict
    if verdict is not None:
        return verdict is Verdict.DISAGREES
    return row.get("agrees") not in (True, "True", "true", 1)  # folders from before verdicts


def row_key(row: dict) -> tuple:
    return RunSpec.from_row(row).key()


class Progress:
    """One line per finished cell; with ``bar``, a tqdm bar (cell running, time left)."""

    def __init__(self, total: int, stream, bar: bool):
        self.total, self.stream, self.count = total, stream, 0
        self.start = time.perf_counter()
        self.bar = None
        if bar:
            try:
                from tqdm import tqdm
            except ImportError:
                pass
            else:
                self.bar = tqdm(total=total, file=stream, unit="cell", dynamic_ncols=True)

    def starting(self, spec: RunSpec) -> None:
        if self.bar is not None:
            self.bar.set_description(
                f"{spec.problem} N={spec.n_samples} D={spec.features} "
                f"{optimizer_label(spec.asdict())} {spec.backend}/{spec.mode} "
                f"{spec.device} {spec.dtype}"
            )

    def done(self, spec: RunSpec, row: dict) -> None:
        self.count += 1
        t = row.get("time_per_step_s")
        timing = f", {seconds(t)}/step" if isinstance(t, float) else ""
        line = (
            f"[{self.count}/{self.total}] {spec.problem} {optimizer_label(spec.asdict())} "
            f"{spec.backend}/{spec.mode} "
            f"{spec.device} {spec.dtype} N={spec.n_samples} D={spec.features}: "
            f"{verdict(row)}{timing}"
        )
        if self.bar is not None:
            self.bar.write(line, file=self.stream)
            self.bar.update(1)
        else:
            elapsed = time.perf_counter() - self.start
            print(f"{line}  ({elapsed:.0f}s)", file=self.stream)

    def round_done(self, spec: RunSpec, round_: int, total: int, result: str) -> None:
        line = (
            f"[round {round_}/{total}] {spec.problem} {optimizer_label(spec.asdict())} "
            f"{spec.backend}/{spec.mode} {spec.device} {spec.dtype} N={spec.n_samples} "
            f"D={spec.features}: {result}"
        )
        if self.bar is not None:
            self.bar.write(line, file=self.stream)
        else:
            print(line, file=self.stream)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def execute_plan(
    plan,
    stream=None,
    summary: str = "summary.csv",
    columns: list[str] | None = None,
    bar: bool = False,
    run_cells=run_cells,
) -> int:
    """Runs the plan's cells not already done; every finished row is on disk at once."""
    stream = stream or sys.stderr
    writer = ResultWriter(plan.out, summary=summary, resume=plan.resume, columns=columns)
    if plan.resume:
        dropped = writer.keep_valid({normal_key(s.key()) for s in plan.ordered})
        if dropped:
            print(f"{plan.out}: {dropped} damaged row(s) set aside, run again", file=stream)
    if not plan.resume:
        (plan.out / "command.json").write_text(json.dumps(plan.saved, indent=2) + "\n")
    done = writer.done_keys()
    threads = plan.options.threads
    for spec, reason in plan.skipped:
        if normal_key(spec.key()) not in done:
            writer.add(skipped_row(spec, reason, threads))
    todo = [s for s in plan.specs if normal_key(s.key()) not in done]
    if plan.resume:
        print(
            f"resuming {plan.out}: {len(plan.specs) - len(todo)} cells already done, "
            f"{len(todo)} to run",
            file=stream,
        )

    # Each instance's float64 reference, computed here once. A reference that fails (a
    # plug-in's loss that raises, data it cannot use) fails its own cells, as error rows;
    # the other cells of the run go on.
    failed_refs: dict[tuple, str] = {}
    seen_refs: set[tuple] = set()
    for s in todo:
        ref_key = s.reference_args()
        if ref_key in seen_refs:
            continue
        seen_refs.add(ref_key)
        try:
            with deadline(plan.options.cell_timeout, "the float64 reference"):
                frame = reference_frame(s, plan.options.data_file, plan.options.record_every)
        except (Exception, SystemExit) as exc:  # user code: a plug-in's loss, its data
            failed_refs[ref_key] = f"the float64 reference failed: {exception_line(exc)}"
        else:
            writer.traj.append(frame)
    for s in [s for s in todo if s.reference_args() in failed_refs]:
        todo.remove(s)
        writer.add(error_row(s, failed_refs[s.reference_args()], threads))

    progress = Progress(len(todo), stream, bar)

    def on_done(spec, row, traj, samples):
        writer.add(row, traj, samples)
        progress.done(spec, row)

    def rounds_done(spec):
        return writer.rounds_done(normal_key(spec.key()))

    def on_round(spec, samples, why):
        key = normal_key(spec.key())
        if samples is None:
            progress.round_done(spec, rounds_done(spec) + 1, plan.options.rounds, f"failed: {why}")
            return
        writer.add_round(key, samples)
        per = samples["seconds"] / samples["steps_in_block"]
        progress.round_done(
            spec, rounds_done(spec), plan.options.rounds, f"{seconds(float(per.median()))}/step"
        )

    try:
        run_cells(
            todo,
            plan.options,
            on_done,
            progress.starting,
            rounds_done=rounds_done,
            on_round=on_round,
            timed=plan.specs,
            row_of=lambda spec: writer.row_of(normal_key(spec.key())),
        )
    finally:
        progress.close()
    rank = {normal_key(s.key()): i for i, s in enumerate(plan.ordered)}
    rows = sorted(
        writer.summary().to_dict("records"),
        key=lambda r: rank.get(normal_key(row_key(r)), len(rank)),
    )
    print(format_table(rows))
    written = [writer.summary_path, writer.traj_path]
    if writer.samples_path and writer.samples_path.exists():
        written.append(writer.samples_path)
    print(f"\nresults: {'  '.join(str(p) for p in written)}")
    return 1 if any(failed(r, plan.options.strict) for r in rows) else 0
