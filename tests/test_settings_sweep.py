"""A sweep over problem settings (--problem-opt repeated): each setting runs as its own
instance, gives the rows a single run of that setting gives, is compared with the baseline
of its own setting, is told apart in progress lines and the report's tables (in the
widths' order), and resumes; a problem the settings leave alone runs once; run and
gradcheck take one setting, and say so."""

from __future__ import annotations

import itertools
import json
from argparse import Namespace

import pytest

import gdbench
from gdbench.cli.commands import main
from gdbench.cli.resume import resume_args
from gdbench.errors import UsageError
from gdbench.reports import plots, table
from gdbench.reports.sweep_tables import fraction_table

NARROW = {"layers": "8-4-3", "batch": 8}
WIDE = {"layers": "8-16-3", "batch": 8}
SIZES = {"n_samples": 32, "features": 8, "steps": 3}


def _params(layers: str) -> int:
    widths = [int(w) for w in layers.split("-")]
    return sum(i * o + o for i, o in itertools.pairwise(widths))


def test_each_setting_runs_as_its_own_run_would(tmp_path, capsys):
    scoped = [",".join(f"classifier:{k}={v}" for k, v in s.items()) for s in (NARROW, WIDE)]
    swept = gdbench.sweep(
        problem="linreg,classifier",
        problem_opt=scoped,
        backend="numpy",
        timing=False,
        out=tmp_path / "sweep",
        **SIZES,
    ).summary
    # linreg, which neither setting changes, runs once; the classifier once per setting.
    assert (swept.problem == "linreg").sum() == 2  # numpy's two modes
    classifier = swept[swept.problem == "classifier"]
    assert len(classifier) == 4 and (classifier.verdict == "agrees").all()
    progress = capsys.readouterr().err
    assert "] classifier[layers=8-4-3] N=32" in progress and "] linreg N=32" in progress
    for setting in (NARROW, WIDE):
        mine = classifier.problem_args.map(json.loads).map(lambda a, s=setting: a | s == a)
        rows = classifier[mine]
        alone = gdbench.run(
            problem="classifier",
            problem_opt=setting,
            backend="numpy",
            timing=False,
            out=tmp_path / setting["layers"],
            **SIZES,
        ).summary
        # The same instance and trajectory as the setting's own run, and the setting's
        # own cost: 4·(B·(D + K) + 6·P) bytes with P counted from its widths.
        eager = rows[rows["mode"] == "eager"]
        assert eager.final_loss.tolist() == alone.final_loss.tolist()
        assert eager.final_w_norm.tolist() == alone.final_w_norm.tolist()
        assert (rows.bytes_per_step == 4 * (8 * (8 + 3) + 6 * _params(setting["layers"]))).all()
    # --resume reads both settings back from command.json.
    resumed = resume_args(Namespace(resume=str(tmp_path / "sweep"), cluster=None))
    assert resumed.problem_opt == scoped

    # Speed-ups are against NumPy eager of the same setting: with times t, naive's is
    # t(eager) / t(naive) of its own setting, never of the other's.
    times = {("8-4-3", "eager"): 2.0, ("8-4-3", "naive"): 1.0}
    times |= {("8-16-3", "eager"): 9.0, ("8-16-3", "naive"): 3.0}
    rows = classifier.assign(
        time_per_step_s=[
            times[json.loads(a)["layers"], m]
            for a, m in zip(classifier.problem_args, classifier["mode"], strict=True)
        ],
        roofline_frac=0.5,
    )
    records = rows.to_dict("records")
    ups = sorted(round(v, 12) for v in table.speedups(records).values())
    assert ups == [1.0, 1.0, 2.0, 3.0]
    # The report's tables name each setting, in the widths' order (4 before 16), not as
    # text sorts them.
    _, lines = fraction_table(plots.sweep_frame(rows))
    names = [line[0] for line in lines]
    assert names[0].startswith("classifier[layers=8-4-3] numpy/eager")
    assert names[2].startswith("classifier[layers=8-16-3] numpy/eager")


@pytest.mark.parametrize("command", ["run", "gradcheck"])
def test_run_and_gradcheck_take_one_setting(command, capsys):
    argv = [command, "--problem", "mlp", "--problem-opt", "hidden=4", "--problem-opt", "hidden=8"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert f"{command} takes one --problem-opt" in err and len(err.splitlines()) == 1
    with pytest.raises(UsageError, match="takes one --problem-opt"):
        getattr(gdbench, command)(problem="mlp", problem_opt=["hidden=4", "hidden=8"])


def test_scoped_settings_run_only_what_they_name(tmp_path):
    """Each --problem-opt scoped to one problem: that problem runs with it, and not with
    its defaults as well (a 784-1024-1024-10 classifier nobody asked for ran beside)."""
    from gdbench.cli.commands import parse
    from gdbench.execution.plan import build_plan
    from gdbench.results import folder_lock

    argv = ["sweep", "--problem", "logreg,classifier,linreg", "--n-samples", "100"]
    argv += ["--problem-opt", "logreg:l2=0.1", "--problem-opt", "classifier:layers=8-16-10"]
    plan = build_plan(parse([*argv, "--no-timing", "--out", str(tmp_path / "s")]), False)
    folder_lock.release_all(discard=True)
    cells = {(s.problem, s.problem_args) for s in plan.specs}
    assert {p for p, _ in cells} == {"logreg", "classifier", "linreg"}
    assert {a for p, a in cells if p == "logreg"} == {'{"l2": 0.1}'}
    assert [a for p, a in cells if p == "classifier"] == [
        '{"activation": "relu", "batch": 128, "layers": "8-16-10"}'
    ]
    assert len({a for p, a in cells if p == "linreg"}) == 1  # named by neither: its defaults
