"""Each implementation's training step timed as gdbench times an update loop
(``gdbench.timing.timer.measure``: warm-up and compilation off the clock, the framework
synced before every clock read, blocks of steps), in ``rounds`` rounds taken in turn so
that a drift of the machine falls on every implementation alike; the threads are stated
and, with ``threads``, pinned. Each candidate's time is given as a ratio to the
reference's with a 95% bootstrap interval (``gdbench.reports.significance``)."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import numpy as np

from gdbench.ports.runner import Arrays, Runner
from gdbench.timing.timer import measure, median_iqr


@dataclass(frozen=True)
class StepTime:
    """Seconds per training step: every block of every round (``per_step``), summarised;
    ``compile_s``: the implementation's first step (compilation, first touch), off the
    clock."""

    per_step: np.ndarray
    compile_s: float

    @property
    def median(self) -> float:
        return median_iqr(self.per_step)[0]

    @property
    def iqr(self) -> float:
        return median_iqr(self.per_step)[1]


@contextlib.contextmanager
def pinned(threads: int | None):
    """``threads`` CPUs (the first of this process's) and as many torch threads, restored
    afterwards; yields the number of CPUs the steps run on."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if not threads or not cpus:
        yield len(cpus) or os.cpu_count() or 1
        return
    from gdbench.compat.frameworks import import_torch

    torch = import_torch()
    before = torch.get_num_threads()
    os.sched_setaffinity(0, cpus[:threads])
    torch.set_num_threads(threads)
    try:
        yield min(threads, len(cpus))
    finally:
        os.sched_setaffinity(0, cpus)
        torch.set_num_threads(before)


def time_steps(
    runners: dict[str, Runner], w0: Arrays, rounds: int, budget_s: float
) -> dict[str, StepTime]:
    """Each runner (loaded in its dtype) trained from ``w0`` and timed, round by round."""
    samples: dict[str, list] = {n: [] for n in runners}
    compile_s: dict[str, float] = {}
    for _ in range(rounds):
        for name, runner in runners.items():
            runner.start(w0)
            t = measure(runner.session(0), budget_s)
            samples[name].append(t.per_step)
            # The first step the runner ever took compiled it (torch.compile, jax.jit);
            # its warm-up here then only settles.
            first = getattr(runner, "first_s", None)
            compile_s.setdefault(name, first if first is not None else t.compile_s or 0.0)
    return {n: StepTime(np.concatenate(s), compile_s[n]) for n, s in samples.items()}


def ratio(reference: StepTime, candidate: StepTime):
    """candidate / reference time per step, with its interval (a ``Change``)."""
    from gdbench.reports.significance import compare_samples

    return compare_samples(reference.per_step, candidate.per_step)
