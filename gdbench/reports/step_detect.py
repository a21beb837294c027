"""Steps in a noisy series: a penalised, weighted least-squares fit of a piecewise-constant
level (optimal partitioning, exact), as asv's ``step_detect`` and PELT fit one.

The series is log(time per step) of one cell over runs. Each point carries its own
variance (its rounds or blocks), and the cell a noise floor of its own, from its history:
the run-to-run scatter that no single run's blocks show (``noise_floor``). A point's weight
is 1 / (its variance + the floor²), so a noisy cell needs a larger step than a stable one
to pay for the penalty of a change, ``PENALTY``·log(n) in units of χ².

``PENALTY`` is 6, three times BIC's 2 per change (a level and a place): a change is looked
for at every place, and a history fits many cells. Measured on seeded Gaussian series of
known variance (400 each), the share with a false step: 0.7% at n = 6, none at n = 20 or 100
(at 3, BIC-like and asv-like: 7.2%, 3.0% and 1.0%).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

PENALTY = 6.0  # per change, times log(n); see the module docstring
Z95 = 1.959963984540054  # the two-sided 95% normal quantile


@dataclass(frozen=True)
class Step:
    """A change of level between points ``at - 1`` and ``at`` (0-based): the level before
    and after (log scale) with their standard errors."""

    at: int
    before: float
    after: float
    se_before: float
    se_after: float

    @property
    def ratio(self) -> float:
        return math.exp(self.after - self.before)

    @property
    def interval(self) -> tuple[float, float]:
        half = Z95 * math.hypot(self.se_before, self.se_after)
        return math.exp(self.after - self.before - half), math.exp(self.after - self.before + half)


def noise_floor(y: np.ndarray) -> float:
    """The run-to-run scatter of a series (its standard deviation, robustly): 1.4826 × the
    median absolute successive difference / √2, which a step moves only once."""
    return noise_floor_of(np.abs(np.diff(np.asarray(y, dtype=float))))


def noise_floor_of(differences: np.ndarray) -> float:
    """``noise_floor`` from absolute successive differences already taken (some left out)."""
    d = np.asarray(differences, dtype=float)
    return float(1.4826 * np.median(d) / math.sqrt(2)) if len(d) else 0.0


def fit(y, var, penalty: float | None = None) -> list[Step]:
    """The steps of ``y`` (with per-point variances ``var``): the partition into segments of
    constant level that minimises the weighted squared residuals plus ``penalty`` per
    change (default ``PENALTY``·log(n))."""
    y = np.asarray(y, dtype=float)
    w = 1.0 / np.maximum(np.asarray(var, dtype=float), 1e-12)
    n = len(y)
    if n < 2:
        return []
    beta = PENALTY * math.log(n) if penalty is None else penalty
    # prefix sums: the cost of a segment [s, t) is Σw·y² − (Σw·y)² / Σw
    sw = np.concatenate([[0.0], np.cumsum(w)])
    swy = np.concatenate([[0.0], np.cumsum(w * y)])
    swy2 = np.concatenate([[0.0], np.cumsum(w * y * y)])
    best = np.zeros(n + 1)
    last = np.zeros(n + 1, dtype=int)
    best[0] = -beta
    for t in range(1, n + 1):
        s = np.arange(t)
        wsum = sw[t] - sw[s]
        cost = (swy2[t] - swy2[s]) - (swy[t] - swy[s]) ** 2 / wsum
        total = best[s] + cost + beta
        k = int(np.argmin(total))
        best[t], last[t] = total[k], k
    cuts = []
    t = n
    while t > 0:
        cuts.append(int(last[t]))
        t = last[t]
    bounds = [*sorted(cuts), n]  # segment starts, then the end
    levels = []
    for a, b in itertools.pairwise(bounds):
        total_w = sw[b] - sw[a]
        levels.append(((swy[b] - swy[a]) / total_w, 1 / math.sqrt(total_w)))
    return [
        Step(bounds[i], levels[i - 1][0], levels[i][0], levels[i - 1][1], levels[i][1])
        for i in range(1, len(levels))
    ]
