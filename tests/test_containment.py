"""User code and processes inside bounds (issue 18): one writer per results folder, workers
that die with their parent, SIGTERM as Ctrl-C, user code that exits, raises or loops, a
reference that fails, plug-ins that take a built-in's name, and output that cannot be
written. Each case was a traceback, a hang, a lost result or a stray process before."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from gdbench import registry
from gdbench.cli.commands import main
from gdbench.errors import UsageError
from gdbench.results import files as results
from gdbench.results import folder_lock

ROOT = Path(__file__).resolve().parent.parent

PROBLEM = """
import sys
import numpy as np
import gdbench


class P(gdbench.Problem):
    name = "{name}"
    default_lr = 0.01
    default_steps = 5

    def make(self, n_samples=None, features=None, seed=0):
        x = np.array([1.0, 2.0, 3.0, 4.0])
        return gdbench.Instance(
            self.name, w0=np.zeros(1), data={{"X": x[:, None], "y": 2 * x}}, n_samples=4
        )

    def loss(self, w, X, y):
{loss}

    def grad(self, w, X, y):
{grad}


gdbench.register_problem(P())
"""
LOSS = "        return ((X @ w - y) ** 2).mean()"
GRAD = "        return 2 * X.T @ (X @ w - y) / len(y)"


def problem_plugin(tmp_path: Path, name: str, loss: str = LOSS, grad: str = GRAD) -> str:
    path = tmp_path / f"{name}.py"
    path.write_text(PROBLEM.format(name=name, loss=loss, grad=grad))
    return str(path)


def gdbench(*args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **kw.pop("env", {})}
    return subprocess.Popen(
        [sys.executable, "-m", "gdbench", *args],
        stdout=kw.pop("stdout", subprocess.PIPE),
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **kw,
    )


def one_line_error(err: str) -> bool:
    lines = [line for line in err.strip().splitlines() if line]
    return len(lines) == 1 and lines[0].startswith("gdbench: error: ")


# One writer per folder ------------------------------------------------------------------


def test_a_folder_being_written_is_refused_naming_its_holder(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    folder_lock.acquire(out)  # this test process holds it, as a running run would
    try:
        p = gdbench("--problem", "quadratic", "--backend", "numpy", "--out", str(out))
        _, err = p.communicate(timeout=120)
        assert p.returncode == 2 and one_line_error(err)
        assert f"pid {os.getpid()}" in err
        assert folder_lock.is_empty(out)  # nothing was written beside the lock
    finally:
        folder_lock.release(out)


def test_two_runs_started_on_one_folder_at_once_never_both_succeed(tmp_path):
    out = tmp_path / "out"
    for trial in range(3):
        out = tmp_path / f"out-{trial}"
        runs = [
            gdbench("--problem", problem, "--backend", "numpy", "--no-timing", "--out", str(out))
            for problem in ("quadratic", "linreg")
        ]
        done = [(p.wait(timeout=120), p.communicate()[1]) for p in runs]
        codes = sorted(code for code, _ in done)
        assert codes == [0, 2], done
        refused = next(err for code, err in done if code == 2)
        assert one_line_error(refused)
        winner = ("quadratic", "linreg")[[code for code, _ in done].index(0)]
        summary = pd.read_csv(out / "summary.csv")
        assert summary.problem.tolist() == [winner]
        assert f'"problem": "{winner}"' in (out / "command.json").read_text()


def test_a_stale_lock_from_a_killed_run_is_taken_and_resume_works(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / folder_lock.LOCK_NAME).write_text("pid 999999 on elsewhere\n")  # nobody holds it
    args = ["--problem", "quadratic", "--backend", "numpy", "--no-timing"]
    assert main([*args, "--out", str(out)]) == 0
    assert main(["--resume", str(out)]) == 0  # released at the end of the first run
    assert len(pd.read_csv(out / "summary.csv")) == 1
    assert not (out / folder_lock.LOCK_NAME).exists()


def _victim(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim.txt"
    victim.write_text("the user's own file\n")
    return victim, (victim.read_text(), victim.stat().st_mtime_ns)


def _untouched(victim, before) -> bool:
    return (victim.read_text(), victim.stat().st_mtime_ns) == before


@pytest.mark.parametrize("target", ["a file", "a missing file"])
def test_a_planted_lock_link_is_refused_and_its_target_untouched(target, tmp_path, capsys):
    """A shared results folder with ``.gdbench.lock`` linking outside it: ``--resume`` once
    truncated the target to 0 bytes (or created it)."""
    out = tmp_path / "shared"
    assert (
        main(["--problem", "quadratic", "--backend", "numpy", "--no-timing", "--out", str(out)])
        == 0
    )
    victim, before = _victim(tmp_path)
    if target == "a missing file":
        victim.unlink()
    (out / folder_lock.LOCK_NAME).symlink_to(victim)
    capsys.readouterr()
    assert main(["--resume", str(out)]) == 2
    err = capsys.readouterr().err
    assert "is a symbolic link" in err and err.count("\n") == 1
    if target == "a missing file":
        assert not victim.exists()
    else:
        assert _untouched(victim, before)
    assert (out / folder_lock.LOCK_NAME).is_symlink()  # left for the user to look at


def test_planted_links_to_result_files_and_temporaries_write_nothing_outside(tmp_path):
    """Every file a run writes is replaced by rename, never opened through a link: a
    summary.csv, command.json or stale temporary that links outside the folder leaves its
    target as it was."""
    out = tmp_path / "shared"
    args = ["--problem", "quadratic", "--backend", "numpy", "--no-timing"]
    assert main([*args, "--out", str(out)]) == 0
    victim, before = _victim(tmp_path)
    rows = (out / "summary.csv").read_text()
    (out / "summary.csv").unlink()
    (out / "summary.csv").symlink_to(victim)  # read as a damaged summary, rewritten
    (out / ".trajectories.csv.planted.tmp").symlink_to(victim)  # a "stale temporary"
    assert main(["--resume", str(out)]) == 0
    assert _untouched(victim, before)
    assert not (out / "summary.csv").is_symlink()
    assert not (out / ".trajectories.csv.planted.tmp").exists()  # the link, not its target
    assert pd.read_csv(out / "summary.csv").problem.tolist() == ["quadratic"]
    assert rows.splitlines()[0] == (out / "summary.csv").read_text().splitlines()[0]
    # A fresh run into a folder whose only entry is a lock link (is_empty ignores it).
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / folder_lock.LOCK_NAME).symlink_to(victim)
    assert main([*args, "--out", str(fresh)]) == 2
    assert _untouched(victim, before)


def test_a_lock_removed_by_a_finishing_run_is_not_taken(tmp_path):
    """A run that opened the lock file just before its holder finished (and removed it)
    must not hold that removed file while a third run locks a new one."""
    import fcntl
    import os

    out = tmp_path / "out"
    out.mkdir()
    folder_lock.acquire(out)
    stale = os.open(out / folder_lock.LOCK_NAME, os.O_RDWR)  # opened while it is held
    folder_lock.release(out)  # the holder finishes: its file is gone
    assert not (out / folder_lock.LOCK_NAME).exists()
    fcntl.flock(stale, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the old file's lock is free...
    folder_lock.acquire(out)  # ...but this process takes the folder's current one
    try:
        assert (out / folder_lock.LOCK_NAME).exists()
        os.close(stale)
        p = gdbench("--problem", "quadratic", "--backend", "numpy", "--out", str(out))
        _, err = p.communicate(timeout=120)
        assert p.returncode == 2 and "is being written by" in err
    finally:
        folder_lock.release(out)


def test_a_second_resume_of_a_running_folder_is_refused(tmp_path):
    out = tmp_path / "out"
    assert main(["--problem", "quadratic", "--backend", "numpy", "--out", str(out)]) == 0
    folder_lock.acquire(out)
    try:
        p = gdbench("--resume", str(out))
        _, err = p.communicate(timeout=120)
        assert p.returncode == 2 and "is being written by" in err
    finally:
        folder_lock.release(out)


def test_a_failed_write_is_one_line_and_leaves_no_temporary_file(tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    flushes = []

    def full(fd):  # command.json is written; then the disk is full
        flushes.append(fd)
        if len(flushes) > 1:
            raise OSError(28, "No space left on device")  # what a full disk answers at the flush

    monkeypatch.setattr(results.os, "fsync", full)
    args = ["--problem", "quadratic", "--backend", "numpy", "--no-timing", "--out", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert one_line_error(err) and "No space left on device" in err
    assert not list(out.glob(".*.tmp"))
    monkeypatch.undo()
    assert main(["--resume", str(out)]) == 0  # nothing blocks the resume


def test_temporary_names_are_the_writer_s_own(tmp_path):
    df = pd.DataFrame({"a": [1]})
    results.atomic_csv(df, tmp_path / "x.csv")
    (tmp_path / ".x.csv.tmp").write_text("another writer's half file")
    results.atomic_csv(df, tmp_path / "x.csv")  # the old fixed name would have collided
    assert (tmp_path / ".x.csv.tmp").read_text() == "another writer's half file"
    assert pd.read_csv(tmp_path / "x.csv").a.tolist() == [1]
    assert oct((tmp_path / "x.csv").stat().st_mode & 0o777) != oct(0o600)


# Processes ------------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def wait_for_worker(p: subprocess.Popen, out: Path, timeout: float = 90) -> list[int]:
    """The run's child processes once its first cell's row is on disk (its worker is then
    spinning in the plug-in's gradient)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if (out / "summary.csv").exists():
            time.sleep(1)
            kids = children(p.pid)
            assert kids, "no worker process"
            return kids
        time.sleep(0.2)
    raise AssertionError("the first cell never finished")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_parent_leaves_no_process_behind(tmp_path, sig):
    plugin = problem_plugin(tmp_path, "spins", grad="        while True:\n            pass")
    out = tmp_path / "out"
    p = gdbench(
        "--plugin", plugin, "--problem", "quadratic,spins", "--backend", "numpy",
        "--out", str(out),
    )  # fmt: skip
    kids = wait_for_worker(p, out)
    os.kill(p.pid, sig)
    _, err = p.communicate(timeout=30)
    if sig == signal.SIGTERM:
        assert p.returncode == 143
        assert "terminated; finished rows are kept" in err
        # the quadratic's row, finished before the spinning cell, is on disk
        assert pd.read_csv(out / "summary.csv").problem.tolist() == ["quadratic"]
    end = time.monotonic() + 10
    while any(alive(k) for k in kids) and time.monotonic() < end:
        time.sleep(0.2)
    assert not [k for k in kids if alive(k)]


# User code ------------------------------------------------------------------------------


@pytest.mark.parametrize("timing", [True, False])
def test_sys_exit_in_a_plugin_gradient_is_an_error_row(tmp_path, timing):
    plugin = problem_plugin(tmp_path, "exits", grad="        sys.exit(7)")
    out = tmp_path / "out"
    args = ["--plugin", plugin, "--problem", "exits,quadratic", "--backend", "numpy"]
    args += ["--out", str(out)] + ([] if timing else ["--no-timing"])
    assert main(args) == 1
    s = pd.read_csv(out / "summary.csv").set_index("problem")
    assert s.loc["exits", "status"] == "error"
    assert s.loc["exits", "reason"] == "SystemExit: user code called sys.exit(7)"
    assert s.loc["quadratic", "verdict"] == "agrees"


@pytest.mark.parametrize("timing", [True, False])
def test_a_gradient_that_loops_forever_is_stopped_at_the_cell_timeout(tmp_path, timing):
    plugin = problem_plugin(tmp_path, "loops", grad="        while True:\n            pass")
    out = tmp_path / "out"
    args = ["--plugin", plugin, "--problem", "loops,quadratic", "--backend", "numpy"]
    args += ["--cell-timeout", "2", "--out", str(out)] + ([] if timing else ["--no-timing"])
    assert main(args) == 1
    s = pd.read_csv(out / "summary.csv").set_index("problem")
    assert s.loc["loops", "status"] == "error"
    assert "did not finish within 2 s" in s.loc["loops", "reason"]
    assert s.loc["quadratic", "verdict"] == "agrees"


def test_a_failing_reference_fails_its_own_cells_only(tmp_path):
    plugin = problem_plugin(tmp_path, "broken", loss='        raise RuntimeError("no loss")')
    out = tmp_path / "out"
    args = ["--plugin", plugin, "--problem", "broken,linreg", "--backend", "numpy,jax"]
    assert main([*args, "--no-timing", "--out", str(out)]) == 1
    s = pd.read_csv(out / "summary.csv")
    broken = s[s.problem == "broken"]
    assert len(broken) == 2 and (broken.status == "error").all()
    assert broken.reason.str.startswith("the float64 reference failed: RuntimeError: no loss").all()
    assert (s[s.problem == "linreg"].verdict == "agrees").all()
    assert main(["--resume", str(out)]) == 1  # every cell has its row: nothing crashes


def test_sys_exit_at_plugin_import_is_a_one_line_refusal(tmp_path, capsys):
    plugin = tmp_path / "exits.py"
    plugin.write_text("import sys\nsys.exit(0)\n")
    assert main(["list", "--plugin", str(plugin)]) == 2
    err = capsys.readouterr().err
    assert one_line_error(err) and "called sys.exit(0) at import" in err


def test_a_plugin_import_that_never_ends_is_bounded(tmp_path, capsys, monkeypatch):
    plugin = tmp_path / "spins.py"
    plugin.write_text("while True:\n    pass\n")
    monkeypatch.setattr(registry, "PLUGIN_IMPORT_S", 1.0)
    assert main(["list", "--plugin", str(plugin)]) == 2
    err = capsys.readouterr().err
    assert one_line_error(err) and "import did not finish within 1 s" in err


REPLACING = """
import gdbench
from gdbench.problems.linreg import LinearRegression


class Mine(LinearRegression):
    {replaces}


gdbench.register_problem(Mine())
"""


def test_a_plugin_under_a_built_in_name_is_refused_unless_it_says_so(tmp_path, capsys):
    quiet = tmp_path / "quiet.py"
    quiet.write_text(REPLACING.format(replaces="pass"))
    assert main(["list", "--plugin", str(quiet)]) == 2
    err = capsys.readouterr().err
    assert one_line_error(err) and "'linreg' is a built-in problem" in err
    said = tmp_path / "said.py"
    said.write_text(REPLACING.format(replaces="replaces = True"))
    out = tmp_path / "out"
    args = ["--plugin", str(said), "--problem", "linreg", "--backend", "numpy", "--no-timing"]
    assert main([*args, "--out", str(out)]) == 0
    row = pd.read_csv(out / "summary.csv").iloc[0]
    assert "a plug-in replaces the built-in problem 'linreg'" in row.reason


# Output ---------------------------------------------------------------------------------

QUICK = ("--problem", "quadratic,linreg", "--backend", "numpy", "--no-timing")


def test_a_closed_pipe_ends_quietly(tmp_path):
    p = gdbench(*QUICK, "--out", str(tmp_path / "out"))
    p.stdout.close()  # the reader is gone before the table is printed, as `| head -0`
    err = p.stderr.read()
    p.stderr.close()
    assert p.wait(timeout=120) == 0
    assert "Traceback" not in err and "BrokenPipe" not in err
    assert len(pd.read_csv(tmp_path / "out" / "summary.csv")) == 2


def test_stdout_on_a_full_device_is_one_line(tmp_path):
    with open("/dev/full", "w") as full:
        p = gdbench(*QUICK, "--out", str(tmp_path / "out"), stdout=full)
        _, err = p.communicate(timeout=120)
    assert p.returncode == 2
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("gdbench: error: No space left on device")
    assert len(pd.read_csv(tmp_path / "out" / "summary.csv")) == 2


def test_an_ascii_terminal_gets_ascii_symbols(tmp_path):
    p = gdbench(
        "--problem", "quadratic", "--backend", "numpy", "--out", str(tmp_path / "out"),
        env={"PYTHONIOENCODING": "ascii"},
    )  # fmt: skip
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    assert "Traceback" not in err
    assert "time/step (median +- IQR)" in out and " us" in out


@pytest.mark.skipif(registry.backends()["jax"].available()[0] is False, reason="needs jax")
def test_one_library_s_failing_device_probe_fails_its_own_cells_only(tmp_path):
    # JAX_PLATFORMS=cuda on a machine without CUDA: jax raises when asked for devices.
    out = tmp_path / "out"
    p = gdbench(
        "--problem", "quadratic", "--backend", "numpy,jax", "--device", "auto",
        "--no-timing", "--out", str(out), env={"JAX_PLATFORMS": "cuda"},
    )  # fmt: skip
    _, err = p.communicate(timeout=300)
    assert p.returncode == 1, err
    s = pd.read_csv(out / "summary.csv").set_index("backend")
    assert s.loc["jax", "status"] == "error"
    assert s.loc["numpy", "verdict"] == "agrees"


class _Probe:
    """A backend's CUDA probe as the planner sees it: one that raises, or one that counts."""

    def __init__(self, fails: bool):
        self.fails, self.calls = fails, 0

    def device_available(self, device):
        self.calls += 1
        if self.fails:
            raise RuntimeError("Unable to initialize backend 'cuda'")
        return False, "no CUDA here"


def test_auto_asks_the_libraries_only_where_a_gpu_driver_shows(monkeypatch):
    from gdbench.execution import cells

    probes = {"a": _Probe(fails=False), "b": _Probe(fails=True)}
    monkeypatch.setattr(cells, "gpu_driver_visible", lambda: False)
    assert cells._devices("auto", probes) == {"a": ["cpu"], "b": ["cpu"]}
    assert [p.calls for p in probes.values()] == [0, 0]  # no torch/JAX import in the parent
    # With a driver showing, each library is asked; one whose probe raises is its own problem.
    monkeypatch.setattr(cells, "gpu_driver_visible", lambda: True)
    assert cells._devices("auto", probes) == {"a": ["cpu"], "b": ["cpu"]}
    assert [p.calls for p in probes.values()] == [1, 1]
    # --device cuda always asks, and says why nothing answered.
    monkeypatch.setattr(cells, "gpu_driver_visible", lambda: False)
    why = r"no CUDA device is visible \(no CUDA here; b: the CUDA probe failed"
    with pytest.raises(UsageError, match=why):
        cells._devices("cuda", probes)


def test_a_long_cell_says_it_is_still_running(tmp_path, capsys, monkeypatch):
    from gdbench.compat import containment

    monkeypatch.setattr(containment, "HEARTBEAT_S", 0.4)
    slow = "        import time\n        time.sleep(0.4)\n" + GRAD
    plugin = problem_plugin(tmp_path, "slow", grad=slow)
    args = ["--plugin", plugin, "--problem", "slow", "--backend", "numpy", "--no-timing"]
    assert main([*args, "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "still running: slow N=4 D=1 sgd numpy/eager cpu float32, 5 steps" in err


def test_gradcheck_of_a_plugin_whose_loss_raises_is_one_line_and_the_rest_runs(tmp_path, capsys):
    plugin = problem_plugin(tmp_path, "broken", loss='        raise RuntimeError("no loss")')
    assert main(["gradcheck", "--plugin", plugin, "--problem", "broken,linreg"]) == 1
    out = capsys.readouterr().out
    assert "gradient check of 'broken' could not run: RuntimeError: no loss" in out
    assert "gradient check of 'linreg' at w = [0.]" in out


def test_a_refused_resume_leaves_the_folder_as_it_was(tmp_path):
    out = tmp_path / "out"
    assert main(["--problem", "quadratic", "--backend", "numpy", "--out", str(out)]) == 0
    assert not (out / folder_lock.LOCK_NAME).exists()  # a finished run removes its lock
    (out / "summary.csv").write_text('problem,backend\n"unclosed,quote\n')
    before = sorted((p.name, p.stat().st_mtime_ns) for p in out.iterdir())
    assert main(["--resume", str(out)]) == 2
    assert sorted((p.name, p.stat().st_mtime_ns) for p in out.iterdir()) == before
