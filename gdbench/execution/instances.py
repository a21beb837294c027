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
from gdbench.numerics.reference import REFERENCE_COLUMNS, reference_with_growth
from gdbench.results.schema import trajectory_frame
from gdbench.spec import RunSpec


@functools.lru_cache(maxsize=16)
def problem_of(name: str, problem_args: str = "{}"):
    """The registered problem, configured with its settings (--problem-opt)."""
    return registry.problems()[name].configured(json.loads(problem_args))


@functools.lru_cache(maxsize=8)
def instance(instance_args: tuple, data_file: DataFile | None = None):
    """The instance a cell runs on: the problem's own, generated, or the user's --data."""
    name, data, n_samples, features, seed, problem_args = instance_args
    p = problem_of(name, problem_args)
    if data == "default":
        return p.make()
    if data.startswith("file:"):
        if data_file is None or data_file.key != data:
            raise ValueError(f"the data of this cell ({data}) is not the run's --data")
        loaded = load_data(data_file, p.binary_target)
        return p.from_data(loaded.X, loaded.y, seed)
    return p.make(n_samples, features, seed)


# References computed by the planning process, by reference key (see ``seed``).
_SEEDED: dict[tuple, tuple] = {}


def seed(references: dict[tuple, tuple]) -> None:
    """Makes ``references`` (from ``seeded_references``) this process's own."""
    _SEEDED.update(references)


@functools.lru_cache(maxsize=8)
def reference(
    instance_args: tuple,
    lr: float,
    steps: int,
    optimizer: str,
    optimizer_args: str,
    data_file: DataFile | None = None,
):
    """``(trajectory, source, growth)``: the float64 reference, and how much it amplifies a
    rounding-sized change of its start where it is an iteration (1 for a closed form)."""
    key = (instance_args, lr, steps, optimizer, optimizer_args, data_file)
    if key in _SEEDED:
        return _SEEDED[key]
    p = problem_of(instance_args[0], instance_args[-1])
    inst = instance(instance_args, data_file)
    opt = registry.optimizers()[optimizer]
    hyper = opt.resolve(json.loads(optimizer_args))
    return reference_with_growth(p, inst, lr, steps, opt, hyper)


def reference_key(spec: RunSpec, data_file: DataFile | None) -> tuple:
    return (*spec.reference_args(), data_file)


def seeded_references(specs: Iterable[RunSpec], data_file: DataFile | None) -> dict:
    """The float64 references of these cells, computed here once, by reference key."""
    seeded: dict[tuple, tuple] = {}
    for s in specs:
        key = reference_key(s, data_file)
        if key not in seeded:
            seeded[key] = reference(*key)
    return seeded


def reference_frame(spec: RunSpec, data_file: DataFile | None = None, every: int = 1):
    """The float64 reference's own rows for trajectories.csv (``REFERENCE_COLUMNS``)."""
    traj, _, _ = reference(*spec.reference_args(), data_file)
    return trajectory_frame({**spec_columns(spec), **REFERENCE_COLUMNS}, traj, every)
