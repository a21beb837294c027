"""Step-by-step agreement of a trajectory with its float64 reference.

The rule, for each of the parameters, the loss and the gradient: the deviation at step k is
‖x_k − r_k‖∞ divided by the largest ‖r_j‖∞ the reference reaches over the run. Scaling by
the run's own magnitude keeps the measure meaningful where a quantity passes through or
converges to zero (the loss and gradient always do), where a per-step relative error
would divide rounding noise by nothing. ``max_rel_dev`` is the largest such deviation.

The tolerance is ``TOL_PER_STEP · ε(dtype) · max(steps, 8) · ⌈log2(N·D + 1)⌉``: each
update rounds a few times (ε, relative), a contracting iteration carries those errors
forward at most linearly in the number of steps, and a mean over N·D terms adds an error
that grows like log2 of its length under pairwise or blocked summation (NumPy, torch and
XLA all sum in different orders, which is why float32 runs differ from each other at all).
A wrong gradient (even a factor of 2) moves the trajectory by O(1), far above it.

Adaptive optimizers (Adam, RMSprop, Adagrad …) divide by a running gradient magnitude, so
once a coordinate's gradient has shrunk to the dtype's rounding level their update of that
coordinate is rounding noise scaled to order lr, and a correct run may wander from the
float64 reference by up to the method's step bound (``Optimizer.step_bound``, in units of
lr) per step. For them the comparison has two phases, per coordinate:

* while the reference's gradient of every coordinate is above the noise floor
  ``4 · ε(dtype) · ⌈log2(N·D + 1)⌉ · max_k ‖g_ref,k‖∞`` (one gradient evaluation's
  rounding, scaled to the gradient's own size), the rule above applies unchanged to
  parameters, loss and gradient;
* from the first step K_i at which coordinate i's reference gradient is at or below the
  floor, that coordinate's parameter may deviate by ``tol·scale + bound·lr·(k − K_i + 1)``
  at step k, and loss and gradient (which mix every coordinate) are no longer compared.

A semantic difference (eps placement, bias correction, decoupled weight decay, Nesterov's
form, dampening) changes the update while gradients are still large, so it is caught in
the first phase, at an early step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gdbench.trajectory import Trajectory

TOL_PER_STEP = 4.0


def tolerance(dtype: str, steps: int, n_elements: int = 1) -> float:
    eps = float(np.finfo(np.dtype(dtype)).eps)
    return TOL_PER_STEP * eps * max(steps, 8) * max(1, math.ceil(math.log2(n_elements + 1)))


@dataclass(frozen=True)
class Agreement:
    """How a run compares with its reference. ``first_bad_step`` is 1-based, or None."""

    agrees: bool
    max_rel_dev: float
    tol: float
    first_bad_step: int | None
    detail: str = ""
    noise_from_step: int | None = None  # adaptive methods: where the second phase began


QUANTITIES = ("w", "loss", "gradient")


def quantity_deviations(run: Trajectory, ref: Trajectory, steps: int) -> dict[str, np.ndarray]:
    """Per quantity (parameters ``w``, ``loss``, ``gradient``), the per-step deviation of the
    rule above over the first ``steps`` steps (NaN counted as infinitely far)."""
    out = {}
    with np.errstate(all="ignore"):
        pairs = ((run.w, ref.w), (run.loss, ref.loss), (run.grad, ref.grad))
        for name, (x, r) in zip(QUANTITIES, pairs, strict=True):
            x = x[:steps].reshape(steps, -1)
            r = r[:steps].reshape(steps, -1)
            scale = np.abs(r).max() if r.size else 0.0
            err = np.abs(x - r).max(axis=1) if x.size else np.zeros(steps)
            d = err / scale if scale > 0 else err
            out[name] = np.where(np.isnan(d), np.inf, d)
    return out


def deviations(run: Trajectory, ref: Trajectory, steps: int, upto: int | None = None):
    """Per-step deviation (the rule above: the largest of the three quantities') over the
    first ``steps`` steps (scaled by the reference's magnitude over those steps), returned
    for the first ``upto`` of them."""
    dev = np.zeros(steps)
    if steps == 0:  # diverged at step 1: no clean step to compare
        return dev
    for d in quantity_deviations(run, ref, steps).values():
        dev = np.fmax(dev, d)
    return dev if upto is None else dev[:upto]


def first_out(run: Trajectory, ref: Trajectory, step: int, tol: float, n: int) -> str:
    """Which quantities are beyond ``tol`` at 1-based ``step`` (the first bad one), in the
    rule's order: "the gradient" says the derivative differs before the update could, "w"
    that the update rule does."""
    per = quantity_deviations(run, ref, n)
    names = [q for q in QUANTITIES if per[q][step - 1] > tol]
    return " and ".join(names) or "w"


def clean_steps(t: Trajectory) -> int:
    """How many steps from the first a trajectory holds clean: finite, not diverged."""
    return t.diverged_step - 1 if t.diverged_step else t.steps


def noise_floor(dtype: str, n_elements: int = 1) -> float:
    """The rounding error of one gradient evaluation, relative to the gradient's largest
    size: the tolerance of a single step (no growth over steps)."""
    return tolerance(dtype, 1, n_elements) / 8


def noise_steps(ref: Trajectory, floor: float, steps: int) -> np.ndarray:
    """Per coordinate, the 0-based first step whose reference gradient is at or below
    ``floor`` times the largest gradient of the run (``steps`` where it never is)."""
    g = np.abs(ref.grad[:steps].reshape(steps, -1))
    floor = floor * g.max() if g.size else 0.0
    at_floor = g <= floor
    return np.where(at_floor.any(axis=0), at_floor.argmax(axis=0), steps)


def compare(
    run: Trajectory,
    ref: Trajectory,
    tol: float,
    step_bound: float | None = None,
    lr: float = 0.0,
    floor: float = 0.0,
    layout: dict[str, slice] | None = None,
) -> Agreement:
    """The run against its reference; ``step_bound`` (an adaptive optimizer's, with its
    ``lr`` and the gradient's relative noise ``floor``, see ``noise_floor``) turns on the
    two-phase rule of the module docstring. With a ``layout`` (``Problem.layout``), a
    disagreement names the parameter group furthest out at its first bad step."""

    # Only steps where both are still finite and bounded are compared value by value.
    n = min(clean_steps(run), clean_steps(ref))
    noise_from = None
    if step_bound is not None and n:
        k_i = noise_steps(ref, floor, n)
        if k_i.min() < n:
            noise_from = int(k_i.min()) + 1
            dev = np.concatenate(
                [
                    deviations(run, ref, n, upto=noise_from - 1),
                    _wander(run, ref, tol, step_bound * lr, k_i, n),
                ]
            )[:n]
        else:
            dev = deviations(run, ref, n)
    else:
        dev = deviations(run, ref, n)
    bad = np.nonzero(dev > tol)[0]
    first_bad = int(bad[0]) + 1 if len(bad) else None
    max_dev = float(dev.max()) if n else 0.0
    detail = ""
    if run.diverged_step and not ref.diverged_step:
        detail = f"diverged at step {run.diverged_step}; the reference does not"
    elif ref.diverged_step and not run.diverged_step:
        detail = f"the reference diverges at step {ref.diverged_step}; this run does not"
    elif run.steps < ref.steps and not run.diverged_step:
        detail = f"stopped after {run.steps} of {ref.steps} steps"
    if first_bad is not None:
        # In the second phase of an adaptive method only w is compared.
        in_noise = noise_from is not None and first_bad >= noise_from
        which = "w" if in_noise else first_out(run, ref, first_bad, tol, n)
        msg = f"leaves the tolerance at step {first_bad}, {which} first"
        if layout and first_bad <= n:
            group = furthest_group(run, ref, first_bad, n, layout, "gradient" in which)
            msg += f"; of the parameters, {group} first, from step {first_bad}"
        detail = f"{msg}; {detail}" if detail else msg
    elif detail:
        first_bad = n + 1
    return Agreement(first_bad is None and not detail, max_dev, tol, first_bad, detail, noise_from)


def group_deviations(
    run: Trajectory,
    ref: Trajectory,
    layout: dict[str, slice],
    steps,
    gradient: bool = False,
    n: int | None = None,
) -> dict[str, np.ndarray]:
    """Per parameter group of ``layout``, its deviation from the reference at each 1-based
    step of ``steps`` among the first ``n`` (default: those both hold): the largest
    |w − w_ref| in the group (its gradient's, with ``gradient``) over the group's largest
    |w_ref| over those steps (NaN where a step is beyond them). ``trajectories.csv``
    records them as ``dev_GROUP``: which layer a port differs in, whatever the number of
    parameters."""
    n = min(run.steps, ref.steps) if n is None else n
    x = (run.grad if gradient else run.w)[:n].reshape(n, -1)
    r = (ref.grad if gradient else ref.w)[:n].reshape(n, -1)
    steps = np.asarray(steps, dtype=int)
    inside = steps <= n
    out = {}
    for name, where in layout.items():
        if not r[:, where].size:
            continue
        scale = float(np.abs(r[:, where]).max())
        dev = np.full(len(steps), np.nan)
        k = steps[inside] - 1
        with np.errstate(all="ignore"):
            err = np.abs(x[k, where] - r[k, where]).max(axis=1) if len(k) else np.zeros(0)
        dev[inside] = err / (scale or 1.0)
        out[name] = dev
    return out


def furthest_group(
    run: Trajectory, ref: Trajectory, step: int, n: int, layout: dict, gradient: bool
) -> str:
    """The parameter group (of ``layout``) whose values (its gradient's, with ``gradient``)
    are furthest from the reference's at 1-based ``step`` (``group_deviations`` over the
    first ``n`` steps; NaN counts as furthest): a bias of 1e-3 a hundred-fold off is named
    before a weight matrix of order 1 off by 1e-3."""
    devs = group_deviations(run, ref, layout, [step], gradient, n)
    return max(devs, key=lambda name: np.inf if np.isnan(devs[name][0]) else devs[name][0])


def judge(
    run: Trajectory,
    ref: Trajectory,
    dtype: str,
    steps: int,
    n_elements: int,
    optimizer,
    hyper: dict,
    lr: float,
    growth: float = 1.0,
    layout: dict[str, slice] | None = None,
) -> Agreement:
    """The whole rule for one run: the dtype's tolerance for ``steps`` steps over
    ``n_elements`` terms, scaled by the reference's ``growth``, and the two-phase rule
    where the optimizer is adaptive; ``layout`` names the parameter groups."""
    tol = tolerance(dtype, steps, n_elements) * growth
    bound = optimizer.step_bound(hyper) if optimizer.adaptive else None
    return compare(run, ref, tol, bound, lr, noise_floor(dtype, n_elements), layout)


def _wander(run, ref, tol, allowance, k_i, n) -> np.ndarray:
    """Second phase, steps K…n (0-based K−1…n−1): each parameter's deviation, scaled so
    that the tolerance stands for its wander bound (deviation ≤ tol means within it).
    Coordinates still above the floor keep the strict bound."""
    start = int(k_i.min())
    x = run.w[:n].reshape(n, -1)
    r = ref.w[:n].reshape(n, -1)
    scale = np.abs(r).max() or 1.0
    k = np.arange(start, n)[:, None]
    with np.errstate(all="ignore"):  # an unbounded method's allowance is inf
        extra = np.where(k >= k_i[None, :], allowance * (k - k_i[None, :] + 1), 0.0)
        err = np.abs(x[start:] - r[start:])
        d = (err / (tol * scale + extra) * tol).max(axis=1)
    return np.where(np.isnan(d), np.inf, d)
