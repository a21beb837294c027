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


def pytest_collection_modifyitems(config, items):
    """The slow tests first (the fuzzer alone takes minutes): with the suite on two
    processes (``-n 2``), the longest test then starts at once instead of finishing last.
    A shuffled run (``--random-order``) keeps its own order."""
    asked = " ".join(map(str, config.invocation_params.args))
    if config.getoption("random_order_enabled", False) or "--random-order" in asked:
        return

    def cost(item) -> float:  # slow(minutes=M): the longest first; then the other slow ones
        slow = item.get_closest_marker("slow")
        return 0.0 if slow is None else -float(slow.kwargs.get("minutes", 0.01))

    items.sort(key=cost)  # stable: the rest keep their order
