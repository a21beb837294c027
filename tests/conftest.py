"""Shared fixtures. Backends whose package is missing are skipped with the reason."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from gdbench import registry

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parents[1]


def require(package: str):
    return pytest.mark.skipif(
        importlib.util.find_spec(package) is None, reason=f"{package} is not installed"
    )


def cuda_available() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return torch.cuda.is_available()


needs_cuda = pytest.mark.skipif(not cuda_available(), reason="no CUDA device on this machine")


def backend_mode_params(device: str = "cpu"):
    """Every backend × mode runnable on ``device``; unavailable ones skip with their reason."""
    params = []
    for name, backend in registry.backends().items():
        ok, why = backend.available()
        for mode in backend.modes:
            marks = [] if ok else [pytest.mark.skip(reason=f"{name}: {why}")]
            if ok and mode == "cudagraph" and device != "cuda":
                continue
            params.append(pytest.param(name, mode, id=f"{name}-{mode}", marks=marks))
    return params


@pytest.fixture(autouse=True)
def _isolated_registry():
    """Plugins loaded by one test stay out of the next one's registry."""
    registry.problems()  # discover the built-ins first
    problems, backends = dict(registry._PROBLEMS), dict(registry._BACKENDS)
    yield
    registry._PROBLEMS.clear()
    registry._PROBLEMS.update(problems)
    registry._BACKENDS.clear()
    registry._BACKENDS.update(backends)


# The machine every test plans for, whatever it runs on: a 2-core AMD EPYC's 32 MiB
# last-level cache and 24 GiB (compat/machine.py's overrides; child processes inherit them).
# On a Xeon with 260 MiB of L3, `--n-samples roof` once hit the memory cap there and said so
# on stderr, and a test counting stderr's lines failed. tests/test_machine_probes.py runs the
# error paths under other caches and memories.
PINNED_MACHINE = {"GDBENCH_LLC_BYTES": "32MiB", "GDBENCH_MEMORY_BYTES": "24GiB"}


@pytest.fixture(autouse=True)
def _pinned_machine(monkeypatch):
    for name, value in PINNED_MACHINE.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(autouse=True)
def _small_gemm_roof(monkeypatch):
    """A timed sweep measures the compute roof first: in tests on 512² products, the same
    code at a tenth of the time (the 2048² ones took 10 of the 13 s of every timed sweep
    here, and CI's 15 minutes are nearly spent)."""
    from gdbench.timing import gemm

    monkeypatch.setattr(gemm, "CPU_SIZE", 512)


# The two tiers. `python -m pytest` (the README's test command) runs the fast one: unit
# tests, agreement and numerics on small sizes in the modes that do not compile, the error
# paths, the layers, one end-to-end run per command. `python -m pytest -m slow` runs the
# rest; `.ci/run` runs both. A test is slow by these three rules, here and nowhere else
# (tests/test_tiers.py checks that every entry names a test that exists):
#
# 1. By name: a file, or a test of it (every parametrisation), with about how many minutes
#    it takes alone on a 2-core AMD EPYC (the longest run first).
SLOW_TESTS: dict[str, float] = {
    "test_fuzz.py": 4,  # the fuzzer: 300 drawn command lines
    "test_cluster.py": 1,  # Dask clusters, local and started by hand
    "test_docs.py": 1,  # every page's Python, the notebook in a Jupyter kernel
    "test_sweep.py::test_killed_sweep_resumes_to_the_same_rows": 0.5,
    "test_sweep.py::test_sweep_writes_csv_plots_and_report": 0.4,
    "test_limits.py::test_the_memory_guard_covers_what_a_run_holds": 0.3,
    "test_history_page.py::test_page_in_a_real_browser": 0.1,  # Debian's chromium
    "test_history_page.py::test_hostile_text_cannot_end_or_hide_the_pages_script": 0.05,
    "test_faults.py::test_interrupt_keeps_rows_and_resume_finishes_without_duplicates": 0.1,
    "test_containment.py::test_a_killed_parent_leaves_no_process_behind": 0.15,
    "test_api.py::test_a_problem_defined_in_main_runs_with_timing_in_worker_processes": 0.1,
    "test_api.py::test_a_problem_in_a_script_piped_to_python_runs_with_timing_too": 0.1,
    "test_api.py::test_a_problem_redefined_under_its_name_runs_as_redefined_when_timed": 0.1,
    "test_api.py::test_a_script_without_a_main_guard_runs_once_with_timing": 0.15,
    "test_users.py::test_the_speed_column_names_its_baseline_and_can_be_chosen": 0.15,
    "test_users.py::test_compare_says_what_its_rounds_cannot_support": 0.15,
    "test_compare.py::test_a_cell_with_invalid_samples_is_not_comparable": 0.1,
    "test_timing.py::test_torch_compile_time_is_reported_apart": 0.1,
    "test_optimizers.py::test_plugin_optimizer_runs_and_unmapped_backends_skip": 0.1,
    "test_products.py::test_each_row_records_the_allocator_its_process_ran_with": 0.1,
    "test_users.py::test_torch_nn_compile_runs_a_loss_that_asks_for_its_namespace": 0.1,
    "test_budget.py::test_port_mistakes_disagree_on_the_command_line_too": 0.1,
    "test_budget.py::test_port_mistakes_of_a_layernorm_gelu_mlp_under_adamw_disagree": 0.15,
    "test_containment.py::test_two_runs_started_on_one_folder_at_once_never_both_succeed": 0.15,
    "test_api.py::test_a_run_without_out_creates_no_folder_anywhere": 0.1,
    "test_faults.py::test_gradcheck_stops_a_looping_gradient_at_its_cell_timeout": 0.05,
    "test_port.py::test_the_command_runs_a_users_file_and_exits_1_on_a_disagreement": 0.3,
    "test_faults.py::test_a_plugin_file_whose_import_fails_is_its_named_problems_error_rows": 0.15,
    "test_sweep.py::test_no_sweep_reports_a_fraction_above_its_roof": 0.25,
    "test_port.py::test_a_compiled_torch_candidate_agrees_and_its_compilation_is_off_the_clock": (
        0.15
    ),
}
# 2. By fixture: the module fixtures that time real runs (seconds of worker processes and
#    timing rounds each), and every test that uses them.
SLOW_FIXTURES = {"timed_runs": 0.3, "timed_history": 0.1, "timed_trio": 0.1, "port_mistakes": 0.25}
# 3. By mode: a case parametrised with a compiling torch mode (inductor takes 1-7 s a case)
#    or JAX's op-by-op eager mode (1-2.5 s); the fast tier keeps NumPy's, torch's eager and
#    naive, and JAX's jit and scan.
SLOW_MODES = {"compile", "fused", "cudagraph"}
SLOW_BACKEND_MODES = {("jax", "eager")}


def slow_minutes(item) -> float | None:
    """About how many minutes ``item`` takes if it is in the slow tier, else None."""
    name = f"{item.path.name}::{item.originalname}"
    for key in (name, item.path.name):
        if key in SLOW_TESTS:
            return SLOW_TESTS[key]
    for fixture in getattr(item, "fixturenames", ()):
        if fixture in SLOW_FIXTURES:
            return SLOW_FIXTURES[fixture]
    params = getattr(getattr(item, "callspec", None), "params", {})
    mode, backend = params.get("mode"), params.get("backend")
    if mode in SLOW_MODES or (backend, mode) in SLOW_BACKEND_MODES:
        return 0.05
    return None


def _named(config) -> set[Path]:
    """The test files named on the command line (alone or with ``::test``)."""
    files = set()
    for arg in config.args:
        path = Path(arg.split("::")[0]).absolute()
        if path.is_file():
            files.add(path)
    return files


@pytest.hookimpl(tryfirst=True)  # before pytest's own -m selection reads the markers
def pytest_collection_modifyitems(config, items):
    """Marks the slow tier (the rules above) and, with no ``-m`` given, leaves it out,
    except for the tests of a file named on the command line (``python -m pytest
    tests/test_fuzz.py`` runs the fuzzer). The slow tests run first, the longest first:
    with ``-n 2`` the longest then starts at once instead of finishing last. A shuffled run
    (``--random-order``) keeps its own order."""
    for item in items:
        minutes = slow_minutes(item)
        if minutes is not None:
            item.add_marker(pytest.mark.slow(minutes=minutes))
    if not config.getoption("markexpr", ""):
        named = _named(config)
        slow = [i for i in items if i.get_closest_marker("slow") and i.path not in named]
        if slow:
            config.hook.pytest_deselected(items=slow)
            dropped = set(map(id, slow))
            items[:] = [i for i in items if id(i) not in dropped]
    asked = " ".join(map(str, config.invocation_params.args))
    if config.getoption("random_order_enabled", False) or "--random-order" in asked:
        return

    def cost(item) -> float:
        slow = item.get_closest_marker("slow")
        return 0.0 if slow is None else -float(slow.kwargs.get("minutes", 0.01))

    items.sort(key=cost)  # stable: the rest keep their order
