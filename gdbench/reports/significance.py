"""Did a cell get slower? Two sets of raw block times, a ratio, an interval and a test.

The decision follows asv and pyperf rather than pytest-benchmark's compare table: it is
taken from the raw samples (time per step of each timed block), never from two medians.

The unit of the test is the **round** when both sides have at least ``MIN_ROUNDS`` of them
(``--rounds``: each round times the cell again in a fresh process, after every other cell),
and the block otherwise. Blocks of one round are consecutive, within a fraction of a second
of one process: their spread is the within-run noise only. Two runs of the same code on a
shared machine differ by far more (up to 2× per cell on this project's CI machine, where the
block-level test called 15 of 20 cells of an A/A comparison changed); a round's median is one
draw of that run-to-run variation, as pyperf's worker processes are.

- ratio: median(new) / median(old) of the units (per-round medians, or blocks), per step;
- interval: 95% bootstrap percentile interval of that ratio, resampling the units of each
  side independently (``scipy.stats.bootstrap``, 2000 resamples, fixed seed);
- test: two-sided Mann–Whitney U on the two sets of units (``scipy.stats.mannwhitneyu``),
  which assumes no distribution: block times are skewed, with a tail of slow blocks;
- verdict: *slower* / *faster* when p < ``ALPHA`` **and** the ratio is beyond the threshold
  (``1 + threshold`` or ``1 - threshold``); otherwise *no significant change*.
- too few rounds for the test (fewer than ``MIN_ROUNDS`` a side, or too few for any lone
  change to stay significant over the comparison's cells): ``separation`` still calls a
  change that lies far outside both sides' spread, from ``SEPARATION_ROUNDS`` rounds a
  side: every new round beyond every old one by more than the larger side's spread
  (max/min of its rounds), than the threshold and than ``SEPARATION_FLOOR`` (2×). The
  floor is the run-to-run shift that the rounds of one run do not show: they share the
  run's machine state, and two runs of the same code differ by up to 2× per cell on this
  project's 2-core machines. Measured on 12 default runs with ``--rounds 3`` (AMD EPYC,
  ``bench/history_trials.py``): of the 132 ordered pairs of them, 12 had a cell called
  slower without the floor, none with it; against 10 runs whose NumPy waited 20 µs a
  step, every one of 65 pairs was caught (196 of 325 NumPy cells);
- many cells: ``adjust`` replaces each p by its Benjamini–Hochberg adjusted value over the
  cells of one comparison (``scipy.stats.false_discovery_control``). Without it a default
  suite of 20 cells would call about one cell changed in every comparison of identical
  runs, and ``--fail-above`` would fail CI half the time; with it, a comparison where
  nothing changed calls anything changed at most ALPHA of the time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gdbench.timing.timer import median_iqr

ALPHA = 0.05
MIN_ROUNDS = 4  # Mann–Whitney's smallest two-sided p for 4 against 4 is 0.029 < ALPHA
RESAMPLES = 2000
CONFIDENCE = 0.95

SEPARATION_ROUNDS = 3  # the fewest rounds a side ``separation`` judges from
SEPARATION_FLOOR = 2.0  # the least ratio it calls a change (see the module docstring)

SLOWER, FASTER, SAME = "slower", "faster", "no significant change"
NOT_TESTABLE = "not testable with these rounds"
# What a decision rests on (``Change.evidence``)
RANK_TEST, SEPARATION = "rank test", "separation"


def smallest_p(n_old: int, n_new: int) -> float:
    """Mann–Whitney's smallest two-sided p for ``n_old`` against ``n_new`` units (every one
    of one side beyond every one of the other): 2 / C(n_old + n_new, n_old)."""
    return min(1.0, 2 / math.comb(n_old + n_new, n_old))


def floor_p(n_old: int, n_new: int, cells: int) -> float:
    """The smallest adjusted p a lone change can reach among ``cells`` tested cells
    (Benjamini–Hochberg multiplies the smallest p of m by m)."""
    return min(1.0, smallest_p(n_old, n_new) * max(cells, 1))


def rounds_needed(cells: int) -> int:
    """The rounds a side that let a lone change among ``cells`` reach p < ALPHA."""
    n = MIN_ROUNDS
    while floor_p(n, n, cells) >= ALPHA:
        n += 1
    return n


def testability(change: Change, cells: int) -> str:
    """Why ``change`` cannot support a verdict of the rank test among ``cells`` tested
    cells, or "": blocks of one round (within-run noise only), or too few rounds for any
    lone change to reach significance after the adjustment. It says what was given and
    what is needed."""
    needed = rounds_needed(cells)
    given = f"{change.rounds_old} and {change.rounds_new} rounds given"
    if change.unit == "blocks":
        why = f"{given}, {needed} a side needed over {cells} cells"
        if min(change.rounds_old, change.rounds_new) < 2:
            why += " (blocks of one round show within-run noise only)"
        return f"{NOT_TESTABLE}: {why}"
    floor = floor_p(change.n_old, change.n_new, cells)
    if floor >= ALPHA:
        return (
            f"{NOT_TESTABLE}: {given}, {needed} a side needed over {cells} cells (adjusted "
            f"p cannot go below {floor:.2g})"
        )
    return ""


def separation(old: list, new: list, threshold: float) -> tuple[str, str]:
    """(SLOWER or FASTER, what shows it) where the rounds of the two sides lie far apart
    (see the module), or ("", why not)."""
    if min(len(old), len(new)) < SEPARATION_ROUNDS:
        return "", f"separation needs {SEPARATION_ROUNDS} rounds a side"
    a = np.array([np.median(r) for r in old], dtype=float)
    b = np.array([np.median(r) for r in new], dtype=float)
    spread = max(a.max() / a.min(), b.max() / b.min())
    sides = f"either side's spread ({a.max() / a.min():.3g}×, {b.max() / b.min():.3g}×)"
    if b.min() / a.max() >= max(spread, 1 + threshold, SEPARATION_FLOOR):
        gap = b.min() / a.max()
        return (
            SLOWER,
            f"every new round slower than every old one by {gap:.3g}×, beyond 2× and {sides}",
        )
    if a.min() / b.max() >= max(spread, 1 / (1 - min(threshold, 0.99)), SEPARATION_FLOOR):
        gap = a.min() / b.max()
        return (
            FASTER,
            f"every new round faster than every old one by {gap:.3g}×, beyond 2× and {sides}",
        )
    return "", f"no separation beyond 2× and {sides}"


@dataclass(frozen=True)
class Change:
    """The comparison of one cell's timings; times are seconds per step."""

    old_median: float
    old_iqr: float
    new_median: float
    new_iqr: float
    n_old: int
    n_new: int
    ratio: float
    low: float  # the ratio's confidence interval
    high: float
    p_value: float
    verdict: str
    unit: str = "blocks"  # what n_old, n_new and the statistics count: "rounds" or "blocks"
    p_adjusted: float | None = None  # over the comparison's cells (``adjust``)
    # The smallest ratio that could be called a change here: every new unit beyond every
    # old one (old's spread, max/min) and beyond the threshold.
    detectable: float = math.nan
    rounds_old: int = 1  # the rounds each side had (``n_old`` counts the units tested)
    rounds_new: int = 1
    evidence: str = ""  # RANK_TEST or SEPARATION where a verdict was taken, else ""
    shown: str = ""  # what the separation saw, where it decided

    @property
    def p(self) -> float:
        """The p-value decisions use: adjusted where a comparison of many cells set it."""
        return self.p_value if self.p_adjusted is None else self.p_adjusted

    def slower_than(self, threshold: float) -> bool:
        """Slower by more than ``threshold`` (0.05 for 5%): significantly by the rank
        test, or by the rounds' separation."""
        shown = self.p < ALPHA or self.evidence == SEPARATION
        return self.verdict == SLOWER and shown and self.ratio > 1 + threshold

    def why_slower(self) -> str:
        """The evidence of a slower verdict, for a FAIL line."""
        if self.evidence == SEPARATION:
            return f"separation: {self.shown}"
        return f"adjusted p = {self.p:.2g}"


def decide(ratio: float, p: float, threshold: float) -> str:
    if p < ALPHA and ratio > 1 + threshold:
        return SLOWER
    if p < ALPHA and ratio < 1 - threshold:
        return FASTER
    return SAME


def adjust(changes: list[Change], threshold: float) -> list[Change]:
    """The changes of one comparison with Benjamini–Hochberg adjusted p-values, and their
    verdicts taken again from those."""
    from dataclasses import replace

    from scipy import stats

    if not changes:
        return []
    q = stats.false_discovery_control([c.p_value for c in changes], method="bh")
    return [
        replace(c, p_adjusted=float(qi), verdict=decide(c.ratio, float(qi), threshold))
        for c, qi in zip(changes, q, strict=True)
    ]


def _ratio_of_medians(old, new, axis=-1):
    return np.median(new, axis=axis) / np.median(old, axis=axis)


def units(rounds: list, other: list) -> tuple[np.ndarray, str]:
    """The values tested for one side: per-round medians when both sides have enough
    rounds, else every block pooled."""
    if len(rounds) >= MIN_ROUNDS and len(other) >= MIN_ROUNDS:
        return np.array([np.median(r) for r in rounds], dtype=float), "rounds"
    return np.concatenate([np.asarray(r, dtype=float) for r in rounds]), "blocks"


def compare_rounds(
    old: list, new: list, threshold: float = 0.05, seed: int = 0, resamples: int = RESAMPLES
) -> Change:
    """``old`` and ``new``: per round, the times per step of its blocks."""
    from dataclasses import replace

    a, unit = units(old, new)
    b, _ = units(new, old)
    change = compare_samples(a, b, threshold, seed, resamples, unit)
    return replace(change, rounds_old=len(old), rounds_new=len(new))


def compare_samples(
    old,
    new,
    threshold: float = 0.05,
    seed: int = 0,
    resamples: int = RESAMPLES,
    unit: str = "blocks",
) -> Change:
    """``old`` and ``new``: times per step, one per unit (at least 2 each)."""
    from scipy import stats

    old = np.asarray(old, dtype=float)
    new = np.asarray(new, dtype=float)
    if old.size < 2 or new.size < 2:
        raise ValueError("a comparison needs at least two timed blocks on each side")
    ratio = float(_ratio_of_medians(old, new))
    p = float(stats.mannwhitneyu(old, new, alternative="two-sided").pvalue)
    ci = stats.bootstrap(
        (old, new),
        _ratio_of_medians,
        n_resamples=resamples,
        confidence_level=CONFIDENCE,
        method="percentile",
        vectorized=True,
        paired=False,
        rng=np.random.default_rng(seed),
    ).confidence_interval
    verdict = decide(ratio, p, threshold)
    spread = float(old.max() / old.min()) if old.min() > 0 else math.inf
    return Change(
        old_median=float(np.median(old)),
        old_iqr=median_iqr(old)[1],
        new_median=float(np.median(new)),
        new_iqr=median_iqr(new)[1],
        n_old=int(old.size),
        n_new=int(new.size),
        ratio=ratio,
        low=float(ci.low),
        high=float(ci.high),
        p_value=p,
        verdict=verdict,
        unit=unit,
        detectable=max(1 + threshold, spread),
    )
