"""The run's schedule, above every executor: the first pass over the cells, the timing
rounds, error rows for tasks that failed, the attempts in a row's reason, and the step
profile's pass. An executor (``gdbench.execution.executor``) only says where tasks run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator, Iterable
from typing import Protocol, cast
from urllib.parse import urlparse

from gdbench.execution.cell import Options
from gdbench.execution.executor import Executor, Finished
from gdbench.execution.instances import seeded_references
from gdbench.execution.rows import error_row, with_reason
from gdbench.execution.worker import Kind, Task
from gdbench.spec import RunSpec


class Recorder(Protocol):
    """What the schedule tells of the run as it goes (the results writer and progress
    lines, ``gdbench.api.run_plan``), and asks of what is already recorded."""

    def started(self, spec: RunSpec) -> None: ...

    def finished(self, spec: RunSpec, row: dict, traj, samples) -> None: ...

    def rounds_done(self, spec: RunSpec) -> int: ...

    def round_finished(self, spec: RunSpec, samples, why: str) -> None: ...

    def first_row(self, spec: RunSpec) -> dict | None: ...


@contextlib.contextmanager
def open_executor(plan, measure: bool = False):
    """The plan's executor: the Dask one for ``--cluster`` (connected, its workers checked
    against the plan's cells), else the local one."""
    if plan.cluster is None:
        from gdbench.execution.local import LocalExecutor

        local = LocalExecutor(in_process=not plan.options.timing)
        try:
            yield local
        finally:
            local.close()
        return
    from gdbench.execution.dask_executor import dask_executor

    with dask_executor(plan) as executor:
        yield executor


def run_cells(
    executor: Executor,
    specs: Iterable[RunSpec],
    opts: Options,
    recorder: Recorder,
    timed: Iterable[RunSpec] = (),
) -> None:
    """Runs the cells, then, with ``opts.rounds`` > 1, times every timed cell (these and
    ``timed``, the cells of a resumed folder) again, round by round, until the recorder
    has each round of each."""
    specs = list(specs)
    everything = list(dict.fromkeys([*timed, *specs]))
    # The first pass's references (a later round only times: it needs none); a cell whose
    # reference failed never reaches here (``run_command`` wrote its error row).
    references = seeded_references(specs, opts.data_file)
    tasks = [Task(Kind.EXECUTE, s) for s in specs]
    for done in _each(executor, tasks, opts, references, recorder):
        recorder.finished(done.task.spec, *_first_round(done, opts))
    if not opts.timing or opts.rounds <= 1:
        return
    for round_ in range(2, opts.rounds + 1):
        todo = [s for s in everything if 0 < recorder.rounds_done(s) < round_]
        tasks = [_round_task(s, round_, recorder, executor) for s in todo]
        for done in _each(executor, tasks, opts, references, recorder):
            recorder.round_finished(done.task.spec, *_later_round(done, executor))


def _each(executor: Executor, tasks, opts, references, recorder) -> Generator[Finished, None, None]:
    """The executor's outcomes; it is closed (its workers stopped) when the run stops."""
    results = executor.run(tasks, opts, references, lambda t: recorder.started(t.spec))
    with contextlib.closing(results):
        yield from results


def _first_round(done: Finished, opts: Options) -> tuple[dict, object, object]:
    """The row, trajectory and blocks of a cell's first pass; an error row when its task
    failed. Where the executor ran it elsewhere, the row says where and how often."""
    if done.failure:
        row, traj, samples = error_row(done.task.spec, done.failure, opts.threads), None, None
    else:
        row, traj, samples = cast(tuple, done.result)
    requeued = int(done.where.get("requeued") or 0)
    row.update({k: v for k, v in done.where.items() if k != "requeued"})
    attempts = int(row.get("attempts") or 1)
    if attempts > 1:
        with_reason(
            row,
            f"run {attempts} times: a worker died running it before (the scheduler's "
            f"allowed-failures); this row is from {row.get('worker')}",
        )
    elif requeued:
        with_reason(
            row,
            f"requeued: a worker it was queued on died before it started; this row is "
            f"from {row.get('worker')}",
        )
    return row, traj, samples


def _round_task(spec: RunSpec, round_: int, recorder: Recorder, executor: Executor) -> Task:
    """A later timing round; where the executor places by host, on its first round's."""
    if not executor.places_by_host:
        return Task(Kind.RETIME, spec, round_)
    row = recorder.first_row(spec) or {}
    worker = row.get("worker")
    if not isinstance(worker, str) or "://" not in worker:
        return Task(Kind.RETIME, spec, round_)
    host = str(row.get("host") or "")
    return Task(Kind.RETIME, spec, round_, host, urlparse(worker).hostname or "")


def _later_round(done: Finished, executor: Executor) -> tuple[object, str]:
    """``(blocks, "")`` of a later round, or ``(None, why)``; blocks from another host
    than the first round's are not pooled into its row."""
    if done.failure:
        return None, done.failure
    samples, why = cast(tuple, done.result)
    host, ran_on = done.task.host, done.where.get("host")
    if samples is not None and executor.places_by_host and host and ran_on != host:
        return None, f"ran on {ran_on}, not {host}: not pooled"
    return samples, why


def profile_cells(
    executor: Executor,
    specs: list[RunSpec],
    opts: Options,
    on_result: Callable[[RunSpec, object], None],
) -> None:
    """Each cell's step profiled (``Kind.PROFILE``) where the executor runs cells;
    ``on_result`` gets its rows, or why there are none."""
    tasks = [Task(Kind.PROFILE, s) for s in specs]
    results = executor.run(tasks, opts, {}, lambda task: None)
    with contextlib.closing(results):
        for done in results:
            on_result(done.task.spec, done.failure or done.result)
