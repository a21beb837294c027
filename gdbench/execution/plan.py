"""Turns `run` options into the list of cells, checking every option first."""

from __future__ import annotations

import itertools
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gdbench import registry
from gdbench.backend import Backend
from gdbench.errors import UsageError
from gdbench.execution.cluster import ClusterChoice, parse_cluster
from gdbench.execution.data import load as load_data
from gdbench.execution.data import open_data
from gdbench.execution.limits import (
    check_data_memory,
    check_device_memory,
    check_disk,
    check_representable,
    check_run_memory,
    check_threads,
    roof_samples,
)
from gdbench.execution.options import (
    DEVICES,
    DTYPES,
    ROOF,
    check_out,
    make_out,
    parse_names,
    parse_opt,
    parse_seed,
    parse_settings,
    positive_float,
    positive_int,
    size_list,
)
from gdbench.execution.runner import DEFAULT_CELL_TIMEOUT, Options, instance
from gdbench.results import folder_lock
from gdbench.results.writer import new_run_dir
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
    "optimizer",
    "opt",
    "native_defaults",
    "problem_opt",
    "data",
    "target",
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
    out: Path
    resume: bool
    saved: dict = field(default_factory=dict)
    cluster: ClusterChoice | None = None  # --cluster: where the cells run (None: here)


def _devices(choice: str, backends: dict) -> dict[str, list[str]]:
    """Devices per backend; a usage error when CUDA is asked for and nothing sees it."""
    if choice not in DEVICES:
        raise UsageError(f"unknown device {choice!r}; valid: {', '.join(DEVICES)}")
    per = {name: ["cpu"] for name in backends}
    if choice == "cpu":
        return per
    seen, reasons = False, []
    for name, b in backends.items():
        try:
            ok, why = b.device_available("cuda")
        except Exception as exc:  # one library's failing probe (JAX_PLATFORMS=cuda, say)
            # is that backend's problem: its cells run, and fail, as error rows.
            ok, why = False, f"{name}: the CUDA probe failed ({type(exc).__name__}: {exc})"
        if ok:
            per[name].append("cuda")
            seen = True
        elif why not in reasons:
            reasons.append(why)
    if choice == "cuda":
        if not seen:
            raise UsageError(
                "--device cuda: no CUDA device is visible (" + "; ".join(reasons) + ")"
            )
        return {name: [d for d in devs if d == "cuda"] or ["cuda?"] for name, devs in per.items()}
    return per


def _modes(choice: str | None, backend, device: str) -> list[tuple[str, str]]:
    """(mode, reason-if-skipped) pairs for one backend and device."""
    if choice is None:
        return [(backend.default_mode, "")]
    wanted = list(backend.modes) if choice == "all" else choice.split(",")
    out = []
    for m in wanted:
        if m not in backend.modes:
            continue
        ok, why = backend.mode_available(m, device)
        if ok or choice != "all":
            out.append((m, why))
    return out


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
    inst = problem.make()
    return {"n_samples": inst.n_samples, "features": inst.features, "seed": 0, "data": "default"}


def data_choice(args, p_names: list[str], problems: dict):
    """The problems that run on ``--data`` and the checked file, or (p_names, None)."""
    path = getattr(args, "data", None)
    if path is None:
        if getattr(args, "target", None) is not None or getattr(args, "standardize", False):
            raise UsageError("--target and --standardize apply to --data")
        return p_names, None
    if args.n_samples is not None or args.features is not None:
        raise UsageError("--data gives the sizes: drop --n-samples and --features")
    takers = [n for n in p_names if problems[n].takes_data]
    if args.problem is not None and len(takers) < len(p_names):
        others = ", ".join(n for n in p_names if n not in takers)
        valid = ", ".join(n for n, p in problems.items() if p.takes_data)
        raise UsageError(f"--data: {others} takes no data (problems that do: {valid})")
    data_file = open_data(path, getattr(args, "target", None), args.standardize)
    for n in takers:  # every check of the file's content, before any work
        note = load_data(data_file, problems[n].binary_target).note
        if note:
            print(f"--data {path}: {n}: {note}", file=sys.stderr)
    return takers, data_file


def auto_rate(problem, sizes: dict, data_file) -> float:
    """--lr auto: 1/L from the problem's smoothness bound on this instance, said aloud.
    The instance is the cells' own (runner.instance, cached for their reference)."""
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


def size_grid(args, single: bool, itemsize: int = 4) -> list[dict]:
    """Every (n_samples, features) asked for, each with the seed; `run` takes one of each.
    ``roof`` among the sample counts is, per D, the smallest N whose X and y exceed 4× the
    last-level cache at ``itemsize`` (the smallest of the run's dtypes)."""
    ns = size_list(args.n_samples, "--n-samples", roof=True)
    ds = size_list(args.features, "--features")
    if single and (len(ns) > 1 or len(ds) > 1):
        raise UsageError("run takes one --n-samples and one --features; use sweep for lists")
    seed = parse_seed(args.seed)
    grid = []
    for d in ds:
        per_d = [roof_samples(d or 1, itemsize) if n == ROOF else n for n in ns]
        grid += [{"n_samples": n, "features": d, "seed": seed} for n in dict.fromkeys(per_d)]
    for g in grid:
        check_data_memory(g["n_samples"] or 0, g["features"] or 1)
    return grid


def _cells(problem, sizes, dtypes, b_names, available, unavailable, devices, mode, lr, steps, opt):
    """(spec, reason) for every cell of one problem instance; reason is '' for a cell to run.
    ``opt`` is the optimizer axis: (optimizer, its RunSpec fields) pairs."""
    for (optimizer, opt_fields), dtype, bname in itertools.product(opt, dtypes, b_names):

        def spec(mode_, device, _b=bname, _dt=dtype, _o=opt_fields):
            return RunSpec(problem.name, _b, mode_, device, _dt, lr, steps, **sizes, **_o)

        if bname in unavailable:
            yield spec(registry.backends()[bname].default_mode, "cpu"), unavailable[bname]
            continue
        backend = available[bname]
        ok, why = backend.optimizer_available(optimizer)
        if not ok:
            yield spec(backend.default_mode, "cpu"), why
            continue
        for device in devices[bname]:
            if device == "cuda?":
                yield spec(backend.default_mode, "cuda"), backend.device_available("cuda")[1]
                continue
            for m, why in _modes(mode, backend, device):
                yield spec(m, device), why


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


def build_plan(args, single_size: bool = True, out_prefix: str = "run") -> Plan:
    problems = registry.problems()
    all_backends = registry.backends()
    p_names = parse_names(args.problem, problems, "problem")
    p_names, data_file = data_choice(args, p_names, problems)
    settings, _ = parse_settings(
        getattr(args, "problem_opt", None),
        {n: problems[n].options for n in p_names},
        "--problem-opt",
        "a setting",
    )
    configured = {n: problems[n].configured(settings[n]) for n in p_names}
    all_optimizers = registry.optimizers()
    choice = getattr(args, "optimizer", None)
    o_names = parse_names(
        None if choice == "all" else (choice or "sgd"), all_optimizers, "optimizer"
    )
    hypers, given = parse_opt(getattr(args, "opt", None), {o: all_optimizers[o] for o in o_names})
    native = bool(getattr(args, "native_defaults", False))
    opt_axis = [
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
    b_names = parse_names(args.backend, all_backends, "backend")
    dtypes = parse_names(args.dtype, DTYPES, "dtype")
    if args.mode not in (None, "all"):
        valid_modes = dict.fromkeys(m for b in b_names for m in all_backends[b].modes)
        parse_names(args.mode, valid_modes, "mode (for the chosen backends)")
    steps = positive_int(args.steps, "--steps")
    auto_lr = str(args.lr).strip().lower() == "auto"
    lr = None if auto_lr else positive_float(args.lr, "--lr")
    grid = size_grid(args, single_size, min(np.dtype(d).itemsize for d in dtypes))
    threads = positive_int(args.threads, "--threads")
    check_threads(threads)
    if lr is not None:
        check_representable(lr, dtypes, "--lr")
    for o in o_names:
        for key, value in hypers[o].items():
            if not isinstance(value, bool):
                check_representable(value, dtypes, f"--opt {key}")
    for n in p_names:  # problem settings (l2=1e39) and data values go into the dtype too
        for key, value in settings[n].items():
            if isinstance(value, float) and value != 0:
                check_representable(value, dtypes, f"--problem-opt {key}")
    if data_file is not None:
        for n in p_names:
            check_data_range(load_data(data_file, problems[n].binary_target), data_file, dtypes)
    budget = positive_float(args.time_budget, "--time-budget") or 0.5
    rounds = positive_int(getattr(args, "rounds", None), "--rounds") or 1
    cell_timeout = positive_float(getattr(args, "cell_timeout", None), "--cell-timeout")
    if cell_timeout is not None and cell_timeout > MAX_CELL_TIMEOUT:
        raise UsageError(
            f"--cell-timeout must be at most {MAX_CELL_TIMEOUT:g} s, got {cell_timeout:g}"
        )
    record_every = positive_int(getattr(args, "record_every", None), "--record-every") or 1
    cluster = parse_cluster(getattr(args, "cluster", None))
    if rounds > MAX_ROUNDS:
        raise UsageError(f"--rounds must be at most {MAX_ROUNDS}, got {rounds}")
    resume = bool(getattr(args, "resume", None))
    out = Path(args.out) if args.out else new_run_dir(prefix=out_prefix)
    if not resume:
        check_out(out)

    available: dict[str, Backend] = {}
    unavailable: dict[str, str] = {}
    for name in b_names:
        ok, why = all_backends[name].available()
        if ok:
            available[name] = all_backends[name]
        else:
            unavailable[name] = why
    devices = _devices(args.device, available)

    specs, skipped, ordered = [], [], []
    for pname in p_names:
        problem = configured[pname]
        instances = list(
            dict.fromkeys(tuple(instance_sizes(problem, g, data_file).items()) for g in grid)
        )
        for sizes in instances:
            sizes_ = {**dict(sizes), "problem_args": json.dumps(problem.opt, sort_keys=True)}
            cell_lr = auto_rate(problem, dict(sizes), data_file) if auto_lr else lr
            if cell_lr is not None:
                check_representable(cell_lr, dtypes, "--lr")
            for spec, why in _cells(
                problem,
                sizes_,
                dtypes,
                b_names,
                available,
                unavailable,
                devices,
                args.mode,
                cell_lr or problem.default_lr,
                steps or problem.default_steps,
                opt_axis,
            ):
                (skipped.append((spec, why)) if why else specs.append(spec))
                ordered.append(spec)
    references = len({s.reference_args() for s in specs})

    def params(spec):
        return configured[spec.problem].param_count(spec.features)

    check_run_memory(specs, references, params, record_every)
    check_disk(out, specs, references, params, record_every)
    check_device_memory(specs)
    options = Options(
        timing=not getattr(args, "no_timing", False),
        budget_s=budget,
        rounds=rounds,
        cell_timeout=cell_timeout or DEFAULT_CELL_TIMEOUT,
        record_every=record_every,
        threads=threads,
        plugins=tuple(str(Path(p).resolve()) for p in args.plugin),
        opt_given=given,
        data_file=data_file,
        strict=bool(getattr(args, "strict", False)),
    )
    saved = {k: getattr(args, k, None) for k in SAVED_OPTIONS}
    saved["plugin"] = list(options.plugins)
    make_out(out)
    take_folder(out, resume)
    return Plan(specs, skipped, ordered, options, out, resume, saved, cluster)


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
