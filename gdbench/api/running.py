"""``run`` and ``sweep`` as the command line and the Python API both execute them: options
checked by the planner, cells on the chosen executor, rows written as they finish."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from gdbench import registry
from gdbench.errors import UsageError
from gdbench.problem import Problem


def load_plugins(paths, problems=None) -> list:
    """Each ``--plugin`` file, run once in this process; the files that loaded. A file that
    cannot be read is a usage error. One whose own code fails at import takes down only
    what it would have registered: with ``problems`` (a run's, sweep's or gradcheck's
    ``--problem``), each named problem that no loaded file defines becomes that failure's
    error rows (``Unloaded``) and the rest of the plan runs; where none is named, the
    failure is a usage error."""
    loaded, failed = [], []
    for p in paths:
        try:
            registry.load_plugin(p)
        except registry.PluginError as exc:
            if problems is None or not exc.code_failed:
                raise UsageError(str(exc)) from None
            failed.append(str(exc))
        else:
            loaded.append(p)
    if failed:
        names = [n.strip() for n in str(problems).split(",")] if problems else []
        known = registry.problems()
        unknown = [
            n
            for n in names
            if n and n != "all" and (n not in known or isinstance(known[n], Unloaded))
        ]
        if not unknown:
            raise UsageError(failed[0])
        for name in unknown:
            registry.register_problem(Unloaded(name, "; ".join(failed)))
    return loaded


class Unloaded(Problem):
    """A problem named in the command whose plug-in file failed to import: every cell of it
    is an error row with the import's line (``make`` raises it), the others run."""

    description = "(its plug-in file failed to import)"

    def __init__(self, name: str, why: str):
        self.name, self.why = name, why

    def make(self, n_samples=None, features=None, seed=0):
        from gdbench.execution.instances import MakeFailed

        raise MakeFailed(self.why)

    def loss(self, w, **data):
        return self.make()

    def grad(self, w, **data):
        return self.make()


def execute(
    command: str,
    args,
    stream=None,
    shipped: bytes = b"",
    report: bool = True,
    in_memory: bool = False,
):
    """Plans and runs ``args`` (the parser's namespace for ``run`` or ``sweep``):
    ``(outcome, report path or None, folder)``. ``shipped``: plug-in objects pickled by
    value (``ship``) for the worker processes; ``in_memory`` (a run): no folder at all,
    the files' texts in ``outcome.texts``."""
    import dataclasses

    from gdbench.api.run_plan import execute_plan
    from gdbench.api.sweep_plan import execute_sweep, sweep_defaults
    from gdbench.execution.plan import build_plan
    from gdbench.execution.schedule import open_executor

    stream = stream or sys.stderr
    sweep = command == "sweep"
    if sweep:
        sweep_defaults(args)
    plan = build_plan(args, single_size=not sweep, out_prefix=command, in_memory=in_memory)
    plan.saved["command"] = command
    plan.options = dataclasses.replace(plan.options, shipped=shipped)
    with open_executor(plan) as executor:
        if sweep:
            outcome, path = execute_sweep(plan, executor, stream, report)
            return outcome, path, plan.out
        return execute_plan(plan, executor, stream), None, plan.out


def ship(objects: list) -> bytes:
    """Problems, backends and optimizers defined in a notebook or script (``__main__``),
    pickled by value (cloudpickle) so that the worker processes can register them too."""
    if not objects:
        return b""
    try:
        import cloudpickle
    except ImportError as exc:
        raise UsageError(
            f"a problem, backend or optimizer object needs cloudpickle to reach the worker "
            f"processes ({exc}); pip install cloudpickle"
        ) from None
    try:
        return cloudpickle.dumps(objects)
    except Exception as exc:  # a lock, an open file … held by the object
        raise UsageError(
            f"{type(objects[0]).__name__} cannot be sent to the worker processes "
            f"({type(exc).__name__}: {exc}); run with timing=False to keep every cell here"
        ) from None


@contextlib.contextmanager
def folder(out):
    """``(folder, kept)``: ``out`` itself, or a temporary folder removed afterwards."""
    if out is not None:
        yield Path(out), True
        return
    import shutil
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix="gdbench-"))
    try:
        yield tmp / "run", False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
