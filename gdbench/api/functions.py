"""``gdbench.run``, ``sweep``, ``compare`` and ``gradcheck``: the commands as functions.

Each takes its command's options as keywords (``gdbench.api.keywords``), runs the same
checks as the command line (a bad value raises ``UsageError`` with the one-line message
the command line prints) and returns objects. Without ``out=``, a run is kept in memory
and writes nothing anywhere, not even a temporary folder (a sweep, whose report and plots
are files, still uses one and removes it), so the same call can be made again and again.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable

from gdbench import registry
from gdbench.api import keywords
from gdbench.api.result import Result, SweepResult, load
from gdbench.backend import Backend
from gdbench.errors import UsageError
from gdbench.optimizer import Optimizer
from gdbench.problem import Problem


def run(**options) -> Result:
    return _run("run", options)


def sweep(**options) -> SweepResult:
    result = _run("sweep", options)
    assert isinstance(result, SweepResult)
    return result


def _objects(options: dict) -> list:
    """Problem, backend and optimizer objects among the options (a class defined in a
    notebook cell, say) registered here under their names, which replace them; the
    objects, for the worker processes."""
    kinds: list[tuple[str, type, Callable]] = [
        ("problem", Problem, registry.register_problem),
        ("backend", Backend, registry.register_backend),
        ("optimizer", Optimizer, registry.register_optimizer),
    ]
    objects: list = []
    for key, cls, register in kinds:
        value = options.get(key)
        items = list(value) if isinstance(value, list | tuple) else [value]
        if not any(isinstance(v, cls) for v in items):
            continue
        names: list = []
        for v in items:
            if isinstance(v, cls):
                try:
                    register(v)
                except ValueError as exc:
                    raise UsageError(str(exc)) from None
                objects.append(v)
                names.append(getattr(v, "name", ""))
            else:
                names.append(v)
        options[key] = names
    return objects


def _run(command: str, options: dict) -> Result:
    import os

    from gdbench.api.running import execute, folder, load_plugins, ship
    from gdbench.results import folder_lock

    options = dict(options)
    progress = options.pop("progress", True)
    if not isinstance(progress, bool):
        raise UsageError(f"progress must be True or False, got {progress!r}")
    if "resume" in options:
        raise UsageError(f"{command}(resume=…): resume a folder from the command line")
    out = options.get("out")
    if out is not None and not isinstance(out, str | os.PathLike):
        raise UsageError(f"out is a folder's path, got {type(out).__name__}")
    objects = _objects(options)
    args = keywords.namespace(command, options)
    args.plugin = load_plugins(args.plugin, args.problem)
    shipped = ship(objects) if objects and not getattr(args, "no_timing", False) else b""
    stream = sys.stderr if progress else io.StringIO()
    if command == "run" and args.out is None:  # kept in memory: no folder anywhere
        try:
            outcome, _, _ = execute(command, args, stream, shipped, in_memory=True)
        except UsageError:
            folder_lock.release_all(discard=True)
            raise
        return Result.from_texts(outcome.texts, outcome.command)
    with folder(args.out) as (out, kept):
        args.out = str(out)
        try:
            _, _, path = execute(command, args, stream, shipped, report=kept)
        except UsageError:
            folder_lock.release_all(discard=True)
            raise
        finally:
            folder_lock.release(out)
        result = load(path)
    if not kept:
        result.path = None
    return result


def gradcheck(**options):
    """The hand-derived gradients of the problems checked against central differences and
    autodiff, at the start and along the way: a ``GradChecks`` (``.ok``, a line each)."""
    from gdbench.api.gradchecks import check_all

    options = dict(options)
    objects = _objects(options)
    del objects
    args = keywords.namespace("gradcheck", options)
    from gdbench.api.running import load_plugins

    args.plugin = load_plugins(args.plugin, args.problem)
    return check_all(args)


run.__signature__ = keywords.signature("run")  # type: ignore[attr-defined]
sweep.__signature__ = keywords.signature("sweep")  # type: ignore[attr-defined]
gradcheck.__signature__ = keywords.signature("gradcheck", progress=False)  # type: ignore[attr-defined]
run.__doc__ = (
    "Runs problems × backends × optimizers, checks every trajectory against its float64\n"
    "reference and times the update loops, as `python -m gdbench run`: a `Result`.\n\n"
    "Keywords (the command's options; lists for a,b; a dict for key=value lists):\n"
    + keywords.describe("run")
)
sweep.__doc__ = (
    "A grid of sizes × backends × modes timed against the memory roofline, as\n"
    "`python -m gdbench sweep`: a `SweepResult` (`.report(path)` writes its plots).\n\n"
    "Keywords:\n" + keywords.describe("sweep")
)
