"""The timer's mechanics (not speed): sync around every clock read, compilation off the
clock, statistics derived from the raw samples, recompilation caught."""

from __future__ import annotations

import numpy as np
import pytest

from gdbench import registry
from gdbench.optimizers.sgd import plain_setup
from gdbench.timing.timer import RecompiledError, Timing, measure

from .conftest import require


def session(backend, mode, n=2000, d=2, dtype="float32"):
    p = registry.problems()["linreg"]
    return registry.backends()[backend].prepare(
        p, p.make(n, d, 0), plain_setup(0.01, dtype, "cpu", mode)
    )


class Recorder:
    """Wraps a real session and logs every call the timer makes, with a logging clock."""

    def __init__(self, inner):
        self.inner, self.log, self.t = inner, [], 0.0

    def clock(self):
        self.log.append("clock")
        self.t += 0.001
        return self.t

    def warmup(self):
        self.log.append("warmup")
        return self.inner.warmup()

    def run_steps(self, n):
        self.log.append(("run", n))
        self.inner.run_steps(n)

    def sync(self):
        self.log.append("sync")
        self.inner.sync()

    def compile_count(self):
        return self.inner.compile_count()


@pytest.mark.parametrize(
    ("backend", "mode"),
    [
        pytest.param("numpy", "eager"),
        pytest.param("jax", "jit", marks=require("jax")),
        pytest.param("jax", "scan", marks=require("jax")),
        pytest.param("torch-autograd", "eager", marks=require("torch")),
    ],
)
def test_sync_is_called_before_every_clock_read(backend, mode):
    rec = Recorder(session(backend, mode))
    t = measure(rec, budget_s=0.0, min_block_s=0.0005, clock=rec.clock)
    assert rec.log[0] == "warmup"  # compilation and warm-up first, no clock read before it
    blocks = rec.log[1:]
    # Each timed block reads: sync, clock, run n steps, sync, clock; nothing else happens.
    assert len(blocks) % 5 == 0
    for i in range(0, len(blocks), 5):
        sync0, clock0, run, sync1, clock1 = blocks[i : i + 5]
        assert (sync0, clock0, sync1, clock1) == ("sync", "clock", "sync", "clock")
        assert run[0] == "run"
    # The samples kept are the last blocks, all of the final block size.
    assert t.repeats <= len(blocks) // 5
    assert all(b[1] == t.steps_per_block for b in blocks[-5 * t.repeats + 2 :: 5])


@require("jax")
def test_jit_compilation_is_measured_apart_and_off_the_clock():
    s = session("jax", "jit")
    traj = s.trajectory(3)  # the first call compiles, here
    assert traj.steps == 3 and s.compile_s is not None and s.compile_s > 0
    t = measure(s, budget_s=0.05)
    assert t.compile_s == s.compile_s
    # Blocks are timed after warm-up: none of them holds a compilation. Two programs: the
    # recorded step (loss and gradient returned) and the timed one (the update alone).
    assert s.compile_count() == 2


@require("torch")
def test_torch_compile_time_is_reported_apart():
    s = session("torch-autograd", "compile")
    t = measure(s, budget_s=0.05)
    assert t.compile_s is not None and t.compile_s > 0
    assert s.compile_count() >= 1


def test_eager_modes_report_no_compile_time():
    t = measure(session("numpy", "eager"), budget_s=0.05)
    assert t.compile_s is None


@require("jax")
def test_recompilation_during_timing_is_caught():
    class Promoting(type(session("jax", "jit"))):
        calls = 0

        def run_steps(self, n):
            Promoting.calls += 1
            if Promoting.calls == 8:  # a dtype change forces jit to trace and compile again
                w, state = self.carry
                self.carry = (w.astype("float64"), state)
            super().run_steps(n)

    p = registry.problems()["linreg"]
    s = Promoting(p, p.make(500, 2, 0), plain_setup(0.01, "float32", "cpu", "jit"))
    with pytest.raises(RecompiledError):
        measure(s, budget_s=0.05, min_block_s=0.0005)


def test_statistics_come_from_the_raw_samples():
    samples = (0.010, 0.012, 0.011, 0.030, 0.013)
    t = Timing(samples, steps_per_block=10)
    per_step = np.asarray(samples) / 10
    assert t.median == pytest.approx(np.median(per_step))
    q1, q3 = np.percentile(per_step, [25, 75])
    assert t.iqr == pytest.approx(q3 - q1)
    assert t.repeats == 5
    assert t.warning.startswith("noisy")
    assert Timing((1.0, 1.0, 1.0), 4).warning == ""


def test_block_grows_until_the_clock_overhead_is_negligible():
    # A virtual clock that advances 10 µs per step makes the growth exact: the block grows
    # ×10 while under 1/20 of 20 ms (1, 10), then ×2 (100 … 1600 = 16 ms), until 3200
    # steps take 32 ms.
    rec = Recorder(session("numpy", "eager", n=50, d=1))

    def run_steps(n):
        rec.t += n * 1e-5
        rec.inner.run_steps(1)

    rec.run_steps = run_steps
    rec.clock = lambda: rec.t
    t = measure(rec, budget_s=0.0, clock=rec.clock)
    assert t.steps_per_block == 3200
    assert t.median == pytest.approx(1e-5)
    assert t.iqr == pytest.approx(0.0, abs=1e-12)
