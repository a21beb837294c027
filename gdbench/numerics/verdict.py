"""The verdict of a run: agrees, imprecise or disagrees, and the sentence that explains it.

A run is judged against its float64 reference (``agreement.judge``). A float32 run outside
the tolerance is run again in float64 by the same backend and mode: if that agrees, the
float32 deviation is the precision (``imprecise``); a wrong gradient or update disagrees
in float64 too (``disagrees``). ``judgement`` is the one place that decides; the exit
status, the tables and ``compare`` read its ``Verdict``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from gdbench.numerics.agreement import Agreement, judge
from gdbench.trajectory import Trajectory


class Verdict(enum.StrEnum):
    """What ``summary.csv``'s ``verdict`` column holds (the enum's values)."""

    AGREES = "agrees"
    IMPRECISE = "imprecise"  # float32 rounding: the same backend and mode agree in float64
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
) -> Judgement:
    """The verdict of ``traj`` against ``ref`` (the float64 reference cut to the dtype's
    range), with ``again_in_float64()`` run only for a float32 run outside the tolerance
    and judged against ``ref64``. ``named`` lists the hyperparameters in which the library
    differs from gdbench's specification (native defaults), empty when none."""
    agr = judge(traj, ref, dtype, steps, n_elements, optimizer, hyper, lr, growth)
    detail = "; ".join(d for d in (agr.detail, named) if d)
    if named and agr.agrees:  # agreeing despite them is worth knowing too
        detail = f"within tolerance although {named}"
    if agr.agrees or dtype == "float64":
        return Judgement(Verdict.AGREES if agr.agrees else Verdict.DISAGREES, agr, detail)
    check = judge(
        again_in_float64(), ref64, "float64", steps, n_elements, optimizer, hyper, lr, growth
    )
    if not check.agrees:
        return Judgement(
            Verdict.DISAGREES,
            agr,
            f"{detail}; in float64 too ({check.detail}, max dev {check.max_rel_dev:.2g}): "
            "the mathematics, not the precision",
        )
    precision = (
        f"{dtype} max dev {agr.max_rel_dev:.2g} over tolerance {agr.tol:.2g} from step "
        f"{agr.first_bad_step}, while the same backend and mode agree in float64 (max dev "
        f"{check.max_rel_dev:.2g}): {dtype} rounding, e.g. in reductions over N·D = "
        f"{n_elements} terms less accurate than pairwise summation"
    )
    return Judgement(Verdict.IMPRECISE, agr, "; ".join(d for d in (precision, named) if d))
