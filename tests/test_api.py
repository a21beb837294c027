"""gdbench from Python: the functions return objects, repeat without leaving anything
behind, take the command line's options as keywords with the same one-line errors, and run
a problem defined in ``__main__`` (a notebook cell) in the timing worker processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import gdbench
from gdbench.cli.commands import main
from gdbench.results.schema import read_results

from .conftest import ROOT

NOTEBOOK_GRADIENT = textwrap.dedent(
    """
    import numpy as np
    import gdbench

    class NotebookLinreg(gdbench.Problem):
        # the seed notebook's cell: y = 2x, its gradient np.dot(2*X, Y_pred - Y).mean()
        name = "notebook-linreg"
        default_lr = 0.01
        default_steps = 20

        def make(self, n_samples=None, features=None, seed=0):
            x = np.array([1.0, 2.0, 3.0, 4.0])
            return gdbench.Instance(self.name, w0=np.zeros(1), data={"X": x[:, None], "y": 2 * x},
                                    n_samples=4)

        def loss(self, w, X, y):
            return ((X @ w - y) ** 2).mean()

        def grad(self, w, X, y):
            return np.atleast_1d(np.dot(2 * X[:, 0], X @ w - y).mean())

    if __name__ == "__main__":
        r = gdbench.run(problem=NotebookLinreg(), backend=["numpy", "torch-autograd"],
                        time_budget=0.05, progress=False)
        rows = r.summary.set_index("backend")
        print("ok", r.ok)
        print("numpy", rows.loc["numpy", "verdict"], rows.loc["numpy", "time_per_step_s"] > 0)
        print("torch", rows.loc["torch-autograd", "verdict"],
              rows.loc["torch-autograd", "time_per_step_s"] > 0)
        print("samples", len(r.samples) > 0)
    """
)


def test_a_run_is_an_object_and_can_be_made_again(tmp_path):
    first = gdbench.run(problem="linreg", timing=False, progress=False)
    again = gdbench.run(problem="linreg", timing=False, progress=False)
    assert first.ok and again.ok and first.path is None
    assert list(first.summary.backend) == list(again.summary.backend)
    assert (first.summary.verdict == "agrees").all()
    # The notebook's data and closed form: w → 2 on every backend, as the notebook printed.
    assert np.allclose(first.summary.final_w, 2.0, atol=1e-6)
    traj = first.trajectories
    assert set(traj.backend) == {*first.summary.backend, "reference"}
    assert "<table>" in first._repr_html_() and "agrees" in repr(first)
    fig = first.plot()
    lines = fig.axes[0].get_lines()
    assert len(lines) == len(first.summary) + 1  # one per cell, and the reference
    back = gdbench.load(first.save(tmp_path / "saved"))
    assert back.path == tmp_path / "saved" and back.ok
    assert list(back.summary.columns) == list(first.summary.columns)
    assert (read_results(tmp_path / "saved" / "summary.csv").verdict == "agrees").all()


def test_keywords_take_python_types_and_refuse_as_the_command_line_does():
    r = gdbench.run(
        problem=["linreg"],
        backend=["numpy"],
        optimizer="adam",
        opt={"eps": 1e-7},
        dtype=["float32", "float64"],
        steps=5,
        timing=False,
        progress=False,
    )
    assert list(r.summary.dtype) == ["float32", "float64"]
    assert set(r.summary.optimizer_args.map(lambda s: '"eps": 1e-07' in s)) == {True}
    with pytest.raises(gdbench.UsageError, match=r"^--steps must be a positive whole number"):
        gdbench.run(problem="linreg", steps=0, timing=False, progress=False)
    with pytest.raises(gdbench.UsageError, match="takes no keyword 'problme'"):
        gdbench.run(problme="linreg")
    with pytest.raises(gdbench.UsageError, match="timing must be True or False"):
        gdbench.run(problem="linreg", timing="no")


def test_the_registry_functions_stay_callable_after_any_import():
    import gdbench.backends.numpy_hand
    import gdbench.problems.linreg

    assert "linreg" in gdbench.problems() and "linreg" in gdbench.problems()
    assert "numpy" in gdbench.backends() and "adam" in gdbench.optimizers()


def test_a_problem_defined_in_main_runs_with_timing_in_worker_processes(tmp_path):
    script = tmp_path / "notebook.py"
    script.write_text(NOTEBOOK_GRADIENT)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout.split("\n")
    # The notebook's gradient is N = 4 times too large: every backend that runs the hand
    # gradient disagrees; torch's autograd ignores it and agrees. Both were timed.
    assert "ok False" in out
    assert "numpy disagrees True" in out
    assert "torch agrees True" in out and "samples True" in out


def test_a_problem_in_a_script_piped_to_python_runs_with_timing_too(tmp_path):
    # "python -" has no __main__ file for the spawned workers to run again (pyperf #145
    # fails there); the problem travels by value and the workers need none.
    done = subprocess.run(
        [sys.executable, "-"],
        input=NOTEBOOK_GRADIENT,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "numpy disagrees True" in done.stdout.split("\n")


UNGUARDED = textwrap.dedent(
    """
    # A teacher's script, no `if __name__ == "__main__":` guard: every top-level line runs
    # whenever Python imports this file. Each run of it leaves a line in runs.txt.
    import os
    import gdbench

    with open("runs.txt", "a") as fh:
        fh.write(f"{os.getpid()}\\n")
    r = gdbench.run(problem=["linreg", "logreg"], backend=["numpy", "torch-autograd"],
                    time_budget=0.05, progress=False, out="unguarded")
    print("verdicts", sorted(r.summary.verdict.astype(str)))
    print("timed", bool((r.summary.time_per_step_s > 0).all()))
    """
)


def test_a_script_without_a_main_guard_runs_once_with_timing(tmp_path):
    script = tmp_path / "lesson.py"
    script.write_text(UNGUARDED)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert len((tmp_path / "runs.txt").read_text().splitlines()) == 1  # never in a worker
    assert "timed True" in done.stdout
    argv = ["run", "--problem", "linreg,logreg", "--backend", "numpy,torch-autograd"]
    assert main([*argv, "--time-budget", "0.05", "--out", str(tmp_path / "cli")]) == 0
    keys = ["problem", "backend", "verdict"]
    ours = gdbench.load(tmp_path / "unguarded").summary[keys].astype(str)
    cli = gdbench.load(tmp_path / "cli").summary[keys].astype(str)
    assert ours.sort_values(keys).values.tolist() == cli.sort_values(keys).values.tolist()
    assert set(cli.verdict) == {"agrees"}


IN_MEMORY = textwrap.dedent(
    """
    import os

    made = []  # every folder this process creates: os.makedirs, Path.mkdir, mkdtemp use it
    mkdir = os.mkdir
    os.mkdir = lambda path, *a, **k: (made.append(str(path)), mkdir(path, *a, **k))[1]

    import gdbench

    r = gdbench.run(problem=["quadratic", "linreg"], backend=["numpy", "torch-autograd"],
                    time_budget=0.05, progress=False)
    print("path", r.path)
    print("cells", len(r.summary), "timed", bool((r.summary.time_per_step_s > 0).all()))
    print("samples", len(r.samples) > 0, "trajectories", len(r.trajectories))
    print("verdicts", sorted(set(r.summary.verdict)))
    print("made", made)
    """
)


def test_a_run_without_out_creates_no_folder_anywhere(tmp_path):
    """Timed (so in worker processes) and untimed, a run without out= leaves nothing in
    its working folder or in the temporary folder (TMPDIR, as every temporary file goes
    there), and returns the same tables a folder would give."""
    work, tmp = tmp_path / "work", tmp_path / "tmp"
    work.mkdir()
    tmp.mkdir()
    import os

    env = {**os.environ, "TMPDIR": str(tmp)}
    done = subprocess.run(
        [sys.executable, "-c", IN_MEMORY],
        capture_output=True,
        text=True,
        cwd=work,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout.splitlines()
    assert "path None" in out and "cells 4 timed True" in out and "made []" in out
    assert list(work.iterdir()) == [] and list(tmp.iterdir()) == []
    folder = gdbench.run(
        problem=["quadratic", "linreg"],
        backend=["numpy", "torch-autograd"],
        timing=False,
        progress=False,
        out=tmp_path / "f",
    )
    assert f"samples True trajectories {len(folder.trajectories)}" in out
    assert "verdicts ['agrees']" in out
    # the same cells through a folder: the same tables, column for column
    mem = gdbench.run(problem="linreg", timing=False, progress=False)
    disk = gdbench.run(problem="linreg", timing=False, progress=False, out=tmp_path / "d")
    assert list(mem.summary.columns) == list(disk.summary.columns)
    assert (mem.summary.dtypes == disk.summary.dtypes).all()
    same = ["problem", "backend", "verdict", "final_loss", "max_rel_dev"]
    assert mem.summary[same].equals(disk.summary[same])
    assert mem.trajectories.equals(disk.trajectories)


def test_compare_takes_results_and_folders():
    old = ROOT / "results/cpu-intel-xeon-2core/compare-threads/threads-1"
    new = ROOT / "results/cpu-intel-xeon-2core/compare-threads/threads-2"
    cmp = gdbench.compare(old, new)
    assert cmp.ok and len(cmp.table) == 20
    assert "threads 1 → 2" in repr(cmp)
    assert cmp.plot() is not None
    same = gdbench.load(old).compare(gdbench.load(old))
    assert same.ok


def test_gradcheck_returns_its_checks():
    checks = gdbench.gradcheck(problem=["linreg", "mlp"])
    assert checks.ok and set(checks.checks) == {"linreg", "mlp"}
    assert "gradient check of 'linreg'" in repr(checks)


def _huber(scale: float):
    """A notebook's Huber regression (δ = 1), its hand gradient ``scale`` times the true one:
    each call defines the class anew under one name, as re-running a notebook cell does."""

    class Huber(gdbench.Problem):
        name = "huber-nb"
        default_lr = 0.1
        default_steps = 30

        def make(self, n_samples=None, features=None, seed=0):
            x = np.linspace(-2.0, 2.0, 16)
            y = 2.0 * x + np.where(np.arange(16) % 5 == 0, 4.0, 0.0)  # a few outliers
            return gdbench.Instance(
                self.name, w0=np.zeros(1), data={"X": x[:, None], "y": y}, n_samples=16
            )

        def loss(self, w, X, y):
            r = X @ w - y
            a = abs(r)
            return (gdbench.namespace(w).where(a <= 1.0, 0.5 * r * r, a - 0.5)).mean()

        def grad(self, w, X, y):
            r = X @ w - y
            return scale * X.T @ np.clip(r, -1.0, 1.0) / len(y)

    return Huber()


def _redefined(**opts):
    """Run, redefine the class with a gradient 4× too large, run again, and back: each run
    is judged on the class it was given (an untimed run once kept the first one's cached
    problem, instance and reference, so the numpy cell still agreed)."""
    opts = {"backend": ["numpy", "torch-autograd"], "progress": False, **opts}
    right = gdbench.run(problem=_huber(1.0), **opts)
    assert right.ok, right.summary[["backend", "verdict", "reason"]]
    wrong = gdbench.run(problem=_huber(4.0), **opts)
    rows = wrong.summary.set_index("backend")
    assert rows.loc["numpy", "verdict"] == "disagrees"
    assert rows.loc["torch-autograd", "verdict"] == "agrees"
    first = right.summary.set_index("backend").loc["numpy", "final_w"]
    assert rows.loc["numpy", "final_w"] != first
    assert gdbench.run(problem=_huber(1.0), **opts).ok


def test_a_problem_redefined_under_its_name_runs_as_redefined():
    _redefined(timing=False)


def test_a_problem_redefined_under_its_name_runs_as_redefined_when_timed():
    _redefined(time_budget=0.02)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: gdbench.load(None), "load: a results folder is a path, got NoneType"),
        (
            lambda: gdbench.compare(1, "x"),
            "compare: old is a results folder (a path) or a Result, got int",
        ),
        (
            lambda: gdbench.compare("a", "b", treshold=3),
            "compare() takes no keyword 'treshold'; valid: threshold, fail_above, ignore, "
            "require_testable",
        ),
        (lambda: gdbench.history(None), "history: a result folder is a path, got NoneType"),
        (
            lambda: gdbench.history("x", treshold=3),
            "history() takes no keyword 'treshold'; valid: threshold",
        ),
        (lambda: gdbench.run(out=object()), "out is a folder's path, got object"),
        (lambda: gdbench.run(progress="no"), "progress must be True or False, got 'no'"),
        (
            lambda: gdbench.history(ROOT / "results/cpu-amd-epyc-2core/history").html(
                "/proc/gdbench-x.html"
            ),
            "/proc/gdbench-x.html cannot be written (No such file or directory)",
        ),
    ],
)
def test_every_api_input_gets_one_line(call, message):
    with pytest.raises(gdbench.UsageError) as caught:
        call()
    assert str(caught.value) == message


def test_signatures_show_only_what_the_functions_take():
    import inspect

    assert "resume" not in inspect.signature(gdbench.run).parameters
    assert "progress" in inspect.signature(gdbench.run).parameters
    assert "progress" not in inspect.signature(gdbench.gradcheck).parameters
    with pytest.raises(gdbench.UsageError, match="resume a folder from the command line"):
        gdbench.run(resume="somewhere")
