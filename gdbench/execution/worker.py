"""What a worker process is: how it starts (``start``), the variables it starts with
(``worker_environment``) and the tasks it runs (``Task``, ``run_task``).

Every executor runs the same tasks through here: the local one in a spawned
``multiprocessing`` process per backend, the Dask one in a plain subprocess per task
(``gdbench.execution.cell_process``). So a cell runs the same code, with the same thread
variables and the backend's own process environment, wherever it runs.
"""

from __future__ import annotations

import contextlib
import enum
import os
import signal
from dataclasses import dataclass

from gdbench import registry
from gdbench.compat.containment import die_with_parent
from gdbench.execution import cell
from gdbench.execution.instances import seed
from gdbench.spec import RunSpec

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


class Kind(enum.StrEnum):
    """What a task does with its cell."""

    EXECUTE = "execute"  # run, judge and (first round) time: a summary row
    RETIME = "retime"  # one more timing round: its blocks
    PROFILE = "profile"  # one step profiled: breakdown.csv's rows


@dataclass(frozen=True)
class Task:
    """One unit of work for an executor: a cell, what to do with it, and for a timing
    round after the first, the host the first ran on (an executor that places tasks on
    hosts keeps a cell's rounds on one machine)."""

    kind: Kind
    spec: RunSpec
    round: int = 1
    host: str = ""  # the first round's host name ("" anywhere)
    address: str = ""  # and its network address, where the executor places by address


def run_task(task: Task, opts: cell.Options, references: dict | None = None):
    """The task's result, in this process: ``execute``'s triple, ``retime``'s pair or
    ``profile_cell``'s rows (or error line). ``references``: more of the planner's, sent
    with the task."""
    if references:
        seed(references)
    if task.kind is Kind.EXECUTE:
        return cell.execute(task.spec, opts)
    if task.kind is Kind.RETIME:
        return cell.retime(task.spec, opts, task.round)
    from gdbench.execution.cell_profile import profile_cell

    return profile_cell(task.spec, opts)


def import_backend(backend: str) -> None:
    """Imports what ``backend`` needs (its ``requires`` and ``preload``), so that a worker
    started ahead has done so before any cell is timed, and no cell's time limit stops an
    import halfway (the module would stay broken for the process); what fails to import
    fails the cells later."""
    import importlib

    known = registry.backends().get(backend)
    # pandas: every timed cell's blocks become a frame (results.schema.samples_frame)
    for name in ("pandas", *getattr(known, "requires", ()), *getattr(known, "preload", ())):
        with contextlib.suppress(Exception):
            importlib.import_module(name)


def start(
    plugins, threads: int | None, references: dict, parent: int, shipped: bytes = b""
) -> None:
    """A worker process's start: it dies with its parent, leaves Ctrl-C to it, keeps to
    ``threads`` CPUs, holds the planner's references and loads the run's plug-ins (files,
    and objects pickled by value: ``shipped``)."""
    die_with_parent(parent)  # a killed run leaves no worker behind
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    cell.in_worker()
    seed(references)
    if threads:
        with contextlib.suppress(AttributeError, OSError):
            os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:threads])
    for path in plugins:
        registry.load_plugin(path)
    register_shipped(shipped)


def register_shipped(shipped: bytes) -> None:
    """Registers the problems, backends and optimizers a notebook defined, pickled by value
    by the process that planned the run (``gdbench.api.running.ship``)."""
    if not shipped:
        return
    import pickle

    from gdbench.backend import Backend
    from gdbench.optimizer import Optimizer

    for obj in pickle.loads(shipped):
        if isinstance(obj, Backend):
            registry.register_backend(obj)
        elif isinstance(obj, Optimizer):
            registry.register_optimizer(obj)
        else:
            registry.register_problem(obj)


def thread_environment(threads: int | None) -> dict[str, str]:
    """Variables that size BLAS/OpenMP/XLA pools; set before a worker imports anything."""
    if not threads:
        return {}
    env = {v: str(threads) for v in THREAD_VARIABLES}
    if threads == 1:
        env["XLA_FLAGS"] = (
            os.environ.get("XLA_FLAGS", "")
            + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        ).strip()
    return env


def backend_environment(backend: str | None) -> dict[str, str]:
    """The backend's own variables (``Backend.process_environment``), asked where its
    plug-in is loaded: the planning process."""
    known = registry.backends().get(backend) if backend else None
    return known.process_environment() if known is not None else {}


def worker_environment(threads: int | None, backend: str | None = None) -> dict[str, str]:
    """What a worker process for ``backend``'s cells starts with: the thread variables and
    the backend's own."""
    return {**thread_environment(threads), **backend_environment(backend)}


@contextlib.contextmanager
def worker_variables(env: dict[str, str]):
    """``env`` set in this process while worker processes start, restored afterwards."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
