"""The local executor: the cells on this machine, one worker process per backend.

With timing on, each backend's tasks run in a spawned worker process of their own, started
with that backend's worker environment, so one library's thread pools, JIT caches or GPU
memory pools cannot disturb another's timings; a worker that dies or runs past its limit
is stopped and a fresh one takes the backend's remaining tasks. Without timing the tasks
run here, in order, backend by backend.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import socket
import sys
from collections.abc import Callable, Generator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool

from gdbench.compat.containment import heartbeat, stop_processes
from gdbench.execution.cell import Options
from gdbench.execution.executor import Finished
from gdbench.execution.instances import reference_key
from gdbench.execution.worker import (
    Task,
    run_task,
    start,
    worker_environment,
    worker_variables,
)

# What a worker process is given beyond the cell's own limit, which it enforces itself,
# before the parent stops it (a C call that never returns to Python).
KILL_GRACE_S = 30.0


def by_backend(tasks: list[Task]) -> dict[str, list[Task]]:
    """The tasks by backend, in order of first appearance."""
    groups: dict[str, list[Task]] = {}
    for t in tasks:
        groups.setdefault(t.spec.backend, []).append(t)
    return groups


class LocalExecutor:
    places_by_host = False

    def __init__(self, in_process: bool = False):
        self.in_process = in_process  # untimed: every task here, no worker processes

    def run(
        self,
        tasks: list[Task],
        opts: Options,
        references: dict,
        on_start: Callable[[Task], None] = lambda task: None,
    ) -> Generator[Finished, None, None]:
        for backend, group in by_backend(tasks).items():
            if self.in_process:
                for task in group:
                    on_start(task)
                    with heartbeat(f"{task.spec.label()}, {task.spec.steps} steps", sys.stderr):
                        yield Finished(task, run_task(task, opts))
                continue
            keys = {reference_key(t.spec, opts.data_file) for t in group}
            own = {k: references[k] for k in keys if k in references}
            with worker_variables(worker_environment(opts.threads, backend)):
                yield from _in_worker(group, opts, own, on_start)

    def measure(self, dtypes: tuple[str, ...] = ("float32",)) -> dict:
        from gdbench.timing.bandwidth import device_limits

        return {"hosts": {socket.gethostname(): device_limits(tuple(dtypes))}}


@contextlib.contextmanager
def _runnable_main():
    """A spawned process runs the parent's ``__main__`` file again, and dies where that is
    no file (a script piped to ``python -``: "<stdin>"). The workers need nothing of it (a
    notebook's objects travel by value), so such a name is hidden while they start."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or path is None or getattr(main.__spec__, "name", None) or os.path.isfile(path):
        yield
        return
    del main.__file__
    try:
        yield
    finally:
        main.__file__ = path


def _in_worker(
    tasks: list[Task], opts: Options, references: dict, on_start: Callable[[Task], None]
) -> Generator[Finished, None, None]:
    """One spawned process for these tasks; a crashed or stopped worker fails its task and
    a fresh process takes the remaining ones."""
    with _runnable_main():
        yield from _in_workers(tasks, opts, references, on_start)


def _in_workers(
    tasks: list[Task], opts: Options, references: dict, on_start: Callable[[Task], None]
) -> Generator[Finished, None, None]:
    pending = list(tasks)
    ctx = multiprocessing.get_context("spawn")
    limit = opts.cell_timeout + KILL_GRACE_S if opts.cell_timeout else None
    while pending:
        pool = ProcessPoolExecutor(
            1,
            mp_context=ctx,
            initializer=start,
            initargs=(opts.plugins, opts.threads, references, os.getpid(), opts.shipped),
        )
        try:
            while pending:
                task = pending.pop(0)
                on_start(task)
                try:
                    with heartbeat(f"{task.spec.label()}, {task.spec.steps} steps", sys.stderr):
                        result = pool.submit(run_task, task, opts).result(timeout=limit)
                except BrokenProcessPool as exc:
                    yield Finished(task, failure=f"worker process died: {exc}")
                    break
                except FutureTimeout:
                    stop_processes(pool)
                    yield Finished(
                        task,
                        failure=f"TimeLimit: the cell did not finish within {limit:g} s "
                        "(--cell-timeout); its worker process was stopped",
                    )
                    break
                yield Finished(task, result)
        except BaseException:  # Ctrl-C or SIGTERM in the parent: no worker may run on
            stop_processes(pool)
            raise
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
