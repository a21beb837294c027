"""The executor protocol: the schedule above it is the same for every engine, and an
engine is one small class. ``InProcess`` below is a third executor written against the
protocol alone (it runs each task here through ``worker.run_task``); the cells and verdicts
it gives must be the local executor's, timing rounds included."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from gdbench.api.run_plan import execute_plan
from gdbench.cli.commands import parse
from gdbench.execution.executor import Finished
from gdbench.execution.instances import seed
from gdbench.execution.local import LocalExecutor
from gdbench.execution.plan import build_plan
from gdbench.execution.worker import Kind, run_task
from gdbench.results.schema import read_results

from .conftest import ROOT

ARGS = ["run", "--problem", "linreg,quadratic", "--backend", "numpy,jax", "--steps", "12"]


class InProcess:
    """Every task in this process, in order: what a new engine must provide."""

    places_by_host = False

    def __init__(self):
        self.kinds: list[Kind] = []

    def run(self, tasks, opts, references, on_start):
        seed(references)
        for task in tasks:
            on_start(task)
            self.kinds.append(task.kind)
            yield Finished(task, run_task(task, opts))

    def measure(self):
        return {"hosts": {}}


def _run(tmp_path, name, executor, *extra):
    plan = build_plan(parse([*ARGS, *extra, "--out", str(tmp_path / name)]))
    try:
        code = execute_plan(plan, executor).code
    finally:
        from gdbench.results import folder_lock

        folder_lock.release(plan.out)
    return code, read_results(tmp_path / name / "summary.csv")


def test_a_third_executor_gives_the_local_cells_and_verdicts(tmp_path):
    engine = InProcess()
    code, mine = _run(tmp_path, "mine", engine, "--time-budget", "0.02", "--rounds", "2")
    local_code, local = _run(tmp_path, "local", LocalExecutor(), "--no-timing")
    assert code == local_code == 0
    keys = ["problem", "backend", "mode", "dtype"]
    mine, local = mine.set_index(keys).sort_index(), local.set_index(keys).sort_index()
    assert list(mine.index) == list(local.index) and len(mine) == 4
    for col in ("status", "verdict", "steps_run", "max_rel_dev", "tol", "final_loss"):
        assert list(mine[col]) == list(local[col]), col
    # The schedule asked for a first pass, then one more timing round of every cell.
    assert engine.kinds == [Kind.EXECUTE] * 4 + [Kind.RETIME] * 4
    samples = read_results(tmp_path / "mine" / "samples.csv")
    assert sorted(samples["round"].unique()) == [1, 2] and (mine.rounds == 2).all()


def test_a_failed_task_becomes_an_error_row_above_every_executor(tmp_path):
    class Failing(InProcess):
        def run(self, tasks, opts, references, on_start):
            for task in tasks:
                yield Finished(task, failure="worker process died: lost", where={"host": "h"})

    code, rows = _run(tmp_path, "f", Failing(), "--no-timing")
    assert code == 1
    assert (rows.status == "error").all() and (rows.reason == "worker process died: lost").all()
    assert (rows.host == "h").all()


def test_older_folders_read_back_in_this_version_s_columns():
    # A folder written before the versions column and before the optimizer fields moved.
    old = read_results(ROOT / "results/cpu-amd-epyc-2core/linreg-1e6/summary.csv")
    raw = pd.read_csv(ROOT / "results/cpu-amd-epyc-2core/linreg-1e6/summary.csv", dtype=str)
    assert {"numpy", "torch", "jax"} <= set(raw.columns) and "versions" not in raw.columns
    first = raw.iloc[0]
    assert old.versions.iloc[0] == (f"jax {first.jax}, numpy {first.numpy}, torch {first.torch}")
    assert not {"numpy", "torch", "jax"} & set(old.columns)


@pytest.mark.parametrize("layout", ["flat", "cluster", "hosts"])
def test_every_machine_json_layout_gives_each_host_its_own(layout):
    from gdbench.timing.machine_file import host_limits, machine_hosts

    cpu = {"gbps": 20.0, "iqr_gbps": 1.0, "method": "numpy sum"}
    written = {
        "flat": {"cpu": cpu},
        "cluster": {"hosts": {"10.0.0.2": {"hostname": "node2", "cpu": cpu}}},
        "hosts": {"hosts": {"node2": {"cpu": cpu}}},
    }[layout]
    hosts = machine_hosts(json.loads(json.dumps(written)))
    assert host_limits(written, "node2") == {"cpu": cpu}
    assert list(hosts) == ([""] if layout == "flat" else ["node2"])
    if layout != "flat":
        assert host_limits(written, "elsewhere") == {}
