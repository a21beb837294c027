"""--data: a public dataset's CSV, fitted weights against the closed form; every bad file is
one line and exit status 2 with nothing written; labels mapped; --lr auto."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gdbench.cli.commands import main

from .conftest import ROOT

DIABETES = ROOT / "examples" / "data" / "diabetes.csv"


def run(args, tmp_path, name="out"):
    out = tmp_path / name
    return main([*args, "--no-timing", "--out", str(out)]), out


def test_diabetes_fit_matches_least_squares(tmp_path, capsys):
    # The diabetes data (Efron et al. 2004; 442 patients, 10 features), standardised: plain
    # gradient descent at lr = 1/L for 5000 steps reaches the least-squares solution.
    code, out = run(
        [
            *("--problem", "linreg", "--data", str(DIABETES), "--standardize"),
            *("--lr", "auto", "--steps", "5000", "--backend", "numpy", "--dtype", "float64"),
        ],
        tmp_path,
    )
    assert code == 0
    assert "lr = 1/L = 0.124248" in capsys.readouterr().err
    d = pd.read_csv(DIABETES)
    X = d.drop(columns="target").to_numpy()
    y = d.target.to_numpy()
    X = (X - X.mean(0)) / X.std(0)
    w_star, *_ = np.linalg.lstsq(X, y - y.mean(), rcond=None)
    t = pd.read_csv(out / "trajectories.csv")
    last = t[t.backend == "numpy"].iloc[-1]
    w = np.array([last[f"w_{i}"] for i in range(10)])
    np.testing.assert_allclose(w, w_star, rtol=1e-3, atol=1e-3)
    s = pd.read_csv(out / "summary.csv")
    assert s.data.iloc[0].startswith("file:") and s.data_path.iloc[0] == str(DIABETES)
    assert (s.n_samples == 442).all() and (s.features == 10).all()


def test_npz_and_binary_labels_mapped(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 2))
    y = np.where(X @ [1.0, -2.0] + 0.3 * rng.standard_normal(300) > 0, 5.0, -1.0)
    path = tmp_path / "d.npz"
    np.savez(path, X=X, y=y)
    code, out = run(["--problem", "logreg", "--data", str(path)], tmp_path)
    assert code == 0
    assert "labels -1 → 0 and 5 → 1" in capsys.readouterr().err
    assert (pd.read_csv(out / "summary.csv").n_samples == 300).all()


def test_resume_with_data_runs_nothing_twice(tmp_path):
    code, out = run(["--problem", "linreg", "--data", str(DIABETES), "--standardize"], tmp_path)
    assert code == 0
    assert main(["run", "--resume", str(out)]) == 0
    assert len(pd.read_csv(out / "summary.csv")) == 4


BAD = [
    ("missing.csv", None, "not found"),
    ("empty.csv", "", "the file is empty"),
    ("header.csv", "a,b\n", "a header but no rows"),
    ("text.csv", "a,b\n1,2\n3,x\n", "row 3 (line 3 of the file), column 'b': not a finite"),
    ("hole.csv", "a,b\n1,2\n,4\n", "row 3 (line 3 of the file), column 'a': missing"),
    ("one.csv", "a\n1\n2\n", "needs at least one feature column and a target"),
    ("data.txt", "a,b\n1,2\n", "a .csv with a header or an .npz"),
]


@pytest.mark.parametrize(("name", "text", "needle"), BAD, ids=[b[0] for b in BAD])
def test_bad_data_files_are_one_line_and_status_2(name, text, needle, tmp_path, capsys):
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    code, out = run(["--problem", "linreg", "--data", str(path)], tmp_path)
    err = capsys.readouterr().err
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--problem", "logreg"], "labels must take two values for this problem"),
        (["--problem", "quadratic"], "quadratic takes no data"),
        (["--problem", "linreg", "--target", "nope"], "--target 'nope' is not a column"),
        (["--problem", "linreg", "--n-samples", "10"], "--data gives the sizes"),
    ],
)
def test_data_that_does_not_fit_the_problem(args, needle, tmp_path, capsys):
    code, out = run([*args, "--data", str(DIABETES)], tmp_path)
    err = capsys.readouterr().err
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_bad_npz_shapes(tmp_path, capsys):
    path = tmp_path / "bad.npz"
    np.savez(path, X=np.ones(5), y=np.ones(5))
    code, _ = run(["--problem", "linreg", "--data", str(path)], tmp_path)
    assert code == 2 and "X must be (N, D) and y (N,)" in capsys.readouterr().err


def test_lr_auto_without_a_bound_is_a_usage_error(tmp_path, capsys):
    code, _ = run(["--problem", "mlp", "--lr", "auto"], tmp_path)
    assert code == 2 and "mlp states no smoothness bound" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--problem", "mlp", "--problem-opt", "hidden=2.5"], "hidden must be a whole number"),
        (["--problem", "logreg", "--problem-opt", "l2=-1"], "l2 must be in [0, inf)"),
        (["--problem", "rosenbrock", "--problem-opt", "c=1"], "'c' is not a setting of rosenbrock"),
    ],
)
def test_bad_problem_settings(args, needle, tmp_path, capsys):
    code, _ = run(args, tmp_path)
    err = capsys.readouterr().err
    assert code == 2 and needle in err, err


def test_problem_settings_reach_every_backend(tmp_path):
    code, out = run(["--problem", "mlp,rosenbrock", "--problem-opt", "hidden=4,b=10"], tmp_path)
    assert code == 0
    s = pd.read_csv(out / "summary.csv")
    assert s[s.problem == "mlp"].problem_args.eq('{"hidden": 4}').all()
    t = pd.read_csv(out / "trajectories.csv")
    mlp = t[(t.problem == "mlp") & (t.backend == "torch-nn")]
    assert f"w_{4 * (2 + 2)}" in mlp.columns and mlp[f"w_{4 * (2 + 2)}"].notna().all()


def _npy_renamed(path):
    np.save(path.with_suffix(".npy"), np.zeros(3))
    path.with_suffix(".npy").rename(path)


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda p: p.write_bytes(b""), "not a readable .npz (EOFError"),
        (lambda p: p.write_bytes(b"PK\x03\x04garbage"), "not a readable .npz (BadZipFile"),
        (_npy_renamed, "holds a single array (an .npy)"),
        (lambda p: np.savez(p, X=np.zeros((5, 0)), y=np.zeros(5)), "X must be (N, D)"),
    ],
    ids=["empty", "corrupt", "renamed-npy", "no-columns"],
)
@pytest.mark.parametrize("command", ["run", "gradcheck"])
def test_damaged_npz_files_are_one_line(make, needle, command, tmp_path, capsys):
    path = tmp_path / "data.npz"
    make(path)
    out = tmp_path / "out"
    argv = [command, "--problem", "linreg", "--data", str(path)]
    assert main([*argv, *(["--out", str(out)] if command == "run" else [])]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and "\n" not in err
    assert not out.exists()


def test_data_beyond_float32_is_refused_there_and_runs_in_float64(tmp_path, capsys):
    path = tmp_path / "big.csv"
    path.write_text("a,y\n1,2\n1e39,1\n3,4\n")
    args = ["--problem", "linreg", "--data", str(path)]
    assert main([*args, "--no-timing", "--out", str(tmp_path / "o32")]) == 2
    err = capsys.readouterr().err.strip()
    assert "X holds 1e+39, beyond float32's largest finite value" in err and "\n" not in err
    code = main([*args, "--dtype", "float64", "--no-timing", "--out", str(tmp_path / "o64")])
    assert code in (0, 1)  # it runs (whether such data converge is not the point)
    assert (tmp_path / "o64" / "summary.csv").exists()


def test_a_sweep_runs_on_data_too(tmp_path):
    # The sweep's default sizes once counted as given: "--data gives the sizes: drop
    # --n-samples and --features", with neither on the command line.
    out = tmp_path / "s"
    argv = ["sweep", "--data", str(ROOT / "examples" / "data" / "diabetes.csv")]
    argv += ["--problem", "linreg", "--backend", "numpy", "--no-timing", "--steps", "3"]
    assert main([*argv, "--out", str(out)]) == 0
    rows = pd.read_csv(out / "sweep.csv")
    assert (rows.n_samples == 442).all() and (rows.features == 10).all()
