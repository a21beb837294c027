"""Result CSVs: documented columns, values from the closed form, a pandas round trip."""

from __future__ import annotations

import pandas as pd
import pytest

from gdbench.cli import main
from gdbench.results import SUMMARY_COLUMNS, TRAJECTORY_ID


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
    for col in ("python", "numpy", "cpu_model", "timestamp", "threads", "device_name"):
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
