"""The Dask executor (``--cluster``): each task in a fresh subprocess on a Dask worker.

What it does about the engine's defaults is in ``gdbench.execution.cluster``, which also
connects and checks the workers; this module only places tasks and brings back their
outcomes. The driver alone writes results, as they come back.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Generator
from dataclasses import replace
from pathlib import Path

from gdbench.errors import UsageError
from gdbench.execution.cell import Options
from gdbench.execution.cluster import (
    Worker,
    check_layout,
    check_workers_import,
    connect,
    workers_of,
)
from gdbench.execution.executor import Finished
from gdbench.execution.instances import reference_key
from gdbench.execution.rows import exception_line
from gdbench.execution.worker import Task, backend_environment, thread_environment


@contextlib.contextmanager
def dask_executor(plan):
    """Connects to ``plan.cluster``, checks its workers against the plan's cells (a usage
    error before any cell runs) and yields the DaskExecutor."""
    # A refusal here is a UsageError before any cell; the folder this run made is taken
    # away again as its lock is released (``folder_lock.release``).
    with connect(plan.cluster) as client:
        workers = workers_of(client)
        check_workers_import(client, str(plan.cluster))
        check_layout(workers, plan.specs, plan.options.timing, str(plan.cluster))
        # A task's key names its results folder (a run kept in memory: this process)
        where = Path(plan.out).resolve() if plan.out is not None else f"memory-{os.getpid()}"
        yield DaskExecutor(client, workers, tag=str(where))


def task_key(task: Task, tag: str) -> str:
    """The task's key: from the cell's key, its kind, its round and the results folder, so
    a lost worker or a resumed sweep meets the same key, never a duplicate."""
    from gdbench.results.schema import normal_key

    spec = task.spec
    text = repr((normal_key(spec.key()), task.round, tag, task.kind.value))
    digest = hashlib.sha1(text.encode()).hexdigest()[:20]
    return f"gdbench-{spec.backend}-{digest}-r{task.round}"


def on_worker(payload: dict):
    """Runs in a Dask worker: the payload in a fresh subprocess with gdbench's thread
    variables and the backend's own; returns ``(result, where)``, or ``(message, where)``
    when the subprocess crashed."""
    from distributed import get_worker

    from gdbench.compat.machine import available_cpus

    worker = get_worker()
    # Said before the work starts, so that a task requeued from a worker that died is
    # told from one that was running there (``DaskExecutor.attempts``).
    worker.log_event(STARTED, {"key": worker.get_current_task()})
    where = {"host": socket.gethostname(), "worker": worker.address}
    threads = payload.get("threads") or available_cpus()
    payload = {**payload, "threads": threads}
    env = {**os.environ, **thread_environment(threads), **payload.pop("backend_env", {})}
    with tempfile.TemporaryDirectory(prefix="gdbench-cell-") as tmp:
        src, dst = Path(tmp) / "in.pkl", Path(tmp) / "out.pkl"
        src.write_bytes(pickle.dumps(payload))
        proc = subprocess.run(
            [sys.executable, "-m", "gdbench.execution.cell_process", str(src), str(dst)],
            env=env,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0 or not dst.exists():
            tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            return f"cell process exited with status {proc.returncode}: {tail}", where
        return pickle.loads(dst.read_bytes()), where


STARTED = "gdbench-started"  # the event topic a task's start is logged under


def _suspicious(dask_scheduler, keys):
    return {k: ts.suspicious for k in keys if (ts := dask_scheduler.tasks.get(k)) is not None}


class DaskExecutor:
    """Tasks on the cluster's workers: CUDA cells on workers with a GPU resource, a later
    timing round on the host of its first (``places_by_host``)."""

    places_by_host = True

    def __init__(self, client, workers: list[Worker], tag: str):
        self.client, self.workers, self.tag = client, workers, tag

    def _submit(self, task: Task, opts: Options, references: dict, plugins: list):
        spec = task.spec
        key = reference_key(spec, opts.data_file)
        payload = {
            "task": task,
            "options": replace(opts, plugins=()),
            "threads": opts.threads,
            "references": {key: references[key]} if key in references else {},
            "plugins": plugins,
            "backend_env": backend_environment(spec.backend),
        }
        gpu = spec.device == "cuda"
        workers = [w.address for w in self.workers if w.gpu == gpu] or None
        return self.client.submit(
            on_worker,
            payload,
            key=task_key(task, self.tag),
            pure=False,
            retries=0,
            resources={"GPU": 1} if gpu else None,
            # A later round goes back to the host of the first (a host name, so a restarted
            # worker there still counts); if that host is gone it may run elsewhere, and its
            # blocks are then not pooled (the schedule checks).
            workers=[task.address] if task.address else workers,
            allow_other_workers=bool(task.address),
        )

    def attempts(self, key: str) -> dict:
        """How often the task was started (``attempts``), and how often it was put back
        in the queue because a worker it waited on died (``requeued``): the scheduler
        counts every task a lost worker held, running or only queued there."""
        try:
            lost = int(self.client.run_on_scheduler(_suspicious, keys=[key]).get(key, 0))
        except Exception:  # an older scheduler, or one that forgot the task: unknown
            return {"attempts": 1, "requeued": 0}
        if not lost:
            return {"attempts": 1, "requeued": 0}
        try:
            events = self.client.get_events(STARTED)
            starts = sum(1 for _, msg in events if msg.get("key") == key)
        except Exception:  # no event log: every loss counted as a run, as before
            starts = lost + 1
        starts = max(starts, 1)
        return {"attempts": starts, "requeued": max(lost - (starts - 1), 0)}

    def run(
        self,
        tasks: list[Task],
        opts: Options,
        references: dict,
        on_start: Callable[[Task], None] = lambda task: None,
    ) -> Generator[Finished, None, None]:
        from distributed import as_completed

        plugins = [(Path(p).name, Path(p).read_text(encoding="utf-8")) for p in opts.plugins]
        futures = {self._submit(t, opts, references, plugins): t for t in tasks}
        for future in as_completed(futures):
            task = futures[future]
            try:
                result, where = future.result()
            except Exception as exc:  # KilledWorker, a lost connection …
                yield Finished(task, failure=_died(exc), where={"host": "", "worker": ""})
                continue
            where = {**where, **self.attempts(future.key)}
            future.release()
            if isinstance(result, str):
                yield Finished(task, failure=result, where=where)
            else:
                yield Finished(task, result, where=where)

    def measure(self, dtypes: tuple[str, ...] = ("float32",)) -> dict:
        """Each host's roofs, measured once on one of its workers."""
        from distributed import wait

        firsts: dict[str, Worker] = {}
        for w in self.workers:
            firsts.setdefault(w.host, w)
        futures = {
            host: self.client.submit(
                on_worker,
                {"measure": True, "threads": None, "dtypes": tuple(dtypes)},
                key=f"gdbench-limits-{host}-{self.tag}",
                workers=[w.address],
                allow_other_workers=False,
                pure=False,
                resources={"GPU": 1} if w.gpu else None,
            )
            for host, w in firsts.items()
        }
        wait(list(futures.values()))
        hosts = {}
        for host, f in futures.items():
            result, where = f.result()
            if isinstance(result, str):
                raise UsageError(f"--cluster: measuring host {host} failed: {result}")
            hosts[where["host"]] = result
        return {"hosts": hosts}


def _died(exc: Exception) -> str:
    name = type(exc).__name__
    if name == "KilledWorker":
        return (
            f"worker died while running this cell ({name}); not run again elsewhere, so no "
            "timing silently comes from another machine"
        )
    return exception_line(exc)
