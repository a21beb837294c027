"""The cells of a run: each problem instance crossed with the backends available, their
devices and modes, the dtypes and the optimizers; a cell that cannot run here is kept,
skipped, with its reason."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass

from gdbench import registry
from gdbench.backend import Backend
from gdbench.compat.environment import gpu_driver_visible
from gdbench.errors import UsageError
from gdbench.execution.limits import check_representable
from gdbench.execution.options import DEVICES
from gdbench.execution.sizes import auto_rate, instance_sizes
from gdbench.spec import RunSpec


@dataclass(frozen=True)
class Axes:
    """The axes every problem instance is crossed with."""

    dtypes: list[str]
    backends: list[str]
    mode: str | None
    optimizers: list
    steps: int | None
    lr: float | None
    auto_lr: bool


def _devices(choice: str, backends: dict) -> dict[str, list[str]]:
    """Devices per backend; a usage error when CUDA is asked for and nothing sees it."""
    if choice not in DEVICES:
        raise UsageError(f"unknown device {choice!r}; valid: {', '.join(DEVICES)}")
    per = {name: ["cpu"] for name in backends}
    if choice == "cpu" or (choice == "auto" and not gpu_driver_visible()):
        return per  # auto with no GPU driver: importing torch and JAX would say no CUDA
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
        if backend.hand_gradient and not problem.has_hand_gradient:
            yield (
                spec(backend.default_mode, "cpu"),
                (
                    f"{problem.name} has no hand-derived gradient (Problem.grad), which "
                    f"{bname} runs; the autodiff backends run it"
                ),
            )
            continue
        for device in devices[bname]:
            if device == "cuda?":
                yield spec(backend.default_mode, "cuda"), backend.device_available("cuda")[1]
                continue
            for m, why in _modes(mode, backend, device):
                yield spec(m, device), why


def all_cells(configured: dict, grids: dict, data_file, axes: Axes, device: str):
    """``(specs, skipped, ordered)``: the cells to run, those skipped with their reasons,
    and every cell in the order the table shows. ``grids``: each configured problem's
    sizes (``execution.sizes.size_grid``), by the key of ``configured``."""
    available: dict[str, Backend] = {}
    unavailable: dict[str, str] = {}
    for name in axes.backends:
        ok, why = registry.backends()[name].available()
        if ok:
            available[name] = registry.backends()[name]
        else:
            unavailable[name] = why
    devices = _devices(device, available)
    specs, skipped, ordered = [], [], []
    for key, problem in configured.items():
        instances = dict.fromkeys(
            tuple(instance_sizes(problem, g, data_file).items()) for g in grids[key]
        )
        for sizes in instances:
            sizes_ = {**dict(sizes), "problem_args": json.dumps(problem.opt, sort_keys=True)}
            cell_lr = auto_rate(problem, dict(sizes), data_file) if axes.auto_lr else axes.lr
            if cell_lr is not None:
                check_representable(cell_lr, axes.dtypes, "--lr")
            for spec, why in _cells(
                problem,
                sizes_,
                axes.dtypes,
                axes.backends,
                available,
                unavailable,
                devices,
                axes.mode,
                cell_lr or problem.default_lr,
                axes.steps or problem.default_steps,
                axes.optimizers,
            ):
                (skipped.append((spec, why)) if why else specs.append(spec))
                ordered.append(spec)
    return specs, skipped, ordered
