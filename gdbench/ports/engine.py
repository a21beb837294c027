"""The port check, start to end: the batches, every implementation's own runs in float32
and float64 from the reference's weights, the verdicts, the first divergences and the
step times (``check``). Inputs arrive checked (``gdbench.api.porting``)."""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from gdbench.errors import one_line
from gdbench.numerics.agreement import deviations as trajectory_deviations
from gdbench.numerics.reference import PERTURBATION
from gdbench.numerics.verdict import Judgement, Verdict
from gdbench.ports import jax_side, stages, torch_side
from gdbench.ports.judging import UpdateRule, judge, update_rule
from gdbench.ports.mapping import Link, resolve
from gdbench.ports.models import Implementation, JaxModel, TorchModel
from gdbench.ports.recording import Recording, perturbed, record
from gdbench.ports.result import COLUMNS, PortResult
from gdbench.ports.runner import PortError
from gdbench.ports.timing import pinned, ratio, time_steps
from gdbench.problem import batch_rows

DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class Setup:
    batches: list
    w0: dict
    shapes: dict[str, tuple]
    steps: int
    n_elements: int


def batches(X, y, batch_size: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """gdbench's batch schedule (``gdbench.problem.step_batches``): the rows permuted once
    by ``default_rng(seed)``, cut into ⌊N/B⌋ batches of B, cycled in that order."""
    if batch_size >= len(X):
        return [(X, y)]
    return [
        (np.ascontiguousarray(X[r]), np.ascontiguousarray(y[r]))
        for r in batch_rows(len(X), batch_size, seed)
    ]


def runner(impl: Implementation, reference: TorchModel, ref_shapes: dict, who: str):
    """A Runner for ``impl``; its links resolved (``MappingError`` where they cannot be)."""
    if isinstance(impl, JaxModel):
        links = resolve(ref_shapes, jax_side.shapes(impl.params), impl.param_map, who, True)
        return jax_side.JaxRunner(impl.params, impl.apply, impl.optimizer, impl.loss, links)
    links = resolve(ref_shapes, torch_side.shapes(impl.model), impl.param_map, who, False)
    return torch_side.TorchRunner(
        impl.model,
        impl.optimizer or reference.optimizer,
        impl.loss or reference.loss,
        links,
        impl.compile,
    )


def _loaded(make, setup: Setup, dtype: str):
    r = make()
    r.load(setup.batches, dtype)
    return r


def check(
    reference: TorchModel,
    candidates: dict[str, Implementation],
    X,
    y,
    batch_size: int,
    steps: int,
    seed: int,
    timing: bool = True,
    threads: int | None = None,
    rounds: int = 3,
    budget_s: float = 0.3,
) -> PortResult:
    shapes = torch_side.shapes(reference.model)
    names = list(shapes)
    ref_links = [Link(n, n) for n in names]
    makers: dict[str, Callable] = {
        "reference": lambda: torch_side.TorchRunner(
            reference.model, reference.optimizer, reference.loss, ref_links
        )
    }
    for who, impl in candidates.items():  # every map resolved once, before any work
        # An unloaded runner holds only the user's objects and its links: a copy per dtype.
        makers[who] = functools.partial(copy.copy, runner(impl, reference, shapes, who))
    w0 = {
        n: p.detach().cpu().double().numpy().copy() for n, p in reference.model.named_parameters()
    }
    setup = Setup(batches(X, y, batch_size, seed), w0, shapes, steps, int(np.size(X)))
    layout, start = {}, 0
    for name, shape in shapes.items():
        size = int(np.prod(shape, dtype=np.int64))
        layout[name], start = slice(start, start + size), start + size

    ref = _reference_runs(makers["reference"], setup)
    rows, divergences, recordings = [], {}, {"reference": ref.recordings}
    timed = {"reference": ref.runners["float32"]}
    for who in candidates:
        try:
            runners = {dt: _loaded(makers[who], setup, dt) for dt in DTYPES}
            _same_outputs(runners["float64"], ref.recordings["float64"], w0)
            cand = {dt: record(runners[dt], w0, names, steps) for dt in DTYPES}
        except Exception as exc:  # the user's code: an error row, the others still judged
            text = one_line(f"{type(exc).__name__}: {exc}", 500)
            rows += [_row(who, dt, error=text) for dt in DTYPES]
            continue
        recordings[who] = cand
        timed[who] = runners["float32"]
        for dt in DTYPES:
            found = judge(
                cand, ref.recordings, dt, ref.rule, ref.lr, ref.growth, setup.n_elements, layout
            )
            first = None
            if found.verdict is not Verdict.AGREES:
                first = _first_divergence(runners[dt], cand[dt], ref, setup, dt)
            divergences[(who, dt)] = first
            rows.append(_row(who, dt, found, first))
    meta = {"batch_size": batch_size, "seed": seed, "optimizer": ref.rule.name, "threads": None}
    if timing:
        _time(rows, timed, w0, threads, rounds, budget_s, meta)
    return PortResult(rows, divergences, recordings, layout, steps, meta)


@dataclass
class _Reference:
    """The reference's runs by dtype, its update rule and growth, and (once a candidate
    needs them) its own stage deviations by dtype."""

    runners: dict
    recordings: dict[str, Recording]
    rule: UpdateRule
    lr: float
    growth: float
    own: dict = field(default_factory=dict)


def _reference_runs(make, setup: Setup) -> _Reference:
    names = list(setup.shapes)
    try:  # the reference's own code: nothing can be judged where it fails
        runners = {dt: _loaded(make, setup, dt) for dt in DTYPES}
        recs = {dt: record(runners[dt], setup.w0, names, setup.steps) for dt in DTYPES}
        rule, lr = update_rule(runners["float64"].optimizer)
        growth = _growth(runners["float64"], recs["float64"], setup)
    except PortError:
        raise
    except Exception as exc:
        raise PortError(one_line(f"{type(exc).__name__}: {exc}", 500)) from None
    return _Reference(runners, recs, rule, lr, growth)


def _first_divergence(runner, cand: Recording, ref: _Reference, setup: Setup, dtype: str):
    """Where ``runner`` (the candidate in ``dtype``) first departs, stage by stage."""
    truth = ref.recordings["float64"]
    steps = min(ref.recordings[dtype].traj.steps, truth.traj.steps)
    if dtype not in ref.own:
        ref.own[dtype] = stages.deviations(ref.runners[dtype], truth, setup.w0, setup.shapes, steps)
    n = min(steps, cand.traj.steps)
    mine = stages.deviations(runner, truth, setup.w0, setup.shapes, n)
    own = {k: v[:n] for k, v in ref.own[dtype].items()}
    return stages.first_divergence(mine, own, list(setup.shapes), dtype)


def _same_outputs(runner, ref: Recording, w0) -> None:
    if not ref.outputs:
        return
    got, want = np.shape(runner.forward(w0, 0)), np.shape(ref.outputs[0])
    if got != want:
        raise PortError(f"the model's outputs have shape {got}, the reference's {want}")


def _growth(runner, ref: Recording, setup: Setup) -> float:
    """How much the reference's float64 iteration amplifies a rounding-sized change of its
    start (``gdbench.numerics.reference.growth``): a run's tolerance is scaled by it."""
    names = list(setup.shapes)
    moved = record(runner, perturbed(setup.w0, PERTURBATION), names, setup.steps)
    n = min(moved.traj.steps, ref.traj.steps) - (1 if ref.traj.diverged_step else 0)
    if n <= 0:
        return 1.0
    dev = trajectory_deviations(moved.traj, ref.traj, n)
    return max(1.0, float(dev.max()) / PERTURBATION) if np.isfinite(dev).all() else 1.0


def _row(who: str, dtype: str, found: Judgement | None = None, first=None, error: str = ""):
    row: dict = dict.fromkeys(COLUMNS)
    row.update(candidate=who, dtype=dtype, error=error)
    if found is not None:
        agr = found.agreement
        row.update(
            verdict=found.verdict.value,
            agrees=found.agrees,
            max_rel_dev=agr.max_rel_dev,
            tol=agr.tol,
            error_ratio=found.budget.ratio if found.budget else None,
            detail=found.detail,
        )
    if first is not None:
        row.update(first_step=first.step, first_parameter=first.parameter, first_stage=first.stage)
    return row


def _time(rows, timed: dict, w0, threads, rounds: int, budget_s: float, meta: dict) -> None:
    with pinned(threads) as cpus:
        meta["threads"] = cpus
        times = time_steps(timed, w0, rounds, budget_s)
    base = times["reference"]
    for row in rows:
        t = times.get(row["candidate"])
        if t is None or row["dtype"] != "float32":
            continue
        change = ratio(base, t)
        row.update(
            time_per_step_s=t.median,
            time_per_step_iqr_s=t.iqr,
            time_ratio=change.ratio,
            time_ratio_low=change.low,
            time_ratio_high=change.high,
            compile_s=t.compile_s,
            threads=cpus,
        )
    meta["reference_time"] = base
