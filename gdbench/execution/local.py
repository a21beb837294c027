"""The local executor: the cells on this machine, one worker process per backend.

With timing on, each backend's tasks run in a spawned worker process of their own, started
with that backend's worker environment, so one library's thread pools, JIT caches or GPU
memory pools cannot disturb another's timings; a worker that dies or runs past its limit
is stopped and a fresh one takes the backend's remaining tasks. The first pass's workers
start together (``warm``), each importing its libraries while the planner computes the
references, and the first task waits until all have: no import runs beside a timed
block. A worker never runs the user's script (``_main_left_behind``). Without timing the
tasks run here, in order, backend by backend.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import socket
import sys
from collections.abc import Callable, Generator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

from gdbench.compat.containment import heartbeat, stop_processes
from gdbench.execution.cell import Options
from gdbench.execution.executor import Finished
from gdbench.execution.instances import reference_key
from gdbench.execution.worker import (
    Task,
    import_backend,
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
        self._warm: dict[str, Worker] = {}  # started ahead by ``warm``, for the first pass

    def warm(self, backends, opts: Options) -> None:
        """Starts each backend's worker now, importing its libraries, so that they load
        while this process computes the references; none is timed before all have."""
        if self.in_process:
            return
        for backend in dict.fromkeys(backends):
            if backend not in self._warm:
                self._warm[backend] = Worker.spawn(backend, opts)

    def close(self) -> None:
        """Stops the workers started ahead and not used."""
        for worker in self._warm.values():
            worker.stop()
        self._warm.clear()

    def run(
        self,
        tasks: list[Task],
        opts: Options,
        references: dict,
        on_start: Callable[[Task], None] = lambda task: None,
    ) -> Generator[Finished, None, None]:
        for worker in self._warm.values():  # every import done before any timing
            with contextlib.suppress(Exception):  # a failed one fails its tasks, later
                worker.ready.result()
        for backend, group in by_backend(tasks).items():
            if self.in_process:
                import_backend(backend)  # before any cell's time limit (see import_backend)
                for task in group:
                    on_start(task)
                    with heartbeat(f"{task.spec.label()}, {task.spec.steps} steps", sys.stderr):
                        yield Finished(task, run_task(task, opts))
                continue
            keys = {reference_key(t.spec, opts.data_file) for t in group}
            own = {k: references[k] for k in keys if k in references}
            first = self._warm.pop(backend, None)  # a later round: fresh processes
            yield from _in_workers(backend, group, opts, own, on_start, first)

    def measure(self, dtypes: tuple[str, ...] = ("float32",)) -> dict:
        from gdbench.timing.bandwidth import device_limits

        return {"hosts": {socket.gethostname(): device_limits(tuple(dtypes))}}

    def remeasure(self, dtypes: tuple[str, ...] = ("float32",)) -> dict:
        """The roofs quick to measure, measured again now (``compute_roofs``)."""
        from gdbench.timing.bandwidth import compute_roofs

        return {"hosts": {socket.gethostname(): compute_roofs(tuple(dtypes))}}


@contextlib.contextmanager
def _main_left_behind():
    """A spawned process imports the parent's ``__main__`` again (as ``__mp_main__``): a
    user's script without ``if __name__ == "__main__":`` would run again in every worker,
    its ``gdbench.run`` with it, and the worker die. The workers need nothing of it (a
    notebook's or a script's objects travel by value: ``api.running.ship``), so while one
    starts, ``__main__`` names neither its file nor its module."""
    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    saved = {k: main.__dict__[k] for k in ("__file__", "__spec__") if k in main.__dict__}
    main.__dict__.pop("__file__", None)
    main.__dict__["__spec__"] = None
    try:
        yield
    finally:
        main.__dict__.pop("__spec__", None)
        main.__dict__.update(saved)


@dataclass
class Worker:
    """One backend's worker process (a one-process pool), the future of its start, and
    the references it has been sent."""

    pool: ProcessPoolExecutor
    ready: Future
    sent: set = field(default_factory=set)

    @classmethod
    def spawn(cls, backend: str, opts: Options) -> Worker:
        """A fresh process with the backend's worker variables, importing its libraries."""
        ctx = multiprocessing.get_context("spawn")
        with worker_variables(worker_environment(opts.threads, backend)), _main_left_behind():
            pool = ProcessPoolExecutor(
                1,
                mp_context=ctx,
                initializer=start,
                initargs=(opts.plugins, opts.threads, {}, os.getpid(), opts.shipped),
            )
            ready = pool.submit(import_backend, backend)  # the process starts here
        return cls(pool, ready)

    def submit(self, task: Task, opts: Options, references: dict) -> Future:
        """The task, with the references this process has not been sent yet."""
        new = {k: v for k, v in references.items() if k not in self.sent}
        self.sent.update(new)
        return self.pool.submit(run_task, task, opts, new)

    def stop(self) -> None:
        stop_processes(self.pool)
        self.pool.shutdown(wait=False, cancel_futures=True)


def _in_workers(
    backend: str,
    tasks: list[Task],
    opts: Options,
    references: dict,
    on_start: Callable[[Task], None],
    first: Worker | None = None,
) -> Generator[Finished, None, None]:
    """One worker process for these tasks (``first``, where one was started ahead); a
    crashed or stopped worker fails its task and a fresh process takes the remaining ones."""
    pending = list(tasks)
    limit = opts.cell_timeout + KILL_GRACE_S if opts.cell_timeout else None
    while pending:
        worker, first = first or Worker.spawn(backend, opts), None
        try:
            while pending:
                task = pending.pop(0)
                on_start(task)
                try:
                    with heartbeat(f"{task.spec.label()}, {task.spec.steps} steps", sys.stderr):
                        result = worker.submit(task, opts, references).result(timeout=limit)
                except BrokenProcessPool as exc:
                    yield Finished(task, failure=f"worker process died: {exc}")
                    break
                except FutureTimeout:
                    stop_processes(worker.pool)
                    yield Finished(
                        task,
                        failure=f"TimeLimit: the cell did not finish within {limit:g} s "
                        "(--cell-timeout); its worker process was stopped",
                    )
                    break
                yield Finished(task, result)
        except BaseException:  # Ctrl-C or SIGTERM in the parent: no worker may run on
            stop_processes(worker.pool)
            raise
        finally:
            worker.pool.shutdown(wait=False, cancel_futures=True)
