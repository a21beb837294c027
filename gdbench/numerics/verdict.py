"""The verdict of a run: agrees, imprecise or disagrees, and the sentence that explains it.

A run is judged against its float64 reference (``agreement.judge``). A float32 run outside
the tolerance, or beyond its error budget (``budget``: ``BUDGET`` times the error float32
arithmetic itself makes on the same problem), is run again in float64 by the same backend
and mode. A wrong gradient or update disagrees in float64 too (``disagrees``); otherwise
the float32 deviation is the precision: ``imprecise`` outside the tolerance, ``noisy``
inside it (a different float32 rounding, e.g. summation order; not a failure).
``judgement`` is the one place that decides; the exit status, the tables and ``compare``
read its ``Verdict``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from gdbench.numerics.agreement import Agreement, judge
from gdbench.numerics.budget import BUDGET, BUDGET_DTYPES, ErrorBudget, error_budget
from gdbench.trajectory import Trajectory


class Verdict(enum.StrEnum):
    """What ``summary.csv``'s ``verdict`` column holds (the enum's values)."""

    AGREES = "agrees"
    IMPRECISE = "imprecise"  # float32 rounding: the same backend and mode agree in float64
    NOISY = "noisy"  # within tolerance, beyond the error budget, and float64 agrees
    DISAGREES = "disagrees"

    @classmethod
    def of(cls, text) -> Verdict | None:
        """The verdict a CSV cell holds, or None (empty, or a folder from before verdicts)."""
        try:
            return cls(str(text))
        except ValueError:
            return None


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    agreement: Agreement  # of the run itself, in its dtype
    detail: str  # the row's reason
    budget: ErrorBudget | None = None  # float32 cells: against the baseline's error

    @property
    def agrees(self) -> bool:
        """The ``agrees`` column: within the tolerance, and not judged to disagree."""
        return self.agreement.agrees and self.verdict is not Verdict.DISAGREES


def judgement(
    traj: Trajectory,
    ref: Trajectory,
    dtype: str,
    steps: int,
    n_elements: int,
    optimizer,
    hyper: dict,
    lr: float,
    growth: float,
    again_in_float64: Callable[[], Trajectory],
    ref64: Trajectory,
    named: str = "",
    baseline: Trajectory | None = None,
    layout: dict[str, slice] | None = None,
) -> Judgement:
    """The verdict of ``traj`` against ``ref`` (the float64 reference cut to the dtype's
    range), with ``again_in_float64()`` run only for a float32 run outside the tolerance
    or beyond its error budget against ``baseline`` (None: no budget), and judged against
    ``ref64``. ``named`` lists the hyperparameters in which the library differs from
    gdbench's specification (native defaults), empty when none; ``layout`` names the
    parameter groups (``Problem.layout``) for the reason."""
    agr = judge(traj, ref, dtype, steps, n_elements, optimizer, hyper, lr, growth, layout)
    budget = None
    if baseline is not None and dtype in BUDGET_DTYPES:
        budget = error_budget(traj, ref, baseline, agr.noise_from_step, dtype, n_elements)
    over_budget = budget is not None and budget.exceeded
    unbudgeted = _no_budget(traj, ref, baseline) if dtype in BUDGET_DTYPES and not budget else ""
    detail = "; ".join(d for d in (agr.detail, named, unbudgeted) if d)
    if named and agr.agrees:  # agreeing despite them is worth knowing too
        detail = "; ".join(d for d in (f"within tolerance although {named}", unbudgeted) if d)
    if dtype == "float64" or (agr.agrees and not over_budget):
        verdict = Verdict.AGREES if agr.agrees else Verdict.DISAGREES
        return Judgement(verdict, agr, detail, budget)
    if agr.agrees:  # flagged by the budget alone
        detail = "; ".join(d for d in (_further(budget, dtype), named) if d)
    check = judge(
        again_in_float64(),
        ref64,
        "float64",
        steps,
        n_elements,
        optimizer,
        hyper,
        lr,
        growth,
        layout,
    )
    return _rerun_says(agr, check, detail, named, budget, dtype, n_elements)


def _rerun_says(agr, check, detail: str, named: str, budget, dtype: str, n_elements: int):
    """The verdict of a cell that its float64 rerun (``check``) decides: the mathematics
    where that disagrees too, else the precision (noisy or imprecise)."""
    if not check.agrees:
        return Judgement(
            Verdict.DISAGREES,
            agr,
            f"{detail}; in float64 too ({check.detail}, max dev {check.max_rel_dev:.2g}): "
            "the mathematics, not the precision",
            budget,
        )
    float64_agrees = f"the same backend and mode agree in float64 (max dev {check.max_rel_dev:.2g})"
    if agr.agrees:
        noisy = (
            f"{_further(budget, dtype)}, within the tolerance, and {float64_agrees}: "
            f"{dtype} rounding of its own (e.g. another summation order)"
        )
        return Judgement(Verdict.NOISY, agr, "; ".join(d for d in (noisy, named) if d), budget)
    precision = (
        f"{dtype} max dev {agr.max_rel_dev:.2g} over tolerance {agr.tol:.2g} from step "
        f"{agr.first_bad_step}, while {float64_agrees}: {dtype} rounding, e.g. in reductions "
        f"over N·D = {n_elements} terms less accurate than pairwise summation"
    )
    return Judgement(Verdict.IMPRECISE, agr, "; ".join(d for d in (precision, named) if d), budget)


def _no_budget(traj: Trajectory, ref: Trajectory, baseline: Trajectory | None) -> str:
    """Why a float32 cell has no error budget (its row says so: only the worst-case
    tolerance judged it); empty for a run that diverged, where none is expected."""
    if traj.diverged_step or ref.diverged_step:
        return ""
    if baseline is None:
        return "no error budget: no autodiff framework to take the float32 baseline's gradient"
    return (
        "no error budget: every coordinate's reference gradient is at the noise floor from "
        "step 1, so only the worst-case tolerance judged it"
    )


def _further(budget, dtype: str) -> str:
    """The budget's finding as the reason says it."""
    return (
        f"{budget.ratio:.3g}× further from the float64 reference than {dtype} arithmetic on "
        f"this problem (max dev {budget.cell_dev:.2g} against {budget.baseline_dev:.2g}, "
        f"beyond {BUDGET:g}× from step {budget.first_step})"
    )
