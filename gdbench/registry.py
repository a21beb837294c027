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
import types
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
# Where each item a plug-in registered came from, by (kind, name): "file.py sha256:…"
_ORIGINS: dict[tuple[str, str], str] = {}
_loading: list[str] = []  # the plug-in file being imported, while it is
# Seconds a plug-in file may take to import (a loop at import must not hang gdbench).
PLUGIN_IMPORT_S = 30.0


class PluginError(Exception):
    """A plugin file could not be loaded; the message says why. ``code_failed``: the file
    was read and its own code raised (or exited) while it ran."""

    def __init__(self, message: str, code_failed: bool = False):
        super().__init__(message)
        self.code_failed = code_failed


def _check_name(kind: str, name: str) -> None:
    if not name or not isinstance(name, str) or "," in name or name != name.strip():
        raise ValueError(f"{kind} needs a non-empty name without commas or spaces, got {name!r}")


def _builtin(item) -> bool:
    return type(item).__module__.startswith("gdbench.")


def _register(kind: str, table: dict, item):
    _check_name(f"a {kind}" if kind != "optimizer" else "an optimizer", item.name)
    _discover()  # the built-ins first, so that a plug-in cannot take one's name unnoticed
    old = table.get(item.name)
    # A plug-in under a built-in's name: its rows would look like the built-in's to compare
    # and to every reader, so only by saying so.
    taken = old is not None and old is not item and _builtin(old) and not _builtin(item)
    if taken and not getattr(item, "replaces", False):
        raise ValueError(
            f"{item.name!r} is a built-in {kind}; a plug-in replaces it only by setting "
            "replaces = True on it (or choose another name)"
        )
    table[item.name] = item
    if not _builtin(item):
        _ORIGINS[(kind, item.name)] = (
            _loading[-1] if _loading else f"module {type(item).__module__}"
        )
    return item


def origin(kind: str, item) -> str:
    """Where a plug-in's problem, backend or optimizer came from, for its rows: "file.py
    sha256:0123456789ab" (the file's first 12 hex digits), "module __main__" for one
    registered from Python, with ", replacing the built-in" where it took a built-in's
    name; "" for a built-in."""
    if _builtin(item):
        return ""
    where = _ORIGINS.get((kind, item.name), f"module {type(item).__module__}")
    return where + (", replacing the built-in" if replaced_builtin(item) else "")


def replaced_builtin(item) -> bool:
    """Whether ``item`` is a plug-in that took a built-in's name (``replaces = True``)."""
    return bool(getattr(item, "replaces", False)) and not _builtin(item)


def register_problem(problem: Problem) -> Problem:
    """Makes ``problem`` available under ``problem.name``. A later plug-in of that name wins;
    a built-in's name is refused unless the plug-in sets ``replaces = True``."""
    if callable(getattr(problem, "reference", None)):  # written against the old contract
        raise ValueError(
            f"problem {problem.name!r} defines reference(inst, lr, steps), which gdbench no "
            "longer calls: name it closed_form (returning None where there is none)"
        )
    return _register("problem", _PROBLEMS, problem)


def register_backend(backend: Backend) -> Backend:
    """Makes ``backend`` available under ``backend.name`` (as ``register_problem``)."""
    return _register("backend", _BACKENDS, backend)


def register_optimizer(optimizer: Optimizer) -> Optimizer:
    """Makes ``optimizer`` available under ``optimizer.name`` (as ``register_problem``)."""
    return _register("optimizer", _OPTIMIZERS, optimizer)


class _CallablePackage(types.ModuleType):
    """A package of built-ins that answers, when called, as the registry function of its
    name does (``gdbench.problems()``)."""

    def __call__(self):
        return globals()[self.__name__.rpartition(".")[2]]()


def callable_package(name: str) -> None:
    """Makes the package ``name`` (gdbench.problems, .backends, .optimizers) callable.
    Importing it makes it the attribute of ``gdbench`` where the registry function of the
    same name stood, so ``gdbench.problems()`` works before and after any import."""
    sys.modules[name].__class__ = _CallablePackage


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
    import hashlib

    from gdbench.compat.containment import deadline

    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    except OSError as exc:
        raise PluginError(f"plugin {path}: {exc.strerror or exc}") from None
    try:
        _loading.append(f"{path.name} sha256:{digest}")
        with deadline(PLUGIN_IMPORT_S, f"plugin {path}'s import"):
            spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # a user's file: what broke, not our traceback
        del sys.modules[name]
        why = (
            f"called sys.exit({exc.code!r}) at import"
            if isinstance(exc, SystemExit)
            else f"failed: {type(exc).__name__}: {exc}"
        )
        raise PluginError(f"plugin {path} {why}", code_failed=True) from None
    finally:
        if _loading:
            _loading.pop()
