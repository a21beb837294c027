"""Test plug-ins for cluster runs: three NumPy backends that report or disturb where they
run. ``probe`` names its process, its parent, its thread variable, whether it is a
daemon and the variable its ``process_environment`` sets; ``killer`` kills the worker
that runs it, once per marker file (GDBENCH_TEST_KILL_MARKER), then behaves as numpy;
``sleepy`` takes 1.5 s to prepare."""

import multiprocessing
import os
import signal
import sys
import time
from pathlib import Path

import gdbench
from gdbench.backends.numpy_hand import NumpyBackend, NumpySession


class ProbeSession(NumpySession):
    @property
    def optimizer_impl(self):
        return (
            f"probe pid={os.getpid()} ppid={os.getppid()} "
            f"omp={os.environ.get('OMP_NUM_THREADS')} "
            f"daemon={multiprocessing.current_process().daemon} "
            f"env={os.environ.get('GDBENCH_TEST_PROBE_ENV')}"
        )


class ProbeBackend(NumpyBackend):
    name = "probe"
    order = 90

    def process_environment(self):
        return {"GDBENCH_TEST_PROBE_ENV": "from-the-plug-in"}

    def prepare(self, problem, inst, setup):
        return ProbeSession(problem, inst, setup)


class KillerBackend(NumpyBackend):
    name = "killer"
    order = 91

    def prepare(self, problem, inst, setup):
        marker = Path(os.environ.get("GDBENCH_TEST_KILL_MARKER", "/nonexistent/marker"))
        if marker.parent.is_dir() and not marker.exists():
            marker.write_text("killed once\n")
            os.kill(os.getppid(), signal.SIGKILL)  # the worker that started this process
            sys.exit(1)
        return super().prepare(problem, inst, setup)


class SleepyBackend(NumpyBackend):
    name = "sleepy"
    order = 92

    def prepare(self, problem, inst, setup):
        time.sleep(1.5)
        return super().prepare(problem, inst, setup)


for backend in (ProbeBackend(), KillerBackend(), SleepyBackend()):
    gdbench.register_backend(backend)
