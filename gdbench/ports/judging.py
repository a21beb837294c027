"""A candidate's verdict, by gdbench's own rule: its float32 and float64 runs against the
float64 reference run of the user's module, float32's error budget measured on the
reference code run in float32 (``gdbench.numerics.verdict.judgement``).

The agreement rule needs to know whether the update is adaptive and how far it can move a
coordinate per step (``Optimizer.step_bound``); ``update_rule`` reads both from the
reference's ``torch.optim`` optimizer: Adam, AdamW, RMSprop and Adagrad by gdbench's own
bounds, SGD (with momentum or not) as not adaptive, any other class as adaptive with no
bound, which the detail says (a coordinate at the noise floor is then not compared).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gdbench import registry
from gdbench.numerics.verdict import Judgement, judgement
from gdbench.ports.recording import Recording


@dataclass(frozen=True)
class UpdateRule:
    """What the agreement rule asks of an optimizer (``adaptive``, ``step_bound``)."""

    name: str
    adaptive: bool
    bound: float
    known: bool = True

    def step_bound(self, hyper) -> float:
        return self.bound


ADAPTIVE = {"Adam": "adam", "AdamW": "adamw", "RMSprop": "rmsprop", "Adagrad": "adagrad"}


def update_rule(optimizer) -> tuple[UpdateRule, float]:
    """The rule and learning rate of a ``torch.optim`` optimizer (its first group's)."""
    group = optimizer.param_groups[0] if optimizer.param_groups else {}
    lr = float(group.get("lr", 0.0))
    kind = type(optimizer).__name__
    if kind == "SGD":
        return UpdateRule(kind, False, math.inf), lr
    if kind not in ADAPTIVE:
        return UpdateRule(kind, True, math.inf, known=False), lr
    betas = group.get("betas", (0.9, 0.999))
    hyper = {
        "beta1": float(betas[0]),
        "beta2": float(betas[1]),
        "alpha": float(group.get("alpha", 0.99)),
        "momentum": float(group.get("momentum", 0.0)),
        "centered": bool(group.get("centered", False)),
    }
    bound = registry.optimizers()[ADAPTIVE[kind]].step_bound(hyper) or math.inf
    return UpdateRule(kind, True, bound), lr


def judge(
    cand: dict[str, Recording],
    ref: dict[str, Recording],
    dtype: str,
    rule: UpdateRule,
    lr: float,
    growth: float,
    n_elements: int,
    layout: dict[str, slice],
) -> Judgement:
    """``cand`` and ``ref``: recordings by dtype ("float32", "float64"); ``ref`` float32 is
    the budget's baseline."""
    ref64 = ref["float64"].traj
    steps = ref64.steps
    found = judgement(
        cand[dtype].traj,
        ref64.in_range_of(dtype),
        dtype,
        steps,
        n_elements,
        rule,
        {},
        lr,
        growth,
        lambda: cand["float64"].traj,
        ref64,
        baseline=ref["float32"].traj if dtype == "float32" else None,
        layout=layout,
    )
    if not rule.known:
        note = f"{rule.name}: no step bound known, coordinates at the noise floor not compared"
        detail = "; ".join(d for d in (found.detail, note) if d)
        found = Judgement(found.verdict, found.agreement, detail, found.budget)
    return found
