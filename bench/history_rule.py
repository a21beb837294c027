"""How often ``history`` finds a step that is not there, and how often it finds one that
is, on seeded synthetic histories shaped like the committed one.

Each history has the default run's 20 cells; cell c's log(time per step) in run t is
run-to-run noise N(0, sd_c²) plus three rounds of within-run noise N(0, within_c²), the
point their mean and its variance theirs / 3, as ``history`` reads a run with
``--rounds 3``. sd_c and within_c are the 20 cells' own, measured on the eight runs of
``results/cpu-amd-epyc-2core/history`` made at one commit (runs 0–4 and 8–10): the
standard deviation of each cell's log time over them (0.05–0.27; the JAX MLP's time jumps
between two levels) and the median within-run spread (0.05–0.22).

The run-to-run part is what is left of the points' variance once a third of a round's is
taken out.

- A/A: TRIALS histories of n runs with no step; the share of histories with any timing
  event beyond THRESHOLD (a false step), and of cells.
- detection: a step of k× in every cell at the last run of n; the share of cells whose
  regression is reported at that run (by ``--fail-on-regression 10``).

    python bench/history_rule.py [TRIALS]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from gdbench.reports.history import timing_events
from gdbench.reports.history_fit import fits

COMMITTED = Path(__file__).parent.parent / "results" / "cpu-amd-epyc-2core" / "history"
SAME_COMMIT = [0, 1, 2, 3, 4, 8, 9, 10]
THRESHOLD = 0.10


def cell_noise() -> pd.DataFrame:
    import gdbench

    pts = gdbench.history(COMMITTED).points
    pts = pts[pts.run.isin(SAME_COMMIT)]
    out = []
    for cell, g in pts.groupby("cell"):
        y = np.log(g.time_per_step_s.to_numpy(float))
        within = np.sqrt(np.median(g.log_var.to_numpy(float)) * 3)  # one round's spread
        # the points' scatter holds a third of one round's variance: the rest is the run's
        run = np.sqrt(max(float(np.var(y, ddof=1)) - within**2 / 3, 0.0))
        out.append({"cell": cell, "sd": run, "within": float(within)})
    return pd.DataFrame(out)


def history(noise: pd.DataFrame, n: int, rng, step: float = 1.0) -> pd.DataFrame:
    rows = []
    for c in noise.itertuples():
        for t in range(n):
            level = c.sd * rng.standard_normal() + (np.log(step) if t == n - 1 else 0.0)
            rounds = level + c.within * rng.standard_normal(3)
            rows.append(
                {
                    "run": t,
                    "cell": c.cell,
                    "folder": f"run-{t}",
                    "time_per_step_s": float(np.exp(rounds.mean())),
                    "log_var": float(rounds.var(ddof=1) / 3),
                }
            )
    return pd.DataFrame(rows)


def events(pts: pd.DataFrame) -> pd.DataFrame:
    pts = pts.assign(when=0, commit="", label=pts.cell)
    return pd.DataFrame(timing_events(fits(pts), THRESHOLD), columns=["kind", "cell", "run_after"])


def main(trials: int = 200) -> None:
    noise = cell_noise()
    cells = len(noise)
    print(
        f"{cells} cells; sd {noise.sd.min():.3f}–{noise.sd.max():.3f}, "
        f"within {noise.within.min():.3f}–{noise.within.max():.3f}; {trials} histories each"
    )
    print("\n| runs | histories with a false step | cells with one |\n|---|---|---|")
    for n in (3, 4, 6, 20):
        rng = np.random.default_rng(n)
        flagged = [events(history(noise, n, rng)) for _ in range(trials)]
        histories = sum(len(e) > 0 for e in flagged)
        false_cells = sum(e.cell.nunique() for e in flagged)
        print(f"| {n} | {histories / trials:.1%} | {false_cells / (trials * cells):.2%} |")
    print("\n| runs | 1.25× | 2× | 5× |\n|---|---|---|---|")
    for n in (3, 4, 6):
        shares = []
        for k in (1.25, 2.0, 5.0):
            rng = np.random.default_rng(100 + n)
            found = 0
            for _ in range(max(trials // 4, 10)):
                e = events(history(noise, n, rng, step=k))
                found += ((e.kind == "regression") & (e.run_after == n - 1)).sum()
            shares.append(found / (max(trials // 4, 10) * cells))
        print(f"| {n} | " + " | ".join(f"{s:.0%}" for s in shares) + " |")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:2]))
