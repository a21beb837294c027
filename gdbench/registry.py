"""Where problems and backends are registered and found.

Each module in ``gdbench/problems``, ``gdbench/backends`` and ``gdbench/optimizers`` registers
itself on import, so adding one is adding a file. A user's file passed with ``--plugin`` does
the same through the public ``gdbench.register_problem`` / ``register_backend`` /
``register_optimizer``.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gdbench.backend import Backend
    from gdbench.optimizer import Optimizer
    from gdbench.problem import Problem

_PROBLEMS: dict[str, Problem] = {}
_BACKENDS: dict[str, Backend] = {}
_OPTIMIZERS: dict[str, Optimizer] = {}
_discovered = False


class PluginError(Exception):
    """A plugin file could not be loaded; the message says why."""


def _check_name(kind: str, name: str) -> None:
    if not name or not isinstance(name, str) or "," in name or name != name.strip():
        raise ValueError(f"{kind} needs a non-empty name without commas or spaces, got {name!r}")


def register_problem(problem: Problem) -> Problem:
    """Makes ``problem`` available under ``problem.name`` (a later one of that name wins)."""
    _check_name("a problem", problem.name)
    _PROBLEMS[problem.name] = problem
    return problem


def register_backend(backend: Backend) -> Backend:
    """Makes ``backend`` available under ``backend.name`` (a later one of that name wins)."""
    _check_name("a backend", backend.name)
    _BACKENDS[backend.name] = backend
    return backend


def register_optimizer(optimizer: Optimizer) -> Optimizer:
    """Makes ``optimizer`` available under ``optimizer.name`` (a later one of that name wins)."""
    _check_name("an optimizer", optimizer.name)
    _OPTIMIZERS[optimizer.name] = optimizer
    return optimizer


def _discover() -> None:
    global _discovered
    if _discovered:
        return
    _discovered = True
    for package in ("gdbench.problems", "gdbench.backends", "gdbench.optimizers"):
        pkg = importlib.import_module(package)
        for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
            importlib.import_module(f"{package}.{info.name}")


def _ordered(items: dict) -> dict:
    # Built-ins carry an ``order`` (the notebook's order); plugins follow, by name.
    return dict(sorted(items.items(), key=lambda kv: (getattr(kv[1], "order", 100), kv[0])))


def problems() -> dict[str, Problem]:
    _discover()
    return _ordered(_PROBLEMS)


def backends() -> dict[str, Backend]:
    _discover()
    return _ordered(_BACKENDS)


def optimizers() -> dict[str, Optimizer]:
    _discover()
    return _ordered(_OPTIMIZERS)


def load_plugin(path: str | Path) -> None:
    """Runs a user's Python file, which registers problems, backends or optimizers on import."""
    _discover()
    path = Path(path)
    try:
        found = path.is_file()
    except OSError as exc:  # e.g. a name too long to look up
        raise PluginError(f"plugin {path}: {exc.strerror or exc}") from None
    if not found:
        raise PluginError(f"plugin file not found: {path}")
    name = f"gdbench_plugin_{path.stem}_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise PluginError(f"not a Python file: {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look modules up here
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # a user's file: report what broke, not our traceback
        del sys.modules[name]
        raise PluginError(f"plugin {path} failed: {type(exc).__name__}: {exc}") from exc
