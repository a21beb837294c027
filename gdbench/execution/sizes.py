"""The instances a run asks for: the sizes of generated data (``roof`` included), the
user's ``--data`` checked against each problem and dtype, and ``--lr auto``."""

from __future__ import annotations

import json
import math
import sys

import numpy as np

from gdbench.errors import UsageError
from gdbench.execution.data import load as load_data
from gdbench.execution.data import open_data
from gdbench.execution.instances import instance
from gdbench.execution.limits import check_data_memory, roof_samples
from gdbench.execution.options import ROOF, parse_seed, size_list


def instance_sizes(problem, sizes: dict, data_file=None) -> dict:
    """RunSpec's data fields: the user's data, generated data where sizes are given and
    the problem takes them, else the problem's own instance."""
    if data_file is not None:
        loaded = load_data(data_file, problem.binary_target)
        n, d = loaded.X.shape
        check_data_memory(n, d)
        return {"n_samples": n, "features": d, "seed": sizes["seed"], "data": data_file.key}
    if problem.sized and (sizes["n_samples"] or sizes["features"]):
        return {
            "n_samples": sizes["n_samples"] or problem.default_n_samples,
            "features": sizes["features"] or problem.default_features,
            "seed": sizes["seed"],
            "data": "generated",
        }
    from gdbench.execution.instances import MakeFailed, made

    try:
        inst = made(problem, "make", problem.make)
    except MakeFailed:  # its cells become error rows when their reference is made
        return {"n_samples": 0, "features": 0, "seed": 0, "data": "default"}
    return {"n_samples": inst.n_samples, "features": inst.features, "seed": 0, "data": "default"}


def data_choice(args, p_names: list[str], problems: dict):
    """The problems that run on ``--data`` and the checked file, or (p_names, None)."""
    path = getattr(args, "data", None)
    columns = parse_column_list(getattr(args, "columns", None), "--columns")
    drop = parse_column_list(getattr(args, "drop", None), "--drop")
    if path is None:
        if getattr(args, "target", None) is not None or getattr(args, "standardize", False):
            raise UsageError("--target and --standardize apply to --data")
        if columns or drop:
            raise UsageError("--columns and --drop apply to --data")
        return p_names, None
    if args.n_samples is not None or args.features is not None:
        raise UsageError("--data gives the sizes: drop --n-samples and --features")
    takers = [n for n in p_names if problems[n].takes_data]
    if args.problem is not None and len(takers) < len(p_names):
        others = ", ".join(n for n in p_names if n not in takers)
        valid = ", ".join(n for n, p in problems.items() if p.takes_data)
        raise UsageError(f"--data: {others} takes no data (problems that do: {valid})")
    data_file = open_data(path, getattr(args, "target", None), args.standardize, columns, drop)
    for n in takers:  # every check of the file's content, before any work
        loaded = load_data(data_file, problems[n].binary_target)
        if loaded.note:
            print(f"--data {path}: {n}: {loaded.note}", file=sys.stderr)
        check_from_data(problems[n], loaded, path)
    return takers, data_file


def check_from_data(problem, loaded, path) -> None:
    """A problem's own checks of the data (its ``from_data``), run before any work: a
    ValueError or TypeError it raises is the user's one-line usage error, its message
    kept; anything else it raises fails its cells later, as error rows."""
    try:
        problem.from_data(loaded.X, loaded.y, 0)
    except (ValueError, TypeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UsageError(f"--data {path}: {problem.name}: {first}") from None


def parse_column_list(value: str | None, flag: str) -> tuple[str, ...]:
    """``--columns`` / ``--drop``: column names, comma separated."""
    if value is None:
        return ()
    names = tuple(c.strip() for c in str(value).split(","))
    if not names or any(not c for c in names):
        raise UsageError(f"{flag} takes column names, comma separated, got {value!r}")
    return tuple(dict.fromkeys(names))


def auto_rate(problem, sizes: dict, data_file) -> float:
    """--lr auto: 1/L from the problem's smoothness bound on this instance, said aloud.
    The instance is the cells' own (execution.instances.instance, cached for their reference)."""
    problem_args = json.dumps(problem.opt, sort_keys=True)
    inst = instance(
        (
            problem.name,
            sizes["data"],
            sizes["n_samples"],
            sizes["features"],
            sizes["seed"],
            problem_args,
        ),
        data_file,
    )
    smooth = problem.smoothness(inst)
    if not smooth or not math.isfinite(smooth) or smooth <= 0:
        raise UsageError(f"--lr auto: {problem.name} states no smoothness bound; give --lr")
    lr = 1.0 / smooth
    print(
        f"--lr auto: {problem.name} N×D = {sizes['n_samples']}×{sizes['features']}: "
        f"L = {smooth:.6g}, lr = 1/L = {lr:.6g}",
        file=sys.stderr,
    )
    return lr


# A sweep's sizes where none are given.
SWEEP_SAMPLES, SWEEP_FEATURES = "1e3,1e4,1e5,1e6,roof", "1,16"


def size_grid(
    args, single: bool, itemsize: int = 4, notes: list[str] | None = None, problem=None
) -> list[dict]:
    """Every (n_samples, features) asked for, each with the seed; `run` takes one of each,
    a sweep without sizes ``SWEEP_SAMPLES`` × ``SWEEP_FEATURES``. ``roof`` among the sample
    counts is, per D, the smallest N whose X and y exceed 4× the last-level cache at
    ``itemsize`` (the smallest of the run's dtypes); where the memory caps it, a note goes
    to ``notes``. A ``problem`` whose settings fix D (``Problem.fixed_features``: the
    classifier's first layer) takes that D alone; ``--features`` that says otherwise is a
    usage error."""
    seed = parse_seed(args.seed)
    if getattr(args, "data", None) is not None:  # the data give the sizes
        return [{"n_samples": None, "features": None, "seed": seed}]
    ns = size_list(
        SWEEP_SAMPLES if args.n_samples is None and not single else args.n_samples,
        "--n-samples",
        roof=True,
    )
    ds = size_list(
        SWEEP_FEATURES if args.features is None and not single else args.features, "--features"
    )
    if single and (len(ns) > 1 or len(ds) > 1):
        raise UsageError("run takes one --n-samples and one --features; use sweep for lists")
    fixed = problem.fixed_features() if problem is not None else None
    if fixed is not None and ds != [None]:
        if args.features is not None and ds != [fixed]:
            raise UsageError(
                f"--features {args.features}: {problem.name}'s settings fix D = {fixed} "
                "(the first of its layers); drop --features or change the setting"
            )
        ds = [fixed]
    grid = []
    for d in ds:
        per_d = [roof_samples(d or 1, itemsize, notes) if n == ROOF else n for n in ns]
        grid += [{"n_samples": n, "features": d, "seed": seed} for n in dict.fromkeys(per_d)]
    for g in grid:
        check_data_memory(g["n_samples"] or 0, g["features"] or 1)
    return grid


def check_data_range(loaded, data_file, dtypes) -> None:
    """--data values must fit every run's dtype: 1e39 is inf in float32."""
    for name, a in (("X", loaded.X), ("y", loaded.y)):
        biggest = float(np.abs(a).max()) if a.size else 0.0
        for dt in dtypes:
            if biggest > float(np.finfo(dt).max):
                raise UsageError(
                    f"--data {data_file.path}: {name} holds {biggest:g}, beyond {dt}'s largest "
                    f"finite value {float(np.finfo(dt).max):.4g}"
                )
