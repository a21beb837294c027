"""sweep, machine, report: the cost model, the roofline columns, the files written, and a
sweep killed midway then resumed giving the same rows as one left alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from gdbench import registry
from gdbench.api.sweep_plan import SWEEP_COLUMNS
from gdbench.cli.commands import main
from gdbench.timing.roofline import roofline_columns

from .conftest import ROOT, require

LIMITS = {"cpu": {"gbps": 32.0, "method": "test", "cache_bytes": 20_000}}
GEMM = {"float32": {"gflops": 100.0, "iqr_gflops": 1.0, "method": "test gemm"}}


def test_linreg_cost_model_and_roofline_columns():
    p = registry.problems()["linreg"]
    inst = p.make(1000, 3, 0)
    row = {"dtype": "float32", "device": "cpu", "time_per_step_s": 1e-6}
    cols = roofline_columns(row, p, inst, LIMITS)
    assert cols["bytes_per_step"] == 4 * (1000 * 3 + 1000)  # X and y read once
    assert cols["flops_per_step"] == 4 * 1000 * 3 + 4 * 1000
    assert cols["achieved_gbps"] == pytest.approx(16.0)
    assert cols["gflops"] == pytest.approx(16.0) and cols["intensity"] == pytest.approx(1.0)
    # 16 kB fit in the 20 kB cache, whose bandwidth was not measured: no roof applies.
    assert cols["cache_resident"] is True
    assert cols["roofline_frac"] == "" and cols["bound"] == ""
    # Measured, the cache's roof: 64 GB/s × 1 FLOP/byte, under a GEMM rate of 100.
    cached = {"cpu": {**LIMITS["cpu"], "cache_gbps": 64.0, "gemm": GEMM}}
    cols = roofline_columns(row, p, inst, cached)
    assert cols["bound"] == "cache" and cols["roof_gflops"] == pytest.approx(64.0)
    assert cols["roofline_frac"] == pytest.approx(16.0 / 64.0)
    # float64: 32 kB, out of the cache: the memory roof, 32 GB/s × ½ FLOP/byte.
    row64 = {**row, "dtype": "float64"}
    cols64 = roofline_columns(row64, p, inst, cached)
    assert cols64["cache_resident"] is False and cols64["bound"] == "memory"
    assert cols64["roofline_frac"] == pytest.approx(16.0 / 16.0)


def test_a_matrix_product_step_is_bound_by_the_gemm_rate():
    p = registry.problems()["classifier"].configured({"layers": "256-512-10", "batch": 256})
    inst = p.make(256, None, 0)
    flops, nbytes = p.flops_per_step(inst), p.bytes_per_step(inst, 4)
    limits = {"cpu": {"gbps": 32.0, "method": "test", "cache_bytes": 0, "gemm": GEMM}}
    t = flops / 50e9  # 50 GFLOP/s achieved
    cols = roofline_columns(
        {"dtype": "float32", "device": "cpu", "time_per_step_s": t}, p, inst, limits
    )
    assert flops / nbytes * 32.0 > 100.0  # the bandwidth roof is above the GEMM rate
    assert cols["bound"] == "compute" and cols["roof_gflops"] == 100.0
    assert cols["gflops"] == pytest.approx(50.0) and cols["roofline_frac"] == pytest.approx(0.5)


def test_cells_without_timing_get_no_fraction():
    p = registry.problems()["linreg"]
    cols = roofline_columns({"dtype": "float32", "device": "cuda"}, p, p.make(10, 1, 0), LIMITS)
    assert cols["bytes_per_step"] == 80 and cols["roofline_frac"] == ""


def test_machine_prints_the_bandwidth_and_the_gemm_rates(capsys, monkeypatch):
    from gdbench.timing import gemm

    monkeypatch.setattr(gemm, "CPU_SIZE", 512)  # the real products, smaller (CI's time)
    assert main(["machine"]) == 0
    out = capsys.readouterr().out
    assert "GB/s" in out and "CPU roof" in out and "CUDA" in out
    gbps = float(out.split("CPU roof: ")[1].split()[0])
    assert 0.1 < gbps < 10_000  # a physical number, not a unit slip
    assert "cache read bandwidth" in out
    for dtype in ("float32", "float64"):
        rate = float(out.split(f"CPU {dtype} compute roof: ")[1].split()[0])
        assert 0.1 < rate < 100_000  # GFLOP/s of two cores up to a large server
    for lib in ("numpy", "torch", "jax"):
        assert f"{lib} matmul 512²" in out


def test_the_gemm_roof_is_the_best_backends_rate():
    from gdbench.timing.gemm import cpu_gemm_rates, roofs

    rates = cpu_gemm_rates(("float32",), n=256, repeats=3)
    assert {r.method.split()[0] for r in rates} >= {"numpy"}
    top = roofs(rates)["float32"]
    assert top["gflops"] == max(r.gflops for r in rates) and top["size"] == 256
    assert set(top["by_method"]) == {r.method for r in rates}


@require("matplotlib")
def test_sweep_writes_csv_plots_and_report(tmp_path):
    out = tmp_path / "sweep"
    code = main(
        [
            "sweep",
            "--n-samples",
            "300,3000",
            "--features",
            "1",
            "--backend",
            "numpy,jax",
            "--mode",
            "eager,jit",
            "--time-budget",
            "0.02",
            "--steps",
            "5",
            "--optimizer",
            "sgd,adam",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    s = pd.read_csv(out / "sweep.csv")
    assert set(s.optimizer) == {"sgd", "adam"}
    assert list(s.columns) == SWEEP_COLUMNS
    lin = s[s.problem == "linreg"]
    assert sorted(lin.n_samples.unique()) == [300, 3000]
    assert (lin.bytes_per_step == 4 * 2 * lin.n_samples).all()
    timed = lin[lin.time_per_step_s.notna()]
    np.testing.assert_allclose(
        timed.achieved_gbps, timed.bytes_per_step / timed.time_per_step_s / 1e9
    )
    # Out of the cache linreg's step is bound by memory: the fraction is of its bandwidth.
    memory = timed[timed.bound == "memory"]
    np.testing.assert_allclose(memory.roofline_frac, memory.achieved_gbps / memory.bandwidth_gbps)
    np.testing.assert_allclose(timed.roofline_frac, timed.gflops / timed.roof_gflops)
    machine = __import__("json").loads((out / "machine.json").read_text())
    (cpu,) = [d["cpu"] for d in machine["hosts"].values()]
    assert cpu["gemm"]["float32"]["gflops"] > 0 and cpu["cache_gbps"] > 0
    for name in (
        "machine.json",
        "time_per_step.png",
        "roofline.png",
        "roofline_model.png",
        "speedup.png",
        "loss_vs_step.png",
        "report.md",
    ):
        assert (out / name).stat().st_size > 0, name
    report = (out / "report.md").read_text()
    assert "## Fastest per size" in report and "roofline" in report
    # The step profile: every timed linreg cell at the largest N, and its report section.
    ops = pd.read_csv(out / "breakdown.csv")
    profiled = ops[ops.problem == "linreg"].drop_duplicates(["backend", "mode", "optimizer"])
    assert set(profiled.n_samples) == {3000} and len(profiled) == len(timed) // 2
    assert "## Where the time goes, at the largest N" in report
    # Two optimizers: every table keeps them apart.
    assert "| 3e3 sgd | 1 | float32 |" in report and "| 3e3 adam | 1 | float32 |" in report
    assert "| adam numpy/eager cpu float32 D=1 |" in report
    refs = pd.read_csv(out / "trajectories.csv").query("backend == 'reference'")
    assert set(refs.optimizer) == {"sgd", "adam"}
    assert main(["report", str(out)]) == 0


def test_report_of_a_folder_that_is_no_sweep_is_a_usage_error(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "not a sweep folder" in capsys.readouterr().err


COMMITTED_SWEEP = ROOT / "results" / "cpu-amd-epyc-2core" / "sweep"


def _damaged(tmp_path, name: str, change) -> str:
    import shutil

    out = tmp_path / "s"
    shutil.copytree(COMMITTED_SWEEP, out, ignore=shutil.ignore_patterns("*.png", "report.md"))
    if name == "machine.json":
        (out / name).write_text(change)
    else:
        df = pd.read_csv(out / name, dtype=str, keep_default_na=False)
        changed = change(df)
        (df if changed is None else changed).to_csv(out / name, index=False)
    return str(out)


def _set(col, value, row=None):
    def change(df):
        df.loc[slice(None) if row is None else row, col] = value

    return change


@pytest.mark.parametrize(
    ("name", "change", "said"),
    [
        ("sweep.csv", _set("time_per_step_s", "abc", 0), "'time_per_step_s': 'abc' is not a"),
        ("sweep.csv", _set("time_per_step_s", "-1"), "'time_per_step_s': -1 is not a number > 0"),
        ("sweep.csv", _set("time_per_step_s", "0"), "is not a number > 0"),
        ("sweep.csv", _set("n_samples", "-5", 1), "row 3, column 'n_samples': -5 is not a whole"),
        ("sweep.csv", _set("steps", "1e400", 0), "'steps': inf is not a whole number"),
        ("sweep.csv", _set("achieved_gbps", "inf"), "'achieved_gbps': inf is not a number ≥ 0"),
        ("sweep.csv", _set("agrees", "maybe"), "'agrees': 'maybe' is not True or False"),
        ("sweep.csv", lambda df: df.iloc[0:0], "sweep.csv: no rows"),
        ("trajectories.csv", _set("loss", "abc", 0), "'loss': 'abc' is not a number"),
        ("trajectories.csv", _set("step", "x"), "'step': 'x' is not a number"),
        ("trajectories.csv", _set("w", "1e5x", 3), "row 5, column 'w'"),
        ("machine.json", '{"cpu": {"gbps": "abc"}}', "cpu.gbps = 'abc' is not a number > 0"),
        ("machine.json", '{"cpu": {"gbps": -5, "iqr_gbps": 1}}', "cpu.gbps = -5"),
        ("machine.json", '{"cpu": {"gbps": NaN, "iqr_gbps": 0}}', "cpu.gbps = nan"),
        ("machine.json", '{"cpu": {"gbps": 1e400, "iqr_gbps": 0}}', "cpu.gbps = inf"),
        ("machine.json", '{"cpu": {"gbps": 3, "iqr_gbps": 1, "cache_bytes": 1.5}}', "cache_bytes"),
        ("machine.json", '{"cpu": null}', "cpu is not a measurement"),
        ("machine.json", '{"hosts": {"a": {"hostname": 3}}}', "a hostname is not a name"),
    ],
)
def test_report_of_a_sweep_with_bad_values_is_one_line(tmp_path, capsys, name, change, said):
    folder = _damaged(tmp_path, name, change)
    assert main(["report", folder]) == 2
    err = capsys.readouterr().err.strip()
    assert said in err and name in err and "\n" not in err
    assert not (tmp_path / "s" / "report.md").exists()


@require("matplotlib")
def test_report_draws_a_negative_loss_on_a_linear_axis(tmp_path):
    # A plug-in's loss may be below zero (a log-likelihood, say): the report is drawn, its
    # loss axis linear, where a log axis had no positive value to show and raised.
    folder = _damaged(tmp_path, "trajectories.csv", _set("loss", "-3"))
    assert main(["report", folder]) == 0
    assert (tmp_path / "s" / "loss_vs_step.png").stat().st_size > 0


def _sweep(out, *extra):
    return [
        sys.executable,
        "-m",
        "gdbench",
        "sweep",
        "--n-samples",
        "1e3,2e3,4e3,8e3",
        "--features",
        "1",
        "--backend",
        "numpy,torch-autograd",
        "--mode",
        "eager",
        "--time-budget",
        "0.15",
        "--steps",
        "5",
        "--problem",
        "linreg",
        "--out",
        str(out),
        *extra,
    ]


KEY = ["problem", "backend", "mode", "device", "dtype", "n_samples"]
SAME = [*KEY, "status", "agrees", "final_loss", "max_rel_dev", "bytes_per_step"]


@require("torch")
def test_killed_sweep_resumes_to_the_same_rows(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = tmp_path / "killed"
    proc = subprocess.Popen(
        _sweep(out),
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    rows = 0
    while time.monotonic() < deadline and proc.poll() is None:
        csv = out / "sweep.csv"
        rows = len(pd.read_csv(csv)) if csv.exists() else 0
        if rows >= 3:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole sweep, workers included, mid-cell
    proc.wait()
    assert 3 <= rows < 8, "the sweep was not caught midway"
    # It parses (no half-written line was left); read as text to compare rows verbatim.
    killed = pd.read_csv(out / "sweep.csv", dtype=str, keep_default_na=False)
    resumed = subprocess.run(
        [sys.executable, "-m", "gdbench", "sweep", "--resume", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    after_text = pd.read_csv(out / "sweep.csv", dtype=str, keep_default_na=False)
    # Kept as they were, but for the roof columns: every row is bounded again by the best
    # roofs measured, the resumed sweep's after its cells among them.
    roof = ["cache_gbps", "peak_gflops", "peak_method", "roof_gflops", "bound", "roofline_frac"]
    roof += ["timing_warning"]  # where it says the roof was underestimated
    kept = [c for c in killed.columns if c not in roof]
    pd.testing.assert_frame_equal(after_text.iloc[: len(killed)][kept], killed[kept])
    after = pd.read_csv(out / "sweep.csv")
    whole = tmp_path / "whole"
    # The columns compared do not depend on timing: the uninterrupted sweep is untimed
    # (8 s where the timed one takes 28 s here).
    subprocess.run(_sweep(whole, "--no-timing"), cwd=ROOT, env=env, check=True, capture_output=True)
    expected = pd.read_csv(whole / "sweep.csv")
    norm = lambda df: df[SAME].sort_values(KEY).reset_index(drop=True)  # noqa: E731
    pd.testing.assert_frame_equal(norm(after), norm(expected))
    t_after = pd.read_csv(out / "trajectories.csv")
    t_whole = pd.read_csv(whole / "trajectories.csv")
    assert len(t_after) == len(t_whole)
    assert not t_after.duplicated(subset=[*KEY, "seed", "lr", "step"]).any()


def _lowered(limits: dict, by: float = 1e4) -> dict:
    """Roofs as a machine busy with something else might read them: ``by`` times low."""
    import copy

    out = copy.deepcopy(limits)
    for dev in out.values():
        for key in ("gbps", "cache_gbps"):
            if key in dev:
                dev[key] /= by
        for rate in dev.get("gemm", {}).values():
            rate["gflops"] /= by
    return out


@pytest.mark.parametrize("again_low", [False, True])
def test_no_sweep_reports_a_fraction_above_its_roof(tmp_path, monkeypatch, again_low):
    """A roof measured low on purpose (10⁴ times): measured again after the cells, the
    higher is kept and every fraction is at most 1.05; where it reads low again too, no
    fraction is printed above it: the row says the roof was underestimated."""
    from gdbench.timing import bandwidth, machine_file

    real_limits, real_roofs = bandwidth.device_limits, bandwidth.compute_roofs
    monkeypatch.setattr(bandwidth, "device_limits", lambda d=("float32",): _lowered(real_limits(d)))
    if again_low:
        monkeypatch.setattr(
            bandwidth, "compute_roofs", lambda d=("float32",): _lowered(real_roofs(d))
        )
    out = tmp_path / "sweep"
    argv = ["sweep", "--problem", "linreg", "--n-samples", "1e4", "--features", "1"]
    argv += ["--backend", "numpy", "--mode", "eager", "--time-budget", "0.02", "--steps", "5"]
    assert main([*argv, "--out", str(out)]) == 0
    s = pd.read_csv(out / "sweep.csv")
    assert len(s) == 1 and s.bound.iloc[0] == "cache"  # 80 kB: the cache's roof
    assert not (s.roofline_frac > 1.05).any()
    cache = next(
        iter(
            machine_file.machine_hosts(
                __import__("json").loads((out / "machine.json").read_text())
            ).values()
        )
    )["cpu"]["cache_gbps"]
    if again_low:
        assert s.roofline_frac.isna().all()
        assert s.timing_warning.str.contains(r"roof underestimated: the step ran at [\d.]+×").all()
        assert cache < 10  # GB/s: what was measured, kept
    else:
        assert (s.roofline_frac > 0).all()
        assert not s.timing_warning.astype(str).str.contains("roof underestimated").any()
        assert cache > 10  # GB/s: the measurement after the cells, the higher, kept


def test_a_loaded_sweep_shows_no_fraction_above_its_roof(tmp_path):
    """A folder written before sweeps bounded their roofs (committed: an Intel Xeon's
    sweep with fractions of 1.23 and 1.15): its report says "roof underestimated" there."""
    import shutil

    from gdbench.reports.sweep_folder import load_sweep

    folder = tmp_path / "old"
    shutil.copytree(ROOT / "results" / "cpu-intel-xeon-2core" / "sweep-roof-rounds-4", folder)
    raw = pd.read_csv(folder / "sweep.csv")
    assert (raw.roofline_frac > 1.05).sum() == 2
    sweep, _, _ = load_sweep(folder)
    assert not (sweep.roofline_frac > 1.05).any()
    flagged = sweep.timing_warning.astype(str).str.contains("roof underestimated: the step ran")
    assert flagged.sum() == 2
    assert main(["report", str(folder)]) == 0
    assert (folder / "report.md").read_text().count("roof underestimated") >= 2
