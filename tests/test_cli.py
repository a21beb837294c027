"""The command line, in-process: exit statuses, usage errors, plugins, skipped backends."""

from __future__ import annotations

import pandas as pd
import pytest

from gdbench import registry
from gdbench.cli.commands import main
from gdbench.numerics.budget import BUDGET

from .conftest import ROOT, require

FAST = ["--no-timing"]


def run(args, tmp_path, name="out"):
    out = tmp_path / name
    code = main([*args, "--out", str(out)])
    return code, out


def test_default_suite_agrees_and_writes_csvs(tmp_path, capsys):
    code, out = run(FAST, tmp_path)
    assert code == 0
    summary = pd.read_csv(out / "summary.csv")
    available = [n for n, b in registry.backends().items() if b.available()[0]]
    # Every problem but those left out of a bare run (the classifier's default is too big).
    bare = {n for n, p in registry.problems().items() if p.default_run}
    assert set(summary.problem) == bare == set(registry.problems()) - {"classifier"}
    assert set(summary.backend) == set(registry.backends())
    ran = summary[summary.backend.isin(available)]
    assert ran.agrees.all()
    # both criteria: within the tolerance and within float32's own error budget ("agrees",
    # not "noisy"), every float32 cell with its baseline's error recorded
    assert (ran.verdict == "agrees").all() and (ran.error_ratio <= BUDGET).all()
    assert (ran.baseline_dev > 0).all()
    assert (summary.dtype == "float32").all()
    printed = capsys.readouterr().out
    assert "verdict" in printed and "agrees" in printed


def test_run_is_the_default_command(tmp_path):
    assert (
        main(
            [
                "run",
                "--problem",
                "quadratic",
                "--backend",
                "numpy",
                *FAST,
                "--out",
                str(tmp_path / "a"),
            ]
        )
        == 0
    )
    assert (
        main(["--problem", "quadratic", "--backend", "numpy", *FAST, "--out", str(tmp_path / "b")])
        == 0
    )


def test_list_names_every_backend_with_availability(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("quadratic", "linreg", "numpy", "torch-autograd", "torch-nn", "jax"):
        assert name in out


def test_list_prints_each_mode_with_its_doc_and_devices(capsys):
    from gdbench import registry
    from gdbench.backend import as_mode

    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for backend in registry.backends().values():
        for mode in map(as_mode, backend.modes):
            assert f"{mode:<10} {mode.doc}" in out
    assert "cudagraph" in out and "(cuda only)" in out
    # What list says is what the planner enforces: cudagraph is refused on the CPU.
    ok, why = registry.backends()["torch-autograd"].mode_available("cudagraph", "cpu")
    assert not ok and why == "cudagraph needs --device cuda"


def test_list_and_help_import_no_framework():
    import subprocess
    import sys

    code = (
        "import sys; from gdbench.cli.commands import main; main(['list']); "
        "bad = [m for m in ('torch', 'jax', 'pandas', 'matplotlib') if m in sys.modules]; "
        "sys.exit(len(bad))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=ROOT)
    assert done.returncode == 0, done.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--problem", "cubic"], "unknown problem 'cubic'; valid: quadratic, linreg"),
        (["--backend", "tensorflow"], "valid: numpy, torch-autograd, torch-nn, jax"),
        (["--dtype", "float16"], "unknown dtype 'float16'"),
        (["--device", "tpu"], "unknown device 'tpu'"),
        (["--mode", "turbo"], "unknown mode"),
        (["--steps", "0"], "--steps must be a positive whole number"),
        (["--steps", "2.5"], "--steps must be a positive whole number"),
        (["--lr", "nan"], "--lr must be a finite positive number"),
        (["--lr", "-0.1"], "--lr must be a finite positive number"),
        (["--lr", "inf"], "--lr must be a finite positive number"),
        (["--n-samples", "-3"], "--n-samples must be positive whole numbers or roof"),
        (["--features", "0"], "--features must be a positive whole number"),
        (["--threads", "0"], "--threads must be a positive whole number"),
        (["--seed", "x"], "--seed must be a whole number"),
        (["--frobnicate"], "unrecognized arguments: --frobnicate"),
        (["--plugin", "no/such/file.py"], "plugin file not found"),
    ],
)
def test_bad_input_is_one_line_and_status_2(args, needle, tmp_path, capsys):
    out = tmp_path / "out"
    assert main([*args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("gdbench: error: ")
    assert needle in err
    assert "Traceback" not in err
    assert not out.exists()  # nothing written


def test_existing_results_are_never_overwritten(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.csv").write_text("precious\n")
    assert main(["--out", str(out), *FAST]) == 2
    assert "never overwritten" in capsys.readouterr().err
    assert (out / "summary.csv").read_text() == "precious\n"


def test_unwritable_out_is_a_usage_error(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["--out", str(blocker / "sub"), *FAST]) == 2
    assert "cannot be written" in capsys.readouterr().err


def test_default_out_is_a_new_folder_under_results(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["--problem", "quadratic", "--backend", "numpy", *FAST]
    assert main(args) == 0 and main(args) == 0
    runs = sorted((tmp_path / "results").iterdir())
    assert len(runs) == 2 and all((r / "summary.csv").exists() for r in runs)


def test_unavailable_backend_is_skipped_with_its_reason(tmp_path):
    plugin = tmp_path / "missing.py"
    plugin.write_text(
        "import gdbench\n"
        "class Missing(gdbench.Backend):\n"
        "    name = 'needs-missing'\n"
        "    requires = ('gdbench_no_such_package',)\n"
        "    def prepare(self, problem, inst, setup):\n"
        "        import gdbench_no_such_package  # never reached: the backend is skipped\n"
        "gdbench.register_backend(Missing())\n"
    )
    code, out = run(["--plugin", str(plugin), "--backend", "numpy,needs-missing", *FAST], tmp_path)
    assert code == 0  # skipped is not a failure
    s = pd.read_csv(out / "summary.csv")
    skipped = s[s.backend == "needs-missing"]
    assert (skipped.status == "skipped").all()
    assert skipped.reason.str.contains("package not installed: gdbench_no_such_package").all()


@require("torch")
def test_plugin_with_the_notebook_gradient_is_caught(tmp_path, capsys):
    plugin = str(ROOT / "examples" / "my_gradient.py")
    code, out = run(["--plugin", plugin, "--problem", "my-linreg", *FAST], tmp_path)
    assert code == 1
    s = pd.read_csv(out / "summary.csv").set_index("backend")
    assert not s.loc["numpy", "agrees"] and s.loc["numpy", "first_bad_step"] == 1
    assert s.loc["torch-autograd", "agrees"]
    assert main(["gradcheck", "--plugin", plugin, "--problem", "my-linreg"]) == 1
    assert "ratio hand/true = 4" in capsys.readouterr().out


def test_backend_plugin_runs_like_a_builtin(tmp_path):
    plugin = str(ROOT / "examples" / "finite_difference_backend.py")
    code, out = run(["--plugin", plugin, "--backend", "numpy-fd", *FAST], tmp_path)
    assert code == 0
    assert pd.read_csv(out / "summary.csv").agrees.all()


def test_gradcheck_passes_for_builtin_problems(capsys):
    assert main(["gradcheck"]) == 0
    bare = [p for p in registry.problems().values() if p.default_run]
    assert capsys.readouterr().out.count("OK") == len(bare) == len(registry.problems()) - 1


def test_a_plugin_that_raises_is_a_usage_error(tmp_path, capsys):
    bad = tmp_path / "bad.py"
    bad.write_text("raise RuntimeError('my plugin is broken')\n")
    assert main(["list", "--plugin", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "RuntimeError: my plugin is broken" in err and err.count("\n") == 1


def test_cuda_without_a_device_is_a_usage_error(tmp_path, capsys):
    from .conftest import cuda_available

    if cuda_available():
        pytest.skip("this machine has CUDA")
    assert main(["--device", "cuda", "--out", str(tmp_path / "o")]) == 2
    assert "no CUDA device is visible" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_divergence_is_reported_and_agrees_with_a_diverging_reference(tmp_path):
    # lr = 1.5 on w²: w_k = 10·(−2)^k, so every backend and the reference diverge.
    code, out = run(["--problem", "quadratic", "--lr", "1.5", *FAST], tmp_path)
    assert code == 0
    s = pd.read_csv(out / "summary.csv")
    ran = s[s.status != "skipped"]
    assert (ran.status == "diverged").all() and (ran.diverged_step == 11).all()
    assert (ran.ref_diverged_step == 11).all() and ran.agrees.all()
