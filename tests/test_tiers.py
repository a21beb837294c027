"""The two tiers (tests/conftest.py): every rule names something that exists, and a run
without ``-m`` leaves the slow tier out while ``-m slow`` runs only it."""

from __future__ import annotations

import ast
import subprocess
import sys

from gdbench import registry

from .conftest import ROOT, SLOW_BACKEND_MODES, SLOW_FIXTURES, SLOW_MODES, SLOW_TESTS

TESTS = ROOT / "tests"
PAGE = "test_history_page.py"  # a file with a slow test and fast ones


def _functions(path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}


def test_every_slow_entry_names_a_test_file_or_function():
    for key in SLOW_TESTS:
        file, _, name = key.partition("::")
        assert (TESTS / file).is_file(), key
        assert not name or (name.startswith("test_") and name in _functions(TESTS / file)), key


def test_every_slow_fixture_is_defined():
    defined = set().union(*(_functions(p) for p in TESTS.glob("*.py")))
    assert set(SLOW_FIXTURES) <= defined


def test_every_slow_mode_is_a_mode_of_a_backend():
    modes = {(name, str(m)) for name, b in registry.backends().items() for m in b.modes}
    assert {m for _, m in modes} >= SLOW_MODES
    assert modes >= SLOW_BACKEND_MODES


def _collected(*args: str) -> list[str]:
    # Every other test file ignored: collecting them all (their imports) took 6 s a call.
    others = [f"--ignore={p}" for p in sorted(TESTS.glob("test_*.py")) if p.name != PAGE]
    collect = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
    done = subprocess.run(
        [*collect, *others, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode in (0, 5), done.stdout[-2000:] + done.stderr[-2000:]
    return [line for line in done.stdout.splitlines() if "::" in line]


def test_the_default_run_leaves_the_slow_tier_out_and_m_slow_runs_it():
    browser = "tests/test_history_page.py::test_page_in_a_real_browser"
    hostile = "tests/test_history_page.py::test_hostile_text_cannot_end_or_hide_the_pages_script"
    fast = _collected("tests")
    slow = _collected("tests", "-m", "slow")
    assert fast and not any(t.startswith((browser, hostile)) for t in fast)
    assert sorted(slow) == [hostile, browser]
    # A file named on the command line runs whole, its slow tests too.
    assert any(t.startswith(browser) for t in _collected("tests/test_history_page.py"))
