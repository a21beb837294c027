"""A sweep over problem settings (--problem-opt repeated): each setting runs as its own
instance, gives the rows a single run of that setting gives, is compared with the baseline
of its own setting, is told apart in the table and the report, and resumes; run and
gradcheck take one setting, and say so."""

from __future__ import annotations

import itertools
import json
from argparse import Namespace

import pytest

import gdbench
from gdbench.cli.commands import main, resume_args
from gdbench.errors import UsageError
from gdbench.reports import table

NARROW = {"layers": "8-4-3", "batch": 8}
WIDE = {"layers": "8-16-3", "batch": 8}
SIZES = {"n_samples": 32, "features": 8, "steps": 3}


def _params(layers: str) -> int:
    widths = [int(w) for w in layers.split("-")]
    return sum(i * o + o for i, o in itertools.pairwise(widths))


def test_each_setting_runs_as_its_own_run_would(tmp_path):
    swept = gdbench.sweep(
        problem="classifier",
        problem_opt=[NARROW, WIDE],
        backend="numpy",
        time_budget=0.01,
        out=tmp_path / "sweep",
        **SIZES,
    ).summary
    assert len(swept) == 4  # 2 settings × numpy's 2 modes
    for setting in (NARROW, WIDE):
        rows = swept[swept.problem_args.map(json.loads).map(lambda a, s=setting: a | s == a)]
        assert len(rows) == 2 and (rows.verdict == "agrees").all()
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
    # Speed-ups are against NumPy eager of the same setting: 1 for each setting's own.
    records = swept.to_dict("records")
    ups = table.speedups(records)
    eager = [i for i, r in enumerate(records) if r["mode"] == "eager"]
    assert [ups[i] for i in eager] == [1.0, 1.0]
    labels = table.problem_labels(records)
    assert sorted(set(labels)) == ["classifier[layers=8-16-3]", "classifier[layers=8-4-3]"]
    report = (tmp_path / "sweep" / "report.md").read_text()
    # In the widths' order (4 before 16), not as text sorts them.
    assert (
        0
        < report.index("classifier[layers=8-4-3] numpy/eager")
        < report.index("classifier[layers=8-16-3] numpy/eager")
    )
    # --resume reads both settings back from command.json.
    resumed = resume_args(Namespace(resume=str(tmp_path / "sweep"), cluster=None))
    assert resumed.problem_opt == ["layers=8-4-3,batch=8", "layers=8-16-3,batch=8"]


def test_a_problem_the_settings_leave_alone_runs_once(tmp_path):
    swept = gdbench.sweep(
        problem="linreg,classifier",
        problem_opt=["classifier:layers=8-4-3,batch=8", "classifier:layers=8-16-3,batch=8"],
        backend="numpy",
        mode="eager",
        timing=False,
        out=tmp_path / "s",
        **SIZES,
    ).summary
    assert (swept.problem == "linreg").sum() == 1
    assert (swept.problem == "classifier").sum() == 2
    # linreg's rows did not vary: the labels leave it bare.
    assert "linreg" in table.problem_labels(swept.to_dict("records"))


@pytest.mark.parametrize("command", ["run", "gradcheck"])
def test_run_and_gradcheck_take_one_setting(command, capsys):
    argv = [command, "--problem", "mlp", "--problem-opt", "hidden=4", "--problem-opt", "hidden=8"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert f"{command} takes one --problem-opt" in err and len(err.splitlines()) == 1
    with pytest.raises(UsageError, match="takes one --problem-opt"):
        getattr(gdbench, command)(problem="mlp", problem_opt=["hidden=4", "hidden=8"])
