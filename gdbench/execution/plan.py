"""Turns `run` options into the list of cells, checking every option first."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gdbench import registry
from gdbench.errors import UsageError
from gdbench.execution.cell import DEFAULT_CELL_TIMEOUT, Options
from gdbench.execution.cells import Axes, all_cells
from gdbench.execution.cluster import ClusterChoice, parse_cluster
from gdbench.execution.data import load as load_data
from gdbench.execution.instances import forget
from gdbench.execution.limits import (
    check_device_memory,
    check_disk,
    check_representable,
    check_run_memory,
    check_threads,
)
from gdbench.execution.options import (
    DTYPES,
    check_out,
    make_out,
    parse_names,
    parse_opt,
    parse_settings,
    positive_float,
    positive_int,
    problem_names,
    setting_texts,
)
from gdbench.execution.sizes import (
    check_data_range,
    data_choice,
    size_grid,
)
from gdbench.numerics.budget import BUDGET_DTYPES
from gdbench.results import folder_lock
from gdbench.results.files import new_run_dir
from gdbench.spec import RunSpec

MAX_CELL_TIMEOUT = 7 * 86400.0  # a week; setitimer and the futures take any float below
MAX_ROUNDS = 100  # each round starts every backend's worker process again

SAVED_OPTIONS = (
    "problem",
    "backend",
    "mode",
    "device",
    "dtype",
    "steps",
    "lr",
    "n_samples",
    "features",
    "seed",
    "threads",
    "time_budget",
    "rounds",
    "no_timing",
    "plugin",
    "plots",
    "optimizer",
    "opt",
    "native_defaults",
    "problem_opt",
    "data",
    "target",
    "columns",
    "drop",
    "standardize",
    "strict",
    "cluster",
    "cell_timeout",
    "record_every",
)


@dataclass
class Plan:
    """The validated cells of a run, the cells skipped with their reasons, and where to write."""

    specs: list[RunSpec]
    skipped: list[tuple[RunSpec, str]]
    ordered: list[RunSpec]  # every cell, run or skipped, in the order the table shows
    options: Options
    out: Path | None  # None: kept in memory (``gdbench.run`` without ``out=``)
    resume: bool
    saved: dict = field(default_factory=dict)
    cluster: ClusterChoice | None = None  # --cluster: where the cells run (None: here)


def build_plan(
    args, single_size: bool = True, out_prefix: str = "run", in_memory: bool = False
) -> Plan:
    """Every option checked (a ``UsageError`` before any work), the cells of the run and
    its results folder taken; ``in_memory``: no folder at all, the results kept here."""
    forget()  # nothing built for an earlier run in this process (a redefined problem)
    problems = registry.problems()
    p_names = problem_names(args.problem, problems)
    p_names, data_file = data_choice(args, p_names, problems)
    texts = setting_texts(getattr(args, "problem_opt", None), single_size, "run")
    configured, settings = configured_problems(texts, p_names, problems)
    hypers, given, opt_axis = optimizer_axis(args)
    b_names = parse_names(args.backend, registry.backends(), "backend")
    dtypes = parse_names(args.dtype, DTYPES, "dtype")
    if args.mode not in (None, "all"):
        valid_modes = dict.fromkeys(m for b in b_names for m in registry.backends()[b].modes)
        parse_names(args.mode, valid_modes, "mode (for the chosen backends)")
    steps = positive_int(args.steps, "--steps")
    auto_lr = str(args.lr).strip().lower() == "auto"
    lr = None if auto_lr else positive_float(args.lr, "--lr")
    roof_notes: list[str] = []
    itemsize = min(np.dtype(d).itemsize for d in dtypes)
    grids = {
        key: size_grid(args, single_size, itemsize, roof_notes, problem)
        for key, problem in configured.items()
    }
    check_values_fit(dtypes, lr, hypers, settings, data_file, [problems[n] for n in p_names])
    options = run_options(args, given, data_file)
    cluster = parse_cluster(getattr(args, "cluster", None))
    resume = bool(getattr(args, "resume", None))
    out = None if in_memory else Path(args.out) if args.out else new_run_dir(prefix=out_prefix)
    if out is not None and not resume:
        check_out(out)
    axes = Axes(dtypes, b_names, args.mode, opt_axis, steps, lr, auto_lr)
    specs, skipped, ordered = all_cells(configured, grids, data_file, axes, args.device)
    references = len({s.reference_args() for s in specs})

    def params(spec):
        return configured[spec.problem, spec.problem_args].param_count(spec.features)

    # The planner holds each reference and, per float32 dtype of its cells, a baseline.
    baselines = len({(s.reference_args(), s.dtype) for s in specs if s.dtype in BUDGET_DTYPES})
    every = options.record_every
    check_run_memory(specs, references + baselines, params, every, in_memory=out is None)
    if out is not None:
        check_disk(out, specs, references, params, every)
    check_device_memory(specs)
    saved = {k: getattr(args, k, None) for k in SAVED_OPTIONS}
    saved["plugin"] = list(options.plugins)
    saved["baseline"] = parse_baseline(getattr(args, "baseline", None), b_names, args.mode)
    if out is not None:
        make_out(out)
        take_folder(out, resume)
    if roof_notes:  # said once the whole command is checked and the run goes ahead
        print("--n-samples roof: " + "; ".join(dict.fromkeys(roof_notes)), file=sys.stderr)
    return Plan(specs, skipped, ordered, options, out, resume, saved, cluster)


def configured_problems(
    texts: list[str | None], p_names: list[str], problems: dict
) -> tuple[dict, list[dict]]:
    """The problems configured by each ``--problem-opt`` (a sweep repeats it: one setting
    of the problems each), keyed by (name, problem_args) so that a setting that leaves a
    problem as another one left it runs it once; and every parsed setting, for the checks.
    A problem that some setting names runs with the settings that name it alone: a
    setting scoped to other problems (``logreg:l2=0.1``) does not run it with its
    defaults beside (a classifier of 784-1024-1024-10 nobody asked for)."""
    configured: dict[tuple[str, str], object] = {}
    parsed: list[dict] = []
    givens: list[dict] = []
    for text in texts:
        settings, given = parse_settings(
            text, {n: problems[n].options for n in p_names}, "--problem-opt", "a setting"
        )
        parsed.append(settings)
        givens.append(given)
    named = {n for given in givens for n in p_names if given[n]}
    for settings, given in zip(parsed, givens, strict=True):
        for n in p_names:
            if n in named and not given[n]:
                continue  # another setting is this problem's
            problem = problems[n].configured(settings[n])
            configured.setdefault((n, json.dumps(problem.opt, sort_keys=True)), problem)
    return configured, parsed


def optimizer_axis(args) -> tuple[dict, dict, list]:
    """--optimizer and --opt: each optimizer's hyperparameters, the names the user gave it,
    and the optimizer axis of the cells ((optimizer, its RunSpec fields) pairs)."""
    all_optimizers = registry.optimizers()
    choice = getattr(args, "optimizer", None)
    o_names = parse_names(
        None if choice == "all" else (choice or "sgd"), all_optimizers, "optimizer"
    )
    hypers, given = parse_opt(getattr(args, "opt", None), {o: all_optimizers[o] for o in o_names})
    native = bool(getattr(args, "native_defaults", False))
    axis = [
        (
            all_optimizers[o],
            {
                "optimizer": o,
                "optimizer_args": json.dumps(hypers[o], sort_keys=True),
                "native_defaults": native,
            },
        )
        for o in o_names
    ]
    return hypers, given, axis


def parse_baseline(text, b_names: list[str], modes) -> str | None:
    """``--baseline BACKEND[/MODE]`` as ``backend/mode`` (MODE defaults to the backend's
    idiomatic one); the backend must be among the run's, the mode one of its modes and of
    the run's ``--mode``."""
    if text is None:
        return None
    backend_name, _, mode = (part.strip() for part in str(text).partition("/"))
    if backend_name not in b_names:
        raise UsageError(
            f"--baseline {text}: {backend_name!r} is not among this run's backends "
            f"({', '.join(b_names)})"
        )
    backend = registry.backends()[backend_name]
    mode = mode or backend.default_mode
    if modes == "all":
        chosen = None
    else:
        chosen = [backend.default_mode] if modes is None else str(modes).split(",")
        chosen = [m.strip() for m in chosen]
    if mode not in backend.modes or (chosen is not None and mode not in chosen):
        valid = [m for m in backend.modes if chosen is None or m in chosen]
        raise UsageError(
            f"--baseline {text}: {backend_name} has no mode {mode!r} in this run; "
            f"valid: {', '.join(valid) or 'none'}"
        )
    return f"{backend_name}/{mode}"


def check_values_fit(dtypes, lr, hypers: dict, settings: list[dict], data_file, problems) -> None:
    """Every number the user gave goes into each dtype of the run: --lr, --opt values,
    --problem-opt values (l2=1e39 is inf in float32) and the --data values."""
    if lr is not None:
        check_representable(lr, dtypes, "--lr")
    for values in hypers.values():
        for key, value in values.items():
            if not isinstance(value, bool):
                check_representable(value, dtypes, f"--opt {key}")
    for setting in settings:
        for values in setting.values():
            for key, value in values.items():
                if isinstance(value, float) and value != 0:
                    check_representable(value, dtypes, f"--problem-opt {key}")
    if data_file is not None:
        for p in problems:
            check_data_range(load_data(data_file, p.binary_target), data_file, dtypes)


def parse_cell_timeout(value) -> float:
    """--cell-timeout in seconds (run, sweep and gradcheck): above 0, at most a week;
    DEFAULT_CELL_TIMEOUT where none is given."""
    seconds = positive_float(value, "--cell-timeout")
    if seconds is not None and seconds > MAX_CELL_TIMEOUT:
        raise UsageError(f"--cell-timeout must be at most {MAX_CELL_TIMEOUT:g} s, got {seconds:g}")
    return seconds or DEFAULT_CELL_TIMEOUT


def run_options(args, given: dict[str, frozenset[str]], data_file) -> Options:
    """How the cells run (``Options``), from the timing, limit and output options."""
    threads = positive_int(args.threads, "--threads")
    check_threads(threads)
    cell_timeout = parse_cell_timeout(getattr(args, "cell_timeout", None))
    rounds = positive_int(getattr(args, "rounds", None), "--rounds") or 1
    if rounds > MAX_ROUNDS:
        raise UsageError(f"--rounds must be at most {MAX_ROUNDS}, got {rounds}")
    return Options(
        timing=not getattr(args, "no_timing", False),
        budget_s=positive_float(args.time_budget, "--time-budget") or 0.5,
        rounds=rounds,
        cell_timeout=cell_timeout,
        record_every=positive_int(getattr(args, "record_every", None), "--record-every") or 1,
        threads=threads,
        plugins=tuple(str(Path(p).resolve()) for p in args.plugin),
        opt_given=given,
        data_file=data_file,
        strict=bool(getattr(args, "strict", False)),
    )


def take_folder(out: Path, resume: bool) -> None:
    """This run's exclusive hold on its results folder, for as long as the process runs it.
    The emptiness of a new folder is checked again under the lock: two runs started on one
    --out at once both pass ``check_out``, and only the first to lock it may write there."""
    folder_lock.acquire(out)
    if resume:
        folder_lock.remove_stale_temporaries(out)
        return
    try:
        check_out(out)
    except UsageError:
        folder_lock.release(out, discard=True)
        raise
