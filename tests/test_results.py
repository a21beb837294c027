"""Result CSVs: documented columns, values from the closed form, a pandas round trip."""

from __future__ import annotations

import pandas as pd
import pytest

from gdbench.cli.commands import main
from gdbench.results.schema import SUMMARY_COLUMNS, TRAJECTORY_ID


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    out = tmp_path_factory.mktemp("r") / "run"
    assert (
        main(
            [
                *("--problem", "quadratic,linreg", "--backend", "numpy"),
                *("--dtype", "float32,float64", "--no-timing", "--out", str(out)),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "--problem",
                "linreg",
                "--backend",
                "numpy",
                "--n-samples",
                "40",
                "--features",
                "3",
                "--no-timing",
                "--out",
                str(out.with_name("vec")),
            ]
        )
        == 0
    )
    return out


def test_summary_columns_in_documented_order(out):
    s = pd.read_csv(out / "summary.csv")
    assert list(s.columns) == SUMMARY_COLUMNS
    assert len(s) == 4 and (s.status == "ok").all()
    for col in ("python", "versions", "cpu_model", "timestamp", "threads", "device_name"):
        assert s[col].notna().all(), col


def test_trajectory_rows_follow_the_notebook(out):
    t = pd.read_csv(out / "trajectories.csv")
    assert list(t.columns[: len(TRAJECTORY_ID) + 2]) == [*TRAJECTORY_ID, "step", "loss"]
    q = t[(t.problem == "quadratic") & (t.backend == "numpy") & (t.dtype == "float32")]
    assert q.step.tolist() == list(range(1, 16))
    first = q.iloc[0]
    assert (first.loss, first.grad, first.w) == (100.0, 20.0, 8.0)
    # The float64 reference is stored beside the runs.
    assert (t.backend == "reference").any()


def test_vector_parameters_get_indexed_columns(out):
    t = pd.read_csv(out.with_name("vec") / "trajectories.csv")
    assert {"w_0", "w_1", "w_2", "grad_0", "grad_1", "grad_2"} <= set(t.columns)
    assert "w" not in t.columns


def test_csv_round_trip(out, tmp_path):
    for name in ("summary.csv", "trajectories.csv"):
        df = pd.read_csv(out / name)
        df.to_csv(tmp_path / name, index=False)
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / name), df)


def _trajectories(out):
    return pd.read_csv(out / "trajectories.csv")


def test_record_every_keeps_the_first_every_kth_and_the_last_step(tmp_path):
    # The same run with every step recorded is the source: the kept rows are its rows at
    # steps 1, 10, 20 and 25, and the verdicts (decided on every step) are the same.
    base = ["--problem", "linreg", "--backend", "numpy", "--n-samples", "30", "--features", "2"]
    base += ["--steps", "25", "--no-timing", "--dtype", "float32,float64"]
    full, thin = tmp_path / "full", tmp_path / "thin"
    assert main([*base, "--out", str(full)]) == 0
    assert main([*base, "--record-every", "10", "--out", str(thin)]) == 0
    a, b = _trajectories(full), _trajectories(thin)
    for _, rows in b.groupby(["backend", "dtype"]):
        assert rows.step.tolist() == [1, 10, 20, 25]
    assert set(b.backend) == {"numpy", "reference"}
    kept = a[a.step.isin([1, 10, 20, 25])].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, b)
    sa, sb = pd.read_csv(full / "summary.csv"), pd.read_csv(thin / "summary.csv")
    assert sa.verdict.tolist() == sb.verdict.tolist()
    assert sa.max_rel_dev.tolist() == sb.max_rel_dev.tolist()


def test_record_every_is_kept_on_resume_and_checked(tmp_path, capsys):
    import json

    out = tmp_path / "o"
    args = ["--problem", "quadratic", "--backend", "numpy", "--steps", "7", "--no-timing"]
    assert main([*args, "--record-every", "3", "--out", str(out)]) == 0
    assert json.loads((out / "command.json").read_text())["record_every"] == "3"
    (out / "summary.csv").write_text((out / "summary.csv").read_text().splitlines()[0] + "\n")
    assert main(["run", "--resume", str(out)]) == 0
    assert sorted(set(_trajectories(out).step)) == [1, 3, 6, 7]
    capsys.readouterr()
    assert main([*args, "--record-every", "0", "--out", str(tmp_path / "z")]) == 2
    err = capsys.readouterr().err.strip()
    assert "--record-every" in err and "\n" not in err and not (tmp_path / "z").exists()


def test_the_csv_size_estimate_bounds_what_is_written(tmp_path):
    # The disk check's estimate against a real trajectories.csv (an MLP's 193 parameters,
    # two cells and the reference): never below the file, at most half again above it.
    from gdbench.execution.limits import csv_bytes
    from gdbench.spec import RunSpec

    out = tmp_path / "o"
    args = ["--problem", "mlp", "--problem-opt", "hidden=48", "--backend", "numpy"]
    args += ["--steps", "40", "--record-every", "3", "--no-timing", "--dtype", "float32,float64"]
    assert main([*args, "--out", str(out)]) == 0
    specs = [RunSpec.from_row(r) for r in pd.read_csv(out / "summary.csv").to_dict("records")]
    estimate = csv_bytes(specs, 1, lambda s: 48 * (s.features + 2) + 1, every=3)
    written = (out / "trajectories.csv").stat().st_size
    assert written <= estimate <= 1.5 * written


def test_a_trajectory_table_too_big_for_memory_is_refused_until_record_every_thins_it(
    monkeypatch,
):
    from gdbench.errors import UsageError
    from gdbench.execution.limits import MEMORY_SHARE, check_run_memory, held_bytes, table_bytes
    from gdbench.spec import RunSpec

    # Twelve cells of 1,000 parameters (each one a column of trajectories.csv), one
    # reference, on a machine of 7 GiB: their recorded rows, not any one run, do not fit.
    monkeypatch.setenv("GDBENCH_MEMORY_BYTES", "7GiB")
    specs = [
        RunSpec("mlp", b, m, "cpu", dt, 0.05, 6000, 200, 2)
        for b in ("numpy", "torch-autograd", "torch-nn", "jax")
        for m, dt in (("eager", "float32"), ("eager", "float64"), ("compiled", "float32"))
    ]
    params = lambda s: 1000  # noqa: E731
    share = MEMORY_SHARE * 7 * 1024**3
    assert 5 * held_bytes(6000, 1000) < share < 13 * table_bytes(6000, 1000)
    with pytest.raises(UsageError, match="--record-every"):
        check_run_memory(specs, 1, params)
    check_run_memory(specs, 1, params, every=100)


FORMULA = "=cmd|' /C calc'!A0"  # what a spreadsheet would run, as a problem's name
FORMULA_PLUGIN = f"""
import numpy as np
import gdbench
from gdbench.problems.quadratic import Quadratic


class Formula(Quadratic):
    name = {FORMULA!r}


gdbench.register_problem(Formula())
"""


def test_text_a_spreadsheet_would_run_is_quoted_and_reads_back_unchanged(tmp_path, capsys):
    """OWASP's CSV injection: a cell starting with = + - @ (or a tab) is written after a
    ', in every CSV gdbench writes; gdbench reads it back as it was."""
    import csv

    import gdbench

    plugin = tmp_path / "formula.py"
    plugin.write_text(FORMULA_PLUGIN)
    runs = [tmp_path / "a", tmp_path / "b"]
    for out in runs:
        argv = ["run", "--plugin", str(plugin), "--problem", FORMULA, "--backend", "numpy"]
        assert main([*argv, "--time-budget", "0.02", "--out", str(out)]) == 0
    argv = ["compare", *map(str, runs), "--out", str(tmp_path / "c")]
    assert main(argv) == 0
    assert main(["history", *map(str, runs), "--csv", str(tmp_path / "events.csv")]) == 0
    written = [*runs[0].glob("*.csv"), tmp_path / "c" / "compare.csv"]
    assert {p.name for p in written} >= {"summary.csv", "trajectories.csv", "samples.csv"}
    for path in written:
        with open(path, newline="", encoding="utf-8") as fh:
            cells = [c for row in csv.reader(fh) for c in row]
        assert FORMULA not in cells and f"'{FORMULA}" in cells, path.name
        assert not [c for c in cells if c[:1] in ("=", "@")], path.name
    back = gdbench.load(runs[0])
    assert set(back.summary.problem) == {FORMULA}
    assert set(back.trajectories.problem) == {FORMULA}
    assert set(back.samples.problem) == {FORMULA}
    # a name that starts with ' before a formula keeps its '
    from gdbench.results.schema import read_results
    from gdbench.results.writer import csv_text

    names = pd.DataFrame({"problem": ["'=1", "-2", "+x", "@y", "\tz", "ok", "a-b"]})
    assert read_results("x.csv", text=csv_text(names)).problem.tolist() == names.problem.tolist()
