"""Turns `run` options into the list of cells, checking every option first."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gdbench import registry
from gdbench.cli import (
    DEVICES,
    DTYPES,
    UsageError,
    _check_out,
    _names,
    _positive_float,
    _positive_int,
    instance_args,
    make_out,
)
from gdbench.results import new_run_dir
from gdbench.runner import Options
from gdbench.spec import RunSpec

SAVED_OPTIONS = ("problem", "backend", "mode", "device", "dtype", "steps", "lr", "n_samples",
                 "features", "seed", "threads", "time_budget", "no_timing", "plugin")


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


def _devices(choice: str, backends: dict) -> dict[str, list[str]]:
    """Devices per backend; a usage error when CUDA is asked for and nothing sees it."""
    if choice not in DEVICES:
        raise UsageError(f"unknown device {choice!r}; valid: {', '.join(DEVICES)}")
    per = {name: ["cpu"] for name in backends}
    if choice == "cpu":
        return per
    seen, reasons = False, []
    for name, b in backends.items():
        ok, why = b.device_available("cuda")
        if ok:
            per[name].append("cuda")
            seen = True
        elif why not in reasons:
            reasons.append(why)
    if choice == "cuda":
        if not seen:
            raise UsageError("--device cuda: no CUDA device is visible ("
                             + "; ".join(reasons) + ")")
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


def instance_sizes(problem, sizes: dict) -> dict:
    """RunSpec's data fields: generated data where sizes are given and the problem takes them."""
    if problem.sized and (sizes["n_samples"] or sizes["features"]):
        inst = problem.make(sizes["n_samples"], sizes["features"], sizes["seed"])
        data = "generated"
    else:
        inst, data = problem.make(), "default"
    seed = sizes["seed"] if data == "generated" else 0
    return {"n_samples": inst.n_samples, "features": inst.features, "seed": seed, "data": data}


def build_plan(args) -> Plan:
    problems = registry.problems()
    all_backends = registry.backends()
    p_names = _names(args.problem, problems, "problem")
    b_names = _names(args.backend, all_backends, "backend")
    dtypes = _names(args.dtype, DTYPES, "dtype")
    if args.mode not in (None, "all"):
        valid_modes = dict.fromkeys(m for b in b_names for m in all_backends[b].modes)
        _names(args.mode, valid_modes, "mode (for the chosen backends)")
    steps = _positive_int(args.steps, "--steps")
    lr = _positive_float(args.lr, "--lr")
    sizes = instance_args(args)
    threads = _positive_int(args.threads, "--threads")
    budget = _positive_float(args.time_budget, "--time-budget")
    resume = bool(getattr(args, "resume", None))
    out = Path(args.out) if args.out else new_run_dir()
    if not resume:
        _check_out(out)

    available, unavailable = {}, {}
    for name in b_names:
        ok, why = all_backends[name].available()
        (available if ok else unavailable)[name] = all_backends[name] if ok else why
    devices = _devices(args.device, available)

    specs, skipped, ordered = [], [], []
    for pname in p_names:
        problem = problems[pname]
        p_lr = lr or problem.default_lr
        p_steps = steps or problem.default_steps
        p_sizes = instance_sizes(problem, sizes)
        for dtype in dtypes:
            for bname in b_names:
                if bname in unavailable:
                    spec = RunSpec(pname, bname, all_backends[bname].default_mode, "cpu", dtype,
                                   p_lr, p_steps, **p_sizes)
                    skipped.append((spec, unavailable[bname]))
                    ordered.append(spec)
                    continue
                backend = available[bname]
                for device in devices[bname]:
                    if device == "cuda?":
                        spec = RunSpec(pname, bname, backend.default_mode, "cuda", dtype, p_lr,
                                       p_steps, **p_sizes)
                        skipped.append((spec, backend.device_available("cuda")[1]))
                        ordered.append(spec)
                        continue
                    for mode, why in _modes(args.mode, backend, device):
                        spec = RunSpec(pname, bname, mode, device, dtype, p_lr, p_steps,
                                       **p_sizes)
                        (skipped.append((spec, why)) if why else specs.append(spec))
                        ordered.append(spec)
    options = Options(timing=not args.no_timing, budget_s=budget, threads=threads,
                      plugins=tuple(str(Path(p).resolve()) for p in args.plugin))
    saved = {k: getattr(args, k) for k in SAVED_OPTIONS}
    saved["plugin"] = list(options.plugins)
    make_out(out)
    return Plan(specs, skipped, ordered, options, out, resume, saved)
