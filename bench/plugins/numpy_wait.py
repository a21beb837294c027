"""A plug-in for regression trials: the built-in ``numpy`` backend replaced by a copy that
waits 20 µs in every step (a busy wait: ``time.sleep`` would round 20 µs up to the
scheduler's slack), as an accidental extra synchronisation or copy would. Same trajectory;
the small NumPy cells several times slower. What ``history`` and ``compare`` must catch.
``GDBENCH_WAIT_US`` sets another wait.

    python -m gdbench --rounds 3 --plugin bench/plugins/numpy_wait.py --out slowed
"""

import os
import time

import gdbench
from gdbench.backends.numpy_hand import NumpyBackend, NumpySession

WAIT_S = float(os.environ.get("GDBENCH_WAIT_US", "20")) * 1e-6


class WaitingSession(NumpySession):
    def step(self, record):
        until = time.perf_counter() + WAIT_S
        while time.perf_counter() < until:
            pass
        return super().step(record)


class WaitingBackend(NumpyBackend):
    replaces = True  # stands in for the built-in numpy, and says so

    def prepare(self, problem, inst, setup):
        return WaitingSession(problem, inst, setup)


gdbench.register_backend(WaitingBackend())
