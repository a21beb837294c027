"""Faults: a failing or crashing cell is recorded and the run goes on; an interrupted run
keeps its rows and resumes without redoing or duplicating a cell."""

from __future__ import annotations

import pandas as pd

from gdbench import registry
from gdbench.cli.commands import main

PLUGIN = """
import os
import signal
import time
from pathlib import Path

import gdbench
from gdbench.backends.numpy_hand import NumpySession

HERE = Path(__file__).parent


class Faulty(NumpySession):
    def step(self, record):
        marker = HERE / "interrupt-once"
        if self.kind == "interrupt" and marker.exists():
            marker.unlink()
            os.kill(os.getpid(), signal.SIGINT)  # the user's Ctrl-C, in the middle of a cell
            time.sleep(5)  # it arrives before this ends
        if self.kind == "raises-interrupt":
            raise KeyboardInterrupt  # user code's own, not the user's Ctrl-C
        if self.kind == "raise":
            raise MemoryError("CUDA out of memory (simulated)")
        if self.kind == "crash":
            os._exit(3)  # a native crash takes the whole worker process down
        return super().step(record)


def backend(kind):
    class B(gdbench.Backend):
        name = f"faulty-{kind}"
        requires = ("numpy",)

        def prepare(self, problem, inst, setup):
            s = Faulty(problem, inst, setup)
            s.kind = kind
            return s

    return B()


for kind in ("raise", "crash", "interrupt", "raises-interrupt"):
    gdbench.register_backend(backend(kind))
"""


def plugin(tmp_path):
    path = tmp_path / "faulty.py"
    path.write_text(PLUGIN)
    return str(path)


def test_an_exception_in_one_cell_is_an_error_row_and_the_run_goes_on(tmp_path):
    out = tmp_path / "out"
    code = main(
        [
            "--plugin",
            plugin(tmp_path),
            "--backend",
            "faulty-raise,numpy",
            "--no-timing",
            "--out",
            str(out),
        ]
    )
    assert code == 1
    s = pd.read_csv(out / "summary.csv")
    bad = s[s.backend == "faulty-raise"]
    assert (bad.status == "error").all()
    assert bad.reason.str.contains("MemoryError: CUDA out of memory").all()
    assert (s[s.backend == "numpy"].status == "ok").all()


def test_a_crashed_worker_is_an_error_row_and_the_run_goes_on(tmp_path):
    out = tmp_path / "out"
    code = main(
        [
            "--plugin",
            plugin(tmp_path),
            "--backend",
            "faulty-crash,numpy",
            "--time-budget",
            "0.01",
            "--out",
            str(out),
        ]
    )
    assert code == 1
    s = pd.read_csv(out / "summary.csv")
    assert s[s.backend == "faulty-crash"].reason.str.contains("worker process died").all()
    # a new worker took each next cell: one row per problem of a bare run
    bare = [p for p in registry.problems().values() if p.default_run]
    assert len(s[s.backend == "faulty-crash"]) == len(bare)
    assert (s[s.backend == "numpy"].status == "ok").all()


def test_interrupt_keeps_rows_and_resume_finishes_without_duplicates(tmp_path):
    path = plugin(tmp_path)
    args = [
        "--plugin",
        path,
        "--backend",
        "numpy,faulty-interrupt,jax",
        "--dtype",
        "float32,float64",
        "--no-timing",
    ]
    out = tmp_path / "out"
    (tmp_path / "interrupt-once").write_text("")
    assert main([*args, "--out", str(out)]) == 130
    partial = pd.read_csv(out / "summary.csv")
    assert 0 < len(partial) < 12
    assert main(["--resume", str(out)]) == 0
    resumed = pd.read_csv(out / "summary.csv")
    assert main([*args, "--out", str(tmp_path / "whole")]) == 0
    whole = pd.read_csv(tmp_path / "whole" / "summary.csv")
    cols = ["problem", "backend", "mode", "device", "dtype", "status", "final_loss", "agrees"]
    key = ["problem", "backend", "dtype"]
    pd.testing.assert_frame_equal(
        resumed[cols].sort_values(key).reset_index(drop=True),
        whole[cols].sort_values(key).reset_index(drop=True),
    )
    # The finished rows were kept as they were, not redone.
    assert resumed.timestamp.iloc[: len(partial)].tolist() == partial.timestamp.tolist()
    t_res = pd.read_csv(out / "trajectories.csv")
    t_all = pd.read_csv(tmp_path / "whole" / "trajectories.csv")
    assert len(t_res) == len(t_all)


def test_a_keyboardinterrupt_raised_by_user_code_is_its_cells_error_untimed_too(tmp_path):
    """Not the user's Ctrl-C (which test_interrupt_keeps_rows… sends as a real SIGINT):
    user code raising KeyboardInterrupt itself is its cell's error row, in this process
    as in a worker, and the other cells run."""
    for timing in ([], ["--no-timing"]):
        out = tmp_path / f"o{len(timing)}"
        argv = ["--plugin", plugin(tmp_path), "--backend", "numpy,faulty-raises-interrupt"]
        argv += ["--problem", "quadratic,linreg", "--time-budget", "0.02", *timing]
        assert main([*argv, "--out", str(out)]) == 1
        rows = pd.read_csv(out / "summary.csv").set_index("backend")
        assert (rows.loc["numpy", "status"] == "ok").all()
        reasons = rows.loc["faulty-raises-interrupt", "reason"]
        assert set(reasons) == {"KeyboardInterrupt: raised by user code"}


def test_resume_of_a_folder_that_is_no_run_is_a_usage_error(tmp_path, capsys):
    assert main(["--resume", str(tmp_path)]) == 2
    assert "no command.json" in capsys.readouterr().err


def test_a_kill_between_the_two_csv_writes_is_redone_on_resume(tmp_path):
    # Trajectories are written before the summary row that marks a cell done; drop the
    # last summary row as a kill between the two writes would leave it.
    out = tmp_path / "out"
    assert main(["--backend", "numpy,jax", "--no-timing", "--out", str(out)]) == 0
    whole_summary = pd.read_csv(out / "summary.csv")
    whole_traj = pd.read_csv(out / "trajectories.csv")
    whole_summary.iloc[:-1].to_csv(out / "summary.csv", index=False)
    assert main(["--resume", str(out)]) == 0
    cols = ["problem", "backend", "mode", "dtype", "status", "final_loss"]
    pd.testing.assert_frame_equal(pd.read_csv(out / "summary.csv")[cols], whole_summary[cols])
    traj = pd.read_csv(out / "trajectories.csv")
    assert len(traj) == len(whole_traj)
    assert set(map(tuple, traj[["problem", "backend", "step"]].to_numpy())) == set(
        map(tuple, whole_traj[["problem", "backend", "step"]].to_numpy())
    )


RESUMABLE = ["--problem", "quadratic,linreg", "--backend", "numpy,jax", "--no-timing"]


def _damaged_resume(tmp_path, damage) -> tuple[int, pd.DataFrame, pd.DataFrame]:
    whole, out = tmp_path / "whole", tmp_path / "out"
    assert main([*RESUMABLE, "--out", str(whole)]) == 0
    assert main([*RESUMABLE, "--out", str(out)]) == 0
    damage(out / "summary.csv")
    code = main(["--resume", str(out)])
    return code, pd.read_csv(whole / "summary.csv"), pd.read_csv(out / "summary.csv")


def _same_cells(a: pd.DataFrame, b: pd.DataFrame) -> None:
    cols = ["problem", "backend", "mode", "dtype", "lr", "status", "verdict", "final_loss"]
    key = ["problem", "backend"]
    pd.testing.assert_frame_equal(
        a[cols].sort_values(key).reset_index(drop=True),
        b[cols].sort_values(key).reset_index(drop=True),
    )


def test_resume_runs_a_row_cut_off_mid_line_again(tmp_path):
    def cut(path):
        text = path.read_text(encoding="utf-8")
        last = text.rstrip("\n").rsplit("\n", 1)[1]
        path.write_text(text.rstrip("\n")[: -len(last) // 2], encoding="utf-8")  # a kill mid-write

    code, whole, resumed = _damaged_resume(tmp_path, cut)
    assert code == 0
    _same_cells(whole, resumed)


def test_resume_runs_a_garbled_row_again_without_duplicates(tmp_path):
    def garble(path):
        df = pd.read_csv(path, dtype={"lr": str})
        df.loc[1, "lr"] = "0.0l"
        df.to_csv(path, index=False)

    code, whole, resumed = _damaged_resume(tmp_path, garble)
    assert code == 0
    _same_cells(whole, resumed)


def test_resume_keeps_one_row_of_each_cell_of_a_summary_with_duplicates(tmp_path):
    """A summary.csv with exact duplicate rows (edited or merged by hand): --resume keeps
    one row a cell, and compare reads the folder (it refuses several cells with one key)."""

    def duplicate(path):
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        pd.concat([df, df.iloc[[0, 1, 2]]]).to_csv(path, index=False)

    code, whole, resumed = _damaged_resume(tmp_path, duplicate)
    assert code == 0 and len(resumed) == len(whole) == 4
    _same_cells(whole, resumed)
    assert main(["compare", str(tmp_path / "whole"), str(tmp_path / "out")]) == 0


def test_resume_refuses_rows_of_another_configuration(tmp_path, capsys):
    def other_lr(path):
        df = pd.read_csv(path)
        df.loc[0, "lr"] = 0.5  # a row of a run with another --lr
        df.to_csv(path, index=False)

    code, _, resumed = _damaged_resume(tmp_path, other_lr)
    assert code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after the earlier runs' lines
    assert last.startswith("gdbench: error: --resume") and "results of another run" in last
    assert resumed.lr.iloc[0] == 0.5  # nothing was rewritten


MAKE_PLUGIN = """
import numpy as np
import gdbench
from gdbench.problems.quadratic import Quadratic


class RaiseMake(Quadratic):
    name = "raisemake"

    def make(self, n_samples=None, features=None, seed=0):
        raise RuntimeError("the data server is down")


class NotAnInstance(Quadratic):
    name = "notinstance"

    def make(self, n_samples=None, features=None, seed=0):
        return {"w0": np.zeros(1)}


gdbench.register_problem(RaiseMake())
gdbench.register_problem(NotAnInstance())
"""


def test_a_plugin_make_that_fails_is_its_problems_error_row(tmp_path, capsys):
    plugin = tmp_path / "raisemake.py"
    plugin.write_text(MAKE_PLUGIN)
    before = dict(registry._PROBLEMS)
    try:
        for timing in ([], ["--no-timing"]):
            out = tmp_path / f"o{len(timing)}"
            argv = ["run", "--plugin", str(plugin), "--problem", "raisemake,notinstance,quadratic"]
            argv += ["--backend", "numpy,torch-autograd", "--time-budget", "0.02", *timing]
            assert main([*argv, "--out", str(out)]) == 1
            err = capsys.readouterr().err
            assert "Traceback" not in err
            rows = pd.read_csv(out / "summary.csv").set_index(["problem", "backend"])
            assert (rows.loc["quadratic", "status"] == "ok").all()
            assert (rows.loc["raisemake", "status"] == "error").all()
            assert set(rows.loc["raisemake", "reason"]) == {
                "raisemake.make() failed: RuntimeError: the data server is down"
            }
            assert set(rows.loc["notinstance", "reason"]) == {
                "notinstance.make() returned dict, not a gdbench.Instance"
            }
        import gdbench

        result = gdbench.run(
            problem=["raisemake", "quadratic"], backend="numpy", timing=False, progress=False
        )
        assert not result.ok and list(result.summary.status) == ["error", "ok"]
    finally:
        registry._PROBLEMS.clear()
        registry._PROBLEMS.update(before)


def test_a_plugin_file_whose_import_fails_is_its_named_problems_error_rows(tmp_path, capsys):
    """A plug-in file that raises at import takes down only what it would have registered:
    a problem of it named in the command becomes error rows with the import's line, in run
    (timed or not) and gradcheck, from the command line and the API alike; the other
    problems run. Named nowhere, the failure stays a one-line refusal."""
    import gdbench

    plugin = tmp_path / "breaks.py"
    plugin.write_text("import gdbench\nraise RuntimeError('the licence server is down')\n")
    why = f"plugin {plugin} failed: RuntimeError: the licence server is down"
    before = dict(registry._PROBLEMS)
    try:
        for timing in ([], ["--no-timing"]):
            out = tmp_path / f"o{len(timing)}"
            argv = ["run", "--plugin", str(plugin), "--problem", "mine,quadratic"]
            argv += ["--backend", "numpy", "--time-budget", "0.02", *timing, "--out", str(out)]
            assert main(argv) == 1
            assert "Traceback" not in capsys.readouterr().err
            rows = pd.read_csv(out / "summary.csv").set_index("problem")
            assert rows.loc["mine", "status"] == "error" and rows.loc["mine", "reason"] == why
            assert rows.loc["quadratic", "verdict"] == "agrees"
        out = tmp_path / "sweep"
        argv = ["sweep", "--plugin", str(plugin), "--problem", "mine,linreg", "--backend", "numpy"]
        argv += ["--n-samples", "1e3", "--features", "1", "--time-budget", "0.02"]
        assert main([*argv, "--mode", "eager", "--out", str(out)]) == 1
        rows = pd.read_csv(out / "sweep.csv").set_index("problem")
        assert rows.loc["mine", "reason"] == why and rows.loc["linreg", "status"] == "ok"
        assert main(["gradcheck", "--plugin", str(plugin), "--problem", "mine,quadratic"]) == 1
        assert f"gradient check of 'mine' could not run: {why}" in capsys.readouterr().out
        result = gdbench.run(
            plugin=[str(plugin)],
            problem=["mine", "quadratic"],
            backend="numpy",
            timing=False,
            progress=False,
        )
        assert list(result.summary.status) == ["error", "ok"]
        assert main(["run", "--plugin", str(plugin), "--problem", "quadratic"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and why in err
    finally:
        registry._PROBLEMS.clear()
        registry._PROBLEMS.update(before)


LOOPING_GRADIENT = """
import gdbench
from gdbench.problems.quadratic import Quadratic


class LoopGrad(Quadratic):
    name = "loopgrad"

    def grad(self, w, **data):
        while True:  # a hand gradient that never returns
            pass


gdbench.register_problem(LoopGrad())
"""


def test_gradcheck_stops_a_looping_gradient_at_its_cell_timeout(tmp_path):
    """The check of a gradient that never returns ends at --cell-timeout, as that
    problem's error; the other problems are checked. (A TimeLimit had been taken for the
    gradient's own error at the first point, and the next point looped unbounded.)"""
    import subprocess
    import sys

    plugin = tmp_path / "loopgrad.py"
    plugin.write_text(LOOPING_GRADIENT)
    argv = [sys.executable, "-m", "gdbench", "gradcheck", "--plugin", str(plugin)]
    argv += ["--problem", "loopgrad,quadratic", "--cell-timeout", "1"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == (
        "gradient check of 'loopgrad' could not run: TimeLimit: the gradient check of "
        "'loopgrad' (--cell-timeout) did not finish within 1 s"
    )
    assert "the hand-derived gradient agrees" in done.stdout  # quadratic, checked after
    assert main(["gradcheck", "--cell-timeout", "0"]) == 2


def test_messages_say_the_real_cause(tmp_path, capsys, monkeypatch):
    from gdbench.cli import commands
    from gdbench.cli.console import Terminated

    # nothing can be written under /proc: said so, not "0.0 GiB, more than 0.0 GiB free"
    assert main(["run", "--problem", "quadratic", "--out", "/proc/gdbench-x"]) == 2
    err = capsys.readouterr().err.strip()
    cause = "nothing can be written under /proc (no space free)"
    assert err == f"gdbench: error: --out /proc/gdbench-x: {cause}"
    # the accepted range, as it is
    assert main(["history", str(tmp_path), "--threshold", "1000"]) == 2
    assert "at least 0 and below 1000, got '1000'" in capsys.readouterr().err

    # a stopped history wrote no rows, and does not say it kept some
    def stopped(args):
        raise Terminated()

    monkeypatch.setitem(commands.COMMAND_FUNCS, "history", stopped)
    monkeypatch.setitem(commands.COMMAND_FUNCS, "run", stopped)
    assert main(["history", str(tmp_path)]) == 143
    assert capsys.readouterr().err.strip() == "gdbench: terminated"
    assert main(["run", "--problem", "quadratic", "--no-timing"]) == 143
    assert capsys.readouterr().err.strip() == "gdbench: terminated; finished rows are kept"


def test_resume_refuses_options_that_contradict_the_folder(tmp_path, capsys):
    """Options beside --resume were silently ignored; now one that differs from the
    folder's command.json is refused in one line, one that agrees (or --cluster,
    --cell-timeout) is accepted."""
    out = tmp_path / "r"
    assert main([*RESUMABLE, "--out", str(out)]) == 0
    before = (out / "summary.csv").read_text()
    capsys.readouterr()
    assert main(["--resume", str(out), "--lr", "0.5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"gdbench: error: --resume {out}: --lr 0.5 contradicts its command.json (no --lr), "
        "which the rows there ran with; only --cluster and --cell-timeout may change on --resume"
    ]
    assert main(["--resume", str(out), "--backend", "numpy,torch-nn"]) == 2
    assert "--backend numpy,torch-nn contradicts" in capsys.readouterr().err
    assert (out / "summary.csv").read_text() == before  # nothing rewritten
    assert main(["--resume", str(out), "--backend", "numpy,jax", "--cell-timeout", "60"]) == 0


def test_resume_sets_aside_a_row_cut_in_a_quoted_field_an_lr_of_nan_and_bad_json(tmp_path):
    """What docs/faults.md says --resume sets aside (they were refused): the last row cut
    inside a quoted field by a kill mid-write, a learning rate that is NaN, settings that
    are no JSON. Each row's cell runs again; the folder ends as an uninterrupted run's."""

    def quoted_cut(path):
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        df.loc[len(df) - 1, "reason"] = 'a, b, "c" d'
        df.to_csv(path, index=False)
        text = path.read_text(encoding="utf-8").rstrip("\n")
        path.write_text(text[: text.rfind('"a, b') + 5], encoding="utf-8")

    def lr_nan(path):
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        df.loc[1, "lr"] = "nan"
        df.to_csv(path, index=False)

    def bad_json(path):
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        df.loc[1, "optimizer_args"] = "{bad"
        df.to_csv(path, index=False)

    for i, damage in enumerate((quoted_cut, lr_nan, bad_json)):
        code, whole, resumed = _damaged_resume(tmp_path / str(i), damage)
        assert code == 0, damage.__name__
        _same_cells(whole, resumed)
