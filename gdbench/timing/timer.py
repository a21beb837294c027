"""Timing the update loop: blocks of steps, synchronised clock reads, raw samples kept.

Follows torch.utils.benchmark's blocked_autorange: the block of steps grows until one
block takes long enough that the clock's own overhead is negligible, then blocks are
repeated until the spread is small or the time budget is spent. The backend's ``sync`` is
called before every clock read, so queued GPU work is inside the interval it belongs to.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

MIN_BLOCK_S = 0.02  # ~10^4 times perf_counter's overhead and resolution
MIN_REPEATS = 5
MAX_REPEATS = 200
TARGET_IQR_FRAC = 0.05  # stop early once IQR/median falls below this
WARN_IQR_FRAC = 0.10  # above this, a result carries a warning


@dataclass(frozen=True)
class Timing:
    """Raw block times and what is derived from them.

    ``samples_s[i]`` is the wall time of block i of ``steps_per_block`` steps; every
    statistic below is per step, derived from those samples.
    """

    samples_s: tuple[float, ...]
    steps_per_block: int
    compile_s: float | None = None
    per_step: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "per_step", np.asarray(self.samples_s) / self.steps_per_block)

    @property
    def repeats(self) -> int:
        return len(self.samples_s)

    @cached_property
    def median(self) -> float:
        return median_iqr(self.per_step)[0]

    @cached_property
    def iqr(self) -> float:
        return median_iqr(self.per_step)[1]

    @property
    def warning(self) -> str:
        return noise_warning(self.median, self.iqr)


def median_iqr(values) -> tuple[float, float]:
    """The median and the interquartile range (numpy's linear percentiles) of ``values``:
    how every timing and bandwidth in gdbench is summarised."""
    x = np.asarray(values, dtype=float)
    q1, q3 = np.percentile(x, [25, 75])
    return float(np.median(x)), float(q3 - q1)


def call_times(fn, repeats: int) -> np.ndarray:
    """The seconds of ``repeats`` calls of ``fn``, after one off the clock (first touch,
    threads, compilation): the measurement loop of the roofs and of bench/'s scripts."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return np.asarray(times)


def rate(fn, amount: float, repeats: int) -> tuple[float, float]:
    """``amount`` (bytes, FLOP) per second of ``fn``, in 10⁹ a second: median and IQR over
    ``repeats`` calls (``call_times``)."""
    return median_iqr(amount / call_times(fn, repeats) / 1e9)


def noise_warning(median: float, iqr: float) -> str:
    if median > 0 and iqr / median > WARN_IQR_FRAC:
        return f"noisy: IQR is {100 * iqr / median:.0f}% of the median"
    return ""


def pooled(per_step) -> dict:
    """A row's timing columns from the times per step of every block of every round."""
    med, iqr = median_iqr(per_step)
    return {
        "time_per_step_s": med,
        "time_per_step_iqr_s": iqr,
        "repeats": int(np.size(per_step)),
        "timing_warning": noise_warning(med, iqr),
    }


def time_block(session, steps: int, clock=time.perf_counter) -> float:
    session.sync()
    t0 = clock()
    session.run_steps(steps)
    session.sync()
    return clock() - t0


class RecompiledError(RuntimeError):
    """Compiled code was rebuilt while being timed: the timing would include compilation."""


def measure(
    session, budget_s: float = 1.0, min_block_s: float = MIN_BLOCK_S, clock=time.perf_counter
) -> Timing:
    """Times ``session.run_steps``; warm-up and compilation happen first, off the clock."""
    compile_s = session.warmup()
    compiled = session.compile_count()
    block = 1
    while True:  # grow the block until one takes at least min_block_s
        t = time_block(session, block, clock)
        if t >= min_block_s or block >= 1 << 24:
            break
        block *= 10 if t < min_block_s / 20 else 2
    samples = [t]
    # The budget is watched on its own clock: every read of ``clock`` is a measurement.
    deadline = time.monotonic() + budget_s
    while len(samples) < MAX_REPEATS:
        samples.append(time_block(session, block, clock))
        if len(samples) >= MIN_REPEATS:
            med, iqr = median_iqr(samples)
            if iqr <= TARGET_IQR_FRAC * med and len(samples) >= 2 * MIN_REPEATS:
                break
            if time.monotonic() > deadline:
                break
    if session.compile_count() != compiled:
        raise RecompiledError("compiled step was rebuilt during timing")
    return Timing(tuple(samples), block, compile_s)
