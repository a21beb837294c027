"""A planned run (or sweep) executed: every row written as its cell finishes, with progress
lines; the command line and the Python API both run plans through here."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gdbench.compat.containment import deadline
from gdbench.execution.instances import MakeFailed, reference_frame
from gdbench.execution.rows import error_row, exception_line, skipped_row
from gdbench.execution.schedule import run_cells
from gdbench.numerics.verdict import Verdict
from gdbench.reports.table import format_table, problem_labels, seconds, verdict
from gdbench.results.files import atomic_text
from gdbench.results.schema import Status, flag, normal_key
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
    return not flag(row.get("agrees"))  # folders from before verdicts


def row_key(row: dict) -> tuple:
    return RunSpec.from_row(row).key()


class Progress:
    """One line per finished cell; with ``bar``, a tqdm bar (cell running, time left)."""

    def __init__(self, total: int, stream, bar: bool, specs: Sequence[RunSpec] = ()):
        self.total, self.stream, self.count = total, stream, 0
        # A sweep over settings names each cell's: classifier[layers=8-4-3] N=… .
        records = [{"problem": s.problem, "problem_args": s.problem_args} for s in specs]
        self.problems = {
            (s.problem, s.problem_args): name
            for s, name in zip(specs, problem_labels(records), strict=True)
        }
        self.start = time.perf_counter()
        self.bar = None
        if bar:
            try:
                from tqdm import tqdm
            except ImportError:
                pass
            else:
                self.bar = tqdm(total=self.total, file=stream, unit="cell", dynamic_ncols=True)

    def label(self, spec: RunSpec) -> str:
        return spec.label(self.problems.get((spec.problem, spec.problem_args)))

    def starting(self, spec: RunSpec) -> None:
        if self.bar is not None:
            self.bar.set_description(self.label(spec))

    def done(self, spec: RunSpec, row: dict) -> None:
        self.count += 1
        t = row.get("time_per_step_s")
        timing = f", {seconds(t)}/step" if isinstance(t, float) else ""
        line = f"[{self.count}/{self.total}] {self.label(spec)}: {verdict(row)}{timing}"
        if self.bar is not None:
            self.bar.write(line, file=self.stream)
            self.bar.update(1)
        else:
            elapsed = time.perf_counter() - self.start
            print(f"{line}  ({elapsed:.0f}s)", file=self.stream)

    def round_done(self, spec: RunSpec, round_: int, total: int, result: str) -> None:
        line = f"[round {round_}/{total}] {self.label(spec)}: {result}"
        if self.bar is not None:
            self.bar.write(line, file=self.stream)
        else:
            print(line, file=self.stream)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class Recording:
    """The schedule's ``Recorder`` for a run: rows to the writer as they come, progress
    lines to the stream."""

    def __init__(self, writer: ResultWriter, progress: Progress, rounds: int):
        self.writer, self.progress, self.rounds = writer, progress, rounds

    def started(self, spec: RunSpec) -> None:
        self.progress.starting(spec)

    def finished(self, spec: RunSpec, row: dict, traj, samples) -> None:
        self.writer.add(row, traj, samples)
        self.progress.done(spec, row)

    def rounds_done(self, spec: RunSpec) -> int:
        return self.writer.rounds_done(normal_key(spec.key()))

    def first_row(self, spec: RunSpec) -> dict | None:
        return self.writer.row_of(normal_key(spec.key()))

    def round_finished(self, spec: RunSpec, samples, why: str) -> None:
        if samples is None:
            self.progress.round_done(
                spec, self.rounds_done(spec) + 1, self.rounds, f"failed: {why}"
            )
            return
        self.writer.add_round(normal_key(spec.key()), samples)
        per = samples["seconds"] / samples["steps_in_block"]
        median = seconds(float(per.median()))
        self.progress.round_done(spec, self.rounds_done(spec), self.rounds, f"{median}/step")


def execute_plan(
    plan,
    executor,
    stream=None,
    summary: str = "summary.csv",
    columns: list[str] | None = None,
    bar: bool = False,
    finish=None,
) -> Outcome:
    """Runs the plan's cells not already done on ``executor``; every finished row is on
    disk at once. The rows in the table's order, the files written, the exit status.
    ``finish(writer)``: called once the cells are done (a sweep bounds its roofs)."""
    stream = stream or sys.stderr
    writer = ResultWriter(plan.out, summary=summary, resume=plan.resume, columns=columns)
    todo = _cells_to_run(plan, writer, stream)
    if hasattr(executor, "warm"):  # its workers import their libraries meanwhile
        executor.warm([s.backend for s in todo], plan.options)
    todo = _with_references(plan, writer, todo)
    progress = Progress(len(todo), stream, bar, plan.ordered)
    try:
        run_cells(
            executor,
            todo,
            plan.options,
            Recording(writer, progress, plan.options.rounds),
            timed=plan.specs,
        )
    finally:
        progress.close()
    if finish is not None:
        finish(writer)
    rank = {normal_key(s.key()): i for i, s in enumerate(plan.ordered)}
    rows = sorted(
        writer.summary().to_dict("records"),
        key=lambda r: rank.get(normal_key(row_key(r)), len(rank)),
    )
    written = [writer.summary_path, writer.traj_path] if plan.out is not None else []
    if plan.out is not None and writer.samples_path.exists():
        written.append(writer.samples_path)
    code = 1 if any(failed(r, plan.options.strict) for r in rows) else 0
    texts = writer.texts() if plan.out is None else {}
    return Outcome(code, rows, written, plan.saved.get("baseline"), texts, dict(plan.saved))


@dataclass
class Outcome:
    """What a run gave: its exit status (1 where a cell failed), its rows in the table's
    order and the files it wrote."""

    code: int
    rows: list[dict]
    written: list[Path]
    baseline: str | None = None  # --baseline, "backend/mode"
    texts: dict[str, str] = field(default_factory=dict)  # a run kept in memory: its files
    command: dict = field(default_factory=dict)  # and what command.json would hold

    def print(self) -> int:
        """The command line's output: the table, then where the results are."""
        print(format_table(self.rows, self.baseline))
        print(f"\nresults: {'  '.join(str(p) for p in self.written)}")
        return self.code


def _cells_to_run(plan, writer: ResultWriter, stream) -> list[RunSpec]:
    """The plan's cells not yet in the folder; skipped cells are written at once, and a
    resumed folder's damaged rows are set aside to run again."""
    if plan.resume:
        dropped = writer.keep_valid({normal_key(s.key()) for s in plan.ordered})
        if dropped:  # a damaged row's cell runs again; a repeated row is gone from the file
            print(
                f"{plan.out}: {dropped} damaged or repeated row(s) set aside "
                "(a cell left without a valid row runs again)",
                file=stream,
            )
            writer.flush(traj_changed=False, samples_changed=False)
    if not plan.resume and plan.out is not None:
        atomic_text(plan.out / "command.json", json.dumps(plan.saved, indent=2) + "\n")
    done = writer.done_keys()
    for spec, reason in plan.skipped:
        if normal_key(spec.key()) not in done:
            writer.add(skipped_row(spec, reason, plan.options.threads))
    todo = [s for s in plan.specs if normal_key(s.key()) not in done]
    if plan.resume:
        print(
            f"resuming {plan.out}: {len(plan.specs) - len(todo)} cells already done, "
            f"{len(todo)} to run",
            file=stream,
        )
    return todo


def _with_references(plan, writer: ResultWriter, todo: list[RunSpec]) -> list[RunSpec]:
    """Each instance's float64 reference, computed here once and its rows written; the
    cells whose reference fails (a plug-in's loss that raises, data it cannot use) get
    error rows, and the other cells of the run go on. The cells left to run."""
    opts = plan.options
    failed_refs: dict[tuple, str] = {}
    seen_refs: set[tuple] = set()
    if todo:
        from gdbench.numerics.autodiff import import_autodiff

        import_autodiff()  # before the time limit: an import stopped halfway stays broken
    for s in todo:
        ref_key = s.reference_args()
        if ref_key in seen_refs:
            continue
        seen_refs.add(ref_key)
        try:
            with deadline(opts.cell_timeout, "the float64 reference"):
                frame = reference_frame(s, opts.data_file, opts.record_every)
        except MakeFailed as exc:  # the problem's make: nothing of it can run
            failed_refs[ref_key] = str(exc)
        except (Exception, SystemExit) as exc:  # user code: a plug-in's loss, its data
            hint = ""
            if isinstance(exc, TypeError | AttributeError):
                hint = (
                    " (its gradient is autodiff's, on torch or JAX arrays: for anything beyond "
                    "operators and array methods the loss needs gdbench.namespace(w))"
                )
            failed_refs[ref_key] = f"the float64 reference failed: {exception_line(exc)}{hint}"
        else:
            writer.traj.append(frame)
    for s in todo:
        if s.reference_args() in failed_refs:
            writer.add(error_row(s, failed_refs[s.reference_args()], opts.threads))
    return [s for s in todo if s.reference_args() not in failed_refs]
