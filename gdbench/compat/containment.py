"""Keeping user code and worker processes inside bounds.

A cell runs a user's loss, gradient or backend; a plug-in runs at import. Either can raise
anything (``SystemExit`` included), loop forever, or outlive the run. What gdbench does
about each: exceptions become error rows (``execution.cell.execute``), time is bounded here
(``deadline`` in-process, a future's timeout for worker processes), and a worker process
dies with its parent (``die_with_parent``) instead of spinning on, re-parented to PID 1.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import threading
from collections.abc import Iterator

PR_SET_PDEATHSIG = 1  # linux/prctl.h


class TimeLimit(Exception):
    """User code ran past its time limit; the message says which and how long."""


def die_with_parent(parent_pid: int) -> None:
    """Asks the kernel to kill this process when its parent dies (Linux's
    ``PR_SET_PDEATHSIG``); where that is unavailable, nothing. A parent that died before
    this call is caught by comparing the parent's pid."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:
        os._exit(1)


@contextlib.contextmanager
def deadline(seconds: float | None, what: str) -> Iterator[None]:
    """Raises ``TimeLimit`` in this thread once ``seconds`` have passed (a Python-level
    interruption by SIGALRM: a loop in Python is stopped, a C call is not until it returns).
    No limit outside the main thread, where signals cannot be received, or with None."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expired(signum, frame):
        raise TimeLimit(f"{what} did not finish within {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def stop_processes(pool) -> None:
    """Kills the worker processes of a ``ProcessPoolExecutor`` (a cell past its limit, or
    the run interrupted) and shuts the pool down without waiting for their work."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for p in processes:
        with contextlib.suppress(Exception):
            p.kill()
    pool.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        with contextlib.suppress(Exception):
            p.join(5)


HEARTBEAT_S = 30.0  # a long cell (--steps 1e7, say) says it is alive this often


@contextlib.contextmanager
def heartbeat(label: str, stream, every: float | None = None) -> Iterator[None]:
    """Prints "still running: LABEL (N s)" to ``stream`` every ``every`` seconds (default
    ``HEARTBEAT_S``) until the block ends, so that a long cell is not mistaken for a hang."""
    import time

    every = every or HEARTBEAT_S
    done = threading.Event()
    start = time.monotonic()

    def beat() -> None:
        while not done.wait(every):
            with contextlib.suppress(Exception):  # a closed stream must not kill the run
                print(f"  still running: {label} ({time.monotonic() - start:.0f} s)", file=stream)

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
