"""A cell's problem, instance and float64 reference, each built once per process.

A worker builds the instance of each cell it runs; the reference is computed by the process
that plans the run (it writes the reference's rows too) and handed to each worker as it
starts (``seed``), so that a worker imports no framework it does not run (numpy's worker no
torch) and no reference is computed twice.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable

from gdbench import registry
from gdbench.execution.data import DataFile
from gdbench.execution.data import load as load_data
from gdbench.execution.rows import spec_columns
from gdbench.numerics.budget import BUDGET_DTYPES, baseline_trajectory
from gdbench.numerics.reference import REFERENCE_COLUMNS, reference_with_growth
from gdbench.results.schema import trajectory_frame
from gdbench.spec import RunSpec


def forget() -> None:
    """Drops every problem, instance and reference built so far: a run starts from the
    registry as it is now. In one Python process (a notebook) a problem class redefined
    under the same name and run again is the new class, not the one cached by its name,
    and so are its instance and its float64 reference."""
    for cached in (problem_of, instance, _reference, _baseline):
        cached.cache_clear()
    _SEEDED.clear()


@functools.lru_cache(maxsize=16)
def problem_of(name: str, problem_args: str = "{}"):
    """The registered problem, configured with its settings (--problem-opt)."""
    return registry.problems()[name].configured(json.loads(problem_args))


class MakeFailed(Exception):
    """A problem's ``make`` (or ``from_data``) raised, or gave no ``Instance``: its cells'
    error rows say so, and the rest of the run goes on."""


@functools.lru_cache(maxsize=8)
def instance(instance_args: tuple, data_file: DataFile | None = None):
    """The instance a cell runs on: the problem's own, generated, or the user's --data."""
    name, data, n_samples, features, seed, problem_args = instance_args
    p = problem_of(name, problem_args)
    if data.startswith("file:"):
        if data_file is None or data_file.key != data:
            raise ValueError(f"the data of this cell ({data}) is not the run's --data")
        loaded = load_data(data_file, p.binary_target)
        return made(p, "from_data", lambda: p.from_data(loaded.X, loaded.y, seed))
    if data == "default":
        return made(p, "make", p.make)
    return made(p, "make", lambda: p.make(n_samples, features, seed))


def made(problem, method: str, build):
    """``build()``'s instance; a ``MakeFailed`` naming the problem where a plug-in's
    ``make`` raises or returns something else."""
    from gdbench.execution.rows import exception_line
    from gdbench.problem import Instance

    try:
        inst = build()
    except MakeFailed:  # already said (a problem whose plug-in file failed to import)
        raise
    except (Exception, SystemExit) as exc:  # a user's code: its line, not our traceback
        raise MakeFailed(f"{problem.name}.{method}() failed: {exception_line(exc)}") from None
    if not isinstance(inst, Instance):
        raise MakeFailed(
            f"{problem.name}.{method}() returned {type(inst).__name__}, not a gdbench.Instance"
        )
    return inst


# References computed by the planning process, by reference key (see ``seed``).
_SEEDED: dict[tuple, tuple] = {}


def seed(references: dict[tuple, tuple]) -> None:
    """Makes ``references`` (from ``seeded_references``) this process's own."""
    _SEEDED.update(references)


def reference(
    instance_args: tuple,
    lr: float,
    steps: int,
    optimizer: str,
    optimizer_args: str,
    data_file: DataFile | None = None,
    dtypes: tuple[str, ...] = BUDGET_DTYPES,
):
    """``(trajectory, source, growth, baselines)``: the float64 reference, how much it
    amplifies a rounding-sized change of its start where it is an iteration (1 for a
    closed form), and per dtype of ``dtypes`` that has an error budget its baseline
    trajectory (``gdbench.numerics.budget``; None for a plug-in problem without an
    autodiff framework installed)."""
    key = (instance_args, lr, steps, optimizer, optimizer_args, data_file)
    if key in _SEEDED:
        return _SEEDED[key]
    traj, source, grow = _reference(*key)
    baselines = {d: _baseline(*key, d) for d in dtypes if d in BUDGET_DTYPES}
    return traj, source, grow, baselines


def _setting(instance_args: tuple, optimizer: str, optimizer_args: str, data_file):
    p = problem_of(instance_args[0], instance_args[-1])
    opt = registry.optimizers()[optimizer]
    return p, instance(instance_args, data_file), opt, opt.resolve(json.loads(optimizer_args))


# The planner computes each reference twice over (its rows first, then for the workers):
# room for a large sweep's, which it holds for the whole run anyway.
@functools.lru_cache(maxsize=256)
def _reference(instance_args, lr, steps, optimizer, optimizer_args, data_file):
    p, inst, opt, hyper = _setting(instance_args, optimizer, optimizer_args, data_file)
    return reference_with_growth(p, inst, lr, steps, opt, hyper)


@functools.lru_cache(maxsize=256)
def _baseline(instance_args, lr, steps, optimizer, optimizer_args, data_file, dtype):
    p, inst, opt, hyper = _setting(instance_args, optimizer, optimizer_args, data_file)
    return baseline_trajectory(p, inst, lr, steps, opt, hyper, dtype)


def reference_key(
    spec: RunSpec, data_file: DataFile | None
) -> tuple[tuple, float, int, str, str, DataFile | None]:
    return (*spec.reference_args(), data_file)


def seeded_references(specs: Iterable[RunSpec], data_file: DataFile | None) -> dict:
    """The float64 references of these cells (with the baselines of their dtypes),
    computed here once, by reference key."""
    dtypes: dict[tuple[tuple, float, int, str, str], set[str]] = {}
    for s in specs:
        dtypes.setdefault(s.reference_args(), set()).add(s.dtype)
    return {
        (*args, data_file): reference(*args, data_file=data_file, dtypes=tuple(sorted(d)))
        for args, d in dtypes.items()
    }


def reference_frame(spec: RunSpec, data_file: DataFile | None = None, every: int = 1):
    """The float64 reference's own rows for trajectories.csv (``REFERENCE_COLUMNS``)."""
    # The cell's baseline too, so that user code failing in it fails here, as the
    # reference's would (``run_plan``: error rows for its cells).
    traj = reference(*spec.reference_args(), data_file=data_file, dtypes=(spec.dtype,))[0]
    return trajectory_frame({**spec_columns(spec), **REFERENCE_COLUMNS}, traj, every)
