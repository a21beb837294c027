"""Where tasks run: the ``Executor`` protocol that the local and the Dask executors meet.

An executor takes tasks (``worker.Task``) and yields each one's ``Finished`` as it
finishes, in any order. It decides where and in which processes they run, and nothing
else: what a cell is, the first pass and the timing rounds, error rows, the attempts in a
row's reason and the progress lines are the scheduler's (``gdbench.execution.schedule``),
written once above every executor.

Another engine (a SLURM array, Ray) is one more module with a class like
``LocalExecutor`` or ``DaskExecutor``: ``run`` each task through ``worker.run_task`` in a
process started by ``worker.start`` (``cell_process`` does both for a subprocess) with
``worker_environment``'s variables, and ``measure`` each host's bandwidth once; then a
branch in ``schedule.open_executor`` that chooses it.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Protocol

from gdbench.execution.cell import Options
from gdbench.execution.worker import Task


@dataclass
class Finished:
    """A task's outcome: its result (what ``worker.run_task`` returned), or ``failure``,
    why there is none (a dead worker, a time limit); ``where`` names the host and worker
    that ran it where it is not this process's (columns ``host``, ``worker``,
    ``attempts``)."""

    task: Task
    result: object = None
    failure: str = ""
    where: dict = field(default_factory=dict)


class Executor(Protocol):
    # Whether a timing round after the first goes back to its first round's host (and
    # blocks from another are not pooled): true where tasks run on several machines.
    places_by_host: bool

    def run(
        self,
        tasks: list[Task],
        opts: Options,
        references: dict,
        on_start: Callable[[Task], None],
    ) -> Generator[Finished, None, None]:
        """Runs the tasks; yields each one's outcome as it finishes. ``references`` are
        the float64 references by key (``instances.seeded_references``), computed once by
        the caller; ``on_start`` hears of a task as it starts, where the executor knows."""
        ...

    def measure(self, dtypes: tuple[str, ...] = ("float32",)) -> dict:
        """machine.json's content: ``{"hosts": {host name: {device: roofs}}}``, each host
        measured once on itself (bandwidths, and the compute roof of each of ``dtypes``)."""
        ...
