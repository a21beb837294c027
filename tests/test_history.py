"""`gdbench history` (issue 23, first part): result folders over time, steps in each
cell's time per step found and named, numerics changes reported with the environment."""

from __future__ import annotations

import math
import os
import shutil
import textwrap

import numpy as np
import pandas as pd
import pytest

from gdbench.cli.commands import main
from gdbench.reports import step_detect

from .conftest import ROOT

SLEEPY = textwrap.dedent(
    """
    import os
    import time

    import gdbench
    from gdbench.backends.numpy_hand import NumpySession


    class SleepySession(NumpySession):
        def step(self, record):
            if os.environ.get("GDBENCH_TEST_SLOWDOWN"):
                time.sleep(0.002)  # the deliberate slowdown
            return super().step(record)


    class Sleepy(gdbench.Backend):
        name = "sleepy"
        requires = ("numpy",)
        optimizers = None

        def prepare(self, problem, inst, setup):
            return SleepySession(problem, inst, setup)


    gdbench.register_backend(Sleepy())
    """
)


def test_the_fit_finds_a_known_step_and_none_in_noise():
    rng = np.random.default_rng(0)
    y = rng.normal(0, 0.1, 20)
    y[10:] += math.log(1.5)
    (step,) = step_detect.fit(y, np.full(20, 0.01))
    assert step.at == 10
    low, high = step.interval
    assert low < 1.5 < high and low > 1
    # pure noise at the same scale: 50 seeded series of 20, no step in any
    flagged = [
        s
        for k in range(50)
        for s in step_detect.fit(np.random.default_rng(k).normal(0, 0.1, 20), np.full(20, 0.01))
    ]
    assert flagged == []
    assert step_detect.noise_floor([0.0, 0.1, 0.0, 0.1]) == pytest.approx(
        1.4826 * 0.1 / math.sqrt(2)
    )


@pytest.fixture(scope="module")
def timed_history(tmp_path_factory):
    """Six genuine timed runs of one cell: two as they are, two with a deliberate 2 ms
    sleep in every step, two with it reverted."""
    import gdbench
    from gdbench import registry

    base = tmp_path_factory.mktemp("history")
    before = dict(registry.backends())  # module scope: the per-test isolation is not around it
    plugin = base / "sleepy.py"
    plugin.write_text(SLEEPY)
    folders = []
    for i, slow in enumerate([False, False, True, True, False, False]):
        if slow:
            os.environ["GDBENCH_TEST_SLOWDOWN"] = "1"
        try:
            gdbench.run(
                problem="quadratic",
                backend="sleepy",
                plugin=[str(plugin)],
                time_budget=0.05,
                steps=5,
                progress=False,
                out=base / "runs" / f"run-{i}",
            )
        finally:
            os.environ.pop("GDBENCH_TEST_SLOWDOWN", None)
        folders.append(base / "runs" / f"run-{i}")
    registry._BACKENDS.clear()
    registry._BACKENDS.update(before)
    return base, folders


def test_a_slowdown_is_flagged_where_it_began_and_its_revert_is_a_recovery(timed_history, capsys):
    import gdbench

    base, folders = timed_history
    hist = gdbench.history(base / "runs")  # a folder holding the runs, found in it
    assert [r.folder.name for r in hist.runs] == [f"run-{i}" for i in range(6)]
    events = hist.events[hist.events.kind != "numerics"]
    assert list(events.kind) == ["regression", "recovery"]
    up, down = events.iloc[0], events.iloc[1]
    assert (up.run_before, up.run_after) == (1, 2) and (down.run_before, down.run_after) == (3, 4)
    # the sleep (2 ms a step) against microseconds: tens of times slower, and back
    logs = np.log(hist.points.sort_values("run").time_per_step_s.to_numpy(float))
    assert up.ratio > 10 and up.low < math.exp(logs[2:4].mean() - logs[:2].mean()) < up.high
    assert bool(up.recovered) and down.ratio < 0.1
    assert hist.fails(10) == []  # recovered by the latest run
    capsys.readouterr()
    out = base / "events.csv"
    argv = ["history", *map(str, folders[:4]), "--fail-on-regression", "10", "--csv", str(out)]
    assert main(argv) == 1  # the latest run still holds it
    said = capsys.readouterr().out
    assert "FAIL: quadratic N=0 D=1 sgd sleepy/eager cpu float32: slower" in said
    assert pd.read_csv(out).kind.tolist() == ["regression"]
    assert main(["history", *map(str, folders), "--fail-on-regression", "10"]) == 0
    assert main(["history", *map(str, folders[:2]), "--fail-on-regression", "10"]) == 0
    assert "0 regressions, 0 recoveries" in capsys.readouterr().out


def test_a_numerics_change_is_reported_with_the_environment_change(timed_history, tmp_path):
    import gdbench

    _, folders = timed_history
    old, new = tmp_path / "a", tmp_path / "b"
    shutil.copytree(folders[0], old)
    shutil.copytree(folders[1], new)
    s = pd.read_csv(new / "summary.csv", dtype=str, keep_default_na=False)
    loss = float(s.loc[0, "final_loss"])
    s.loc[0, "final_loss"] = repr(loss * (1 + 1e-3))  # far beyond its own 1e-7 deviation
    s.loc[0, "versions"] = "numpy 9.9.9"
    s.to_csv(new / "summary.csv", index=False)
    # ...and its trajectory, as the run wrote it, from step 3 on (the steps before as they were)
    t = pd.read_csv(new / "trajectories.csv", dtype=str, keep_default_na=False)
    mine = (t.backend == "sleepy") & (t.step.astype(int) >= 3)
    assert mine.sum() >= 2
    t.loc[mine, "loss"] = (t.loc[mine, "loss"].astype(float) * (1 + 1e-3)).map(repr)
    t.to_csv(new / "trajectories.csv", index=False)
    (event,) = gdbench.history(old, new).events.query("kind == 'numerics'").itertuples()
    assert event.detail.startswith(f"final loss {loss:.7g} → ")
    assert event.detail.endswith(" from step 3")
    assert "numpy " in event.changed and "→ 9.9.9" in event.changed


@pytest.mark.parametrize(
    ("path", "needle"),
    [("missing", "is not a folder"), ("empty", "holds no gdbench results")],
)
def test_bad_paths_are_one_line(path, needle, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["history", str(tmp_path / path)]) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1


def test_cells_that_share_a_label_stay_apart(tmp_path):
    """Two learning rates of every cell in two committed runs: 40 series, each named with
    its rate, the slower copy's times its own (not one series of both)."""
    import gdbench

    committed = ROOT / "results" / "cpu-amd-epyc-2core" / "history"
    for run in ("1-main-1", "1-main-2"):
        s = pd.read_csv(committed / run / "summary.csv", dtype=str, keep_default_na=False)
        doubled = (s.time_per_step_s.astype(float) * 2).map(repr)
        both = pd.concat([s, s.assign(lr="0.0123", time_per_step_s=doubled)])
        (tmp_path / run).mkdir()
        both.to_csv(tmp_path / run / "summary.csv", index=False)
    pts = gdbench.history(tmp_path).points
    assert pts.cell.nunique() == 40
    base = pts[pts.cell.str.contains("sgd numpy/eager")]
    slow = base[base.cell.str.endswith("lr=0.0123")].set_index(["run", "problem"])
    fast = base[~base.cell.str.endswith("lr=0.0123")].set_index(["run", "problem"])
    assert len(slow) == len(fast) == 10
    ratio = slow.time_per_step_s / fast.time_per_step_s.loc[slow.index]
    assert np.allclose(ratio, 2)


def test_history_takes_a_list_of_folders_and_refuses_what_is_not_a_path():
    import gdbench
    from gdbench.errors import UsageError

    committed = ROOT / "results" / "cpu-amd-epyc-2core" / "history"
    runs = [str(committed / "1-main-1"), committed / "1-main-2"]
    listed = gdbench.history(runs)  # once a pathlib TypeError
    assert len(listed.runs) == 2
    assert listed.points.equals(gdbench.history(*runs).points)
    with pytest.raises(UsageError, match="a result folder is a path, got int"):
        gdbench.history(3)
