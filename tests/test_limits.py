"""The three inputs that once broke gdbench, each with its fix: divergence at step 1 (and
a non-finite starting loss), values a dtype cannot represent, runs too large to keep,
and more threads than CPUs."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from gdbench import registry
from gdbench.cli.commands import main
from gdbench.problem import Instance
from gdbench.problems.quadratic import Quadratic
from gdbench.trajectory import Trajectory


def run(args, tmp_path, name="out"):
    out = tmp_path / name
    return main([*args, "--no-timing", "--out", str(out)]), out


def test_lr_that_overflows_float32_at_step_1_is_diverged_and_agrees(tmp_path):
    # w1 = 10 − 1e38·20 = −2e39: finite in float64, −inf in float32. The reference,
    # seen in float32, overflows at step 1 as well.
    code, out = run(["--problem", "quadratic", "--lr", "1e38"], tmp_path)
    assert code == 0
    df = pd.read_csv(out / "summary.csv")
    available = [n for n, b in registry.backends().items() if b.available()[0]]
    ran = df[df.backend.isin(available)]
    assert (ran.status == "diverged").all() and (ran.diverged_step == 1).all()
    assert (ran.ref_diverged_step == 1).all() and ran.agrees.all()


def test_the_same_lr_in_float64_diverges_at_step_2(tmp_path):
    # In float64 nothing overflows at step 1; the loss grows 4e76-fold by step 2.
    code, out = run(["--problem", "quadratic", "--lr", "1e38", "--dtype", "float64"], tmp_path)
    df = pd.read_csv(out / "summary.csv")
    assert code == 0 and (df.diverged_step == 2).all() and df.agrees.all()


class HugeStart(Quadratic):
    """w0 = 1e20: w0² = 1e40 overflows float32 before the first update (step 0)."""

    name = "huge-start"

    def make(self, n_samples=None, features=None, seed=0):
        return Instance(self.name, w0=np.asarray(1e20))


def test_a_non_finite_starting_loss_is_diverged_at_step_1(tmp_path):
    registry.register_problem(HugeStart())
    code, out = run(["--problem", "huge-start", "--backend", "numpy,torch-autograd"], tmp_path)
    df = pd.read_csv(out / "summary.csv")
    assert code == 0
    assert (df.diverged_step == 1).all() and (df.ref_diverged_step == 1).all()
    assert df.agrees.all()


def test_reference_in_range_of_a_dtype():
    t = Trajectory.from_steps([1.0, 4e39, 1e80], [2.0, 1.0, 1.0], [2e19, 1e40, 1e41])
    cut = t.in_range_of("float32")
    assert cut.diverged_step == 2 and cut.steps == 2
    assert t.in_range_of("float64") is t


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--lr", "1e308"], "--lr=1e+308 cannot be represented in float32"),
        (["--lr", "1e-50"], "--lr=1e-50 cannot be represented in float32"),
        (["--optimizer", "adam", "--opt", "eps=1e-50"], "--opt eps=1e-50 cannot be represented"),
        (["--optimizer", "adam", "--opt", "eps=1e39"], "--opt eps=1e+39 cannot be represented"),
    ],
)
def test_values_the_dtype_cannot_represent_are_usage_errors(args, needle, tmp_path, capsys):
    code, out = run(["--problem", "quadratic", *args], tmp_path)
    err = capsys.readouterr().err
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_float64_represents_what_float32_cannot(tmp_path):
    assert run(["--problem", "quadratic", "--dtype", "float64", "--lr", "1e-50"], tmp_path)[0] == 0


def test_a_billion_steps_are_refused_within_seconds(tmp_path, capsys):
    t0 = time.perf_counter()
    code, out = run(["--problem", "quadratic", "--steps", "1000000000"], tmp_path)
    err = capsys.readouterr().err
    assert code == 2 and time.perf_counter() - t0 < 10
    assert "lower --steps" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_large_data_names_the_size_options(tmp_path, capsys):
    code, _ = run(["--problem", "linreg", "--n-samples", "1e11"], tmp_path)
    assert code == 2 and "--n-samples or --features" in capsys.readouterr().err


def test_more_threads_than_cpus_are_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GDBENCH_CPUS", "2")
    code, out = run(["--threads", "3", "--backend", "numpy"], tmp_path)
    err = capsys.readouterr().err
    assert code == 2 and "lets gdbench use 2 CPUs" in err
    assert not out.exists()
    code, out = run(["--threads", "1", "--backend", "numpy"], tmp_path, "ok")
    assert code == 0 and (pd.read_csv(out / "summary.csv").threads == 1).all()


def test_roof_size_is_the_smallest_two_digit_n_beyond_four_caches(monkeypatch):
    """`--n-samples roof`: X and y over 4× the last-level cache, and the next two-digit
    size down would not be (values from the cache size, not from the function)."""
    from gdbench.execution import limits

    monkeypatch.setenv("GDBENCH_LLC_BYTES", "48MiB")
    monkeypatch.setenv("GDBENCH_MEMORY_BYTES", "24GiB")
    # 4 × 48 MiB = 201326592 bytes; float32 X and y at D = 1 are 8 N bytes: N > 25165824.
    assert limits.roof_samples(1, 4) == 26_000_000
    # D = 16: 68 N bytes > 201326592 → N > 2960685.2 → 3.0e6.
    assert limits.roof_samples(16, 4) == 3_000_000
    assert limits.roof_samples(16, 8) == 1_500_000


def test_roof_size_is_capped_by_the_memory_guard(monkeypatch):
    from gdbench.execution import limits

    monkeypatch.setenv("GDBENCH_LLC_BYTES", "300MiB")
    monkeypatch.setenv("GDBENCH_MEMORY_BYTES", "2GiB")
    notes: list[str] = []
    n = limits.roof_samples(1, 4, notes)
    # The guard: 8·(3·D + 20)·N ≤ 0.6 · 2 GiB → N ≤ 7002664.1, rounded down to 2 digits.
    assert n == 7_000_000
    assert len(notes) == 1 and "allows 7000000" in notes[0]


def test_roof_resolves_per_feature_count(monkeypatch):
    import argparse

    from gdbench.execution.plan import size_grid

    monkeypatch.setenv("GDBENCH_LLC_BYTES", "1MiB")
    args = argparse.Namespace(n_samples="1e3,roof", features="1,16", seed="0")
    grid = size_grid(args, single=False)
    assert [(g["n_samples"], g["features"]) for g in grid] == [
        (1000, 1),
        (530_000, 1),  # 4 MiB / 8 B = 524288 → 530000
        (1000, 16),
        (62_000, 16),  # 4 MiB / 68 B = 61680.9 → 62000
    ]


def test_the_reference_s_dense_work_counts_against_memory(tmp_path, capsys):
    # linreg's closed form eigendecomposes XᵀX/N: at N = D = 20000 that matrix and its
    # eigenvectors are 6 GiB in float64 on top of X (3 GiB, held in two dtypes).
    code, out = run(["--problem", "linreg", "--n-samples", "2e4", "--features", "2e4"], tmp_path)
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert "GiB" in err and "--n-samples or --features" in err and "\n" not in err
    assert not out.exists()


def test_fewer_samples_than_features_need_no_dxd_matrix():
    # At N < D the reference works on the N×N side (the thin SVD of X): 10 × 40000 asks
    # 3 MiB of X, not the 12 GiB of XᵀX that the guard once counted for it.
    from gdbench.execution.limits import check_run_memory
    from gdbench.spec import RunSpec

    spec = RunSpec("linreg", "numpy", "eager", "cpu", "float32", 0.01, 5, 10, 40000)
    check_run_memory([spec], 1)  # no UsageError


def test_a_problem_setting_beyond_float32_is_refused(tmp_path, capsys):
    code, _ = run(["--problem", "logreg", "--problem-opt", "l2=1e39"], tmp_path)
    assert code == 2
    assert "--problem-opt l2=1e+39 cannot be represented in float32" in capsys.readouterr().err


def _tree_peak(args: list[str]) -> int:
    """Peak resident memory of a gdbench run's whole process tree (parent and workers),
    sampled every 20 ms."""
    import subprocess
    import sys

    psutil = pytest.importorskip("psutil")
    p = subprocess.Popen(
        [sys.executable, "-m", "gdbench", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    proc, best = psutil.Process(p.pid), 0
    while p.poll() is None:
        try:
            tree = [proc, *proc.children(recursive=True)]
            best = max(best, sum(q.memory_info().rss for q in tree))
        except psutil.Error:
            pass
        time.sleep(0.02)
    assert p.returncode == 0
    return best


@pytest.mark.parametrize("backend", ["numpy", "torch-autograd", "jax"])
def test_the_memory_guard_covers_what_a_run_holds(backend, tmp_path):
    from gdbench.execution.limits import data_bytes

    if not registry.backends()[backend].available()[0]:
        pytest.skip(f"{backend} is not installed")
    # The growth of the peak between two sizes: what the data cost, imports aside.
    peaks = []
    for n in (1_000_000, 4_000_000):
        args = ["--problem", "linreg", "--n-samples", str(n), "--features", "1"]
        args += ["--backend", backend, "--steps", "5", "--time-budget", "0.05"]
        peaks.append(_tree_peak([*args, "--out", str(tmp_path / str(n))]))
    grown = peaks[1] - peaks[0]
    assert grown <= data_bytes(4_000_000, 1) - data_bytes(1_000_000, 1), (peaks, grown)
