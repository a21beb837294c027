"""Measures both sides of the float32 error budget (gdbench.numerics.budget) on this machine:

1. false alarms: every built-in problem but the classifier (whose default network is a
   training-sized one; its own tests check it) × optimizer × backend × mode in float32 (the
   command ``run --optimizer all --mode all --problem quadratic,linreg,logreg,rosenbrock,mlp
   --dtype float32 --no-timing``),
   each correct cell's error against the float64 reference over the float32 baseline's;
2. detection: the subtle mistakes of ``examples/subtle_mistakes.py`` and optax.adagrad
   with its own defaults, on every built-in problem.

    python bench/error_budget.py OUT_DIR [CORRECT_RUN]   # about 30 minutes on 2 cores

CORRECT_RUN: a folder that command already wrote (its summary.csv is read, not rerun).

Writes OUT_DIR/correct/ and OUT_DIR/mistakes/ (gdbench run folders), OUT_DIR/cells.csv
(one row per cell: its error, the baseline's, the raw ratio, the ratio with the floor, the
verdict) and prints the tables docs/agreement.md quotes. The raw ratio (no floor) is
there so that another floor can be judged from the same data.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

import gdbench
from gdbench.numerics.budget import BUDGET, floor
from gdbench.reports.render import markdown_table

ROOT = Path(__file__).resolve().parents[1]
MISTAKES = ROOT / "examples" / "subtle_mistakes.py"


def cells(summary: pd.DataFrame) -> pd.DataFrame:
    """Each judged float32 cell with its errors: ``cell_dev`` (over the compared steps,
    from the ratio and its denominator) and the raw ratio."""
    df = summary[summary.status.isin(["ok", "diverged"]) & (summary.dtype == "float32")].copy()
    n = (df.n_samples.fillna(0) * df.features.fillna(1)).clip(lower=1).astype(int)
    df["floor"] = [floor("float32", int(k)) for k in n]
    denominator = np.maximum(df.baseline_dev, df.floor)
    df["cell_dev"] = df.error_ratio * denominator
    df["raw_ratio"] = df.cell_dev / df.baseline_dev.where(df.baseline_dev > 0)
    keep = ["problem", "optimizer", "backend", "mode", "native_defaults", "baseline_dev"]
    keep += ["cell_dev", "raw_ratio", "floor", "error_ratio", "max_rel_dev", "tol", "verdict"]
    return df[keep]


def main(out: Path, done: Path | None = None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    if done is not None:
        correct = gdbench.load(done)
    else:
        correct = gdbench.run(
            problem=",".join(PROBLEMS),
            optimizer="all",
            mode="all",
            dtype="float32",
            timing=False,
            out=out / "correct",
        )
    wrong = gdbench.run(  # every backend: the mistaken ones, beside the correct ones
        plugin=[str(MISTAKES)],
        problem=",".join(PROBLEMS),
        optimizer="adam,adamw,rmsprop,momentum",
        dtype="float32",
        timing=False,
        out=out / "mistakes",
    )
    mistaken = [b for b, obj in gdbench.backends().items() if type(obj).__name__ == "Mistaken"]
    wrong.summary = wrong.summary[wrong.summary.backend.isin(mistaken)]
    adagrad = gdbench.run(
        problem=",".join(PROBLEMS),
        optimizer="adagrad",
        backend="jax",
        native_defaults=True,
        dtype="float32",
        timing=False,
        out=out / "optax-adagrad-native",
    )
    table = pd.concat(
        [
            cells(correct.summary).assign(side="correct"),
            cells(pd.concat([wrong.summary, adagrad.summary])).assign(side="mistake"),
        ]
    )
    table.to_csv(out / "cells.csv", index=False)
    text = tables(table)
    (out / "tables.md").write_text(text, encoding="utf-8")
    print(text)


PROBLEMS = ["quadratic", "linreg", "logreg", "rosenbrock", "mlp"]


def tables(table: pd.DataFrame) -> str:
    """The two tables docs/agreement.md quotes, as Markdown."""
    ok = table[table.side == "correct"]
    worst = ok.loc[ok.groupby("problem").error_ratio.idxmax()].set_index("problem")
    base = ok.groupby("problem").baseline_dev
    low, high = base.min(), base.max()
    rows = [
        [
            p,
            str(int((ok.problem == p).sum())),
            f"{low[p]:.2g}–{high[p]:.2g}",
            f"{worst.loc[p, 'error_ratio']:.3g} ({worst.loc[p, 'optimizer']}, "
            f"{worst.loc[p, 'backend']}/{worst.loc[p, 'mode']})",
            ", ".join(f"{v} {k}" for k, v in ok[ok.problem == p].verdict.value_counts().items()),
        ]
        for p in PROBLEMS
        if p in worst.index
    ]
    correct = markdown_table(
        ["problem", "cells", "baseline error", "largest error_ratio (cell)", "verdicts"], rows
    )
    bad = table[table.side == "mistake"]

    def said(r) -> str:
        how = ""
        if r.verdict == "disagrees":
            how = " (budget)" if r.max_rel_dev <= r.tol else " (tolerance)"
        return f"{r.error_ratio:.3g}: {r.verdict}{how}"

    lines = []
    for backend, g in bad.groupby("backend", sort=False):
        by = {r.problem: said(r) for r in g.itertuples()}
        name = "optax.adagrad, native defaults" if backend == "jax" else backend
        lines.append([name, *(by.get(p, "") for p in PROBLEMS)])
    mistakes = markdown_table(["mistake", *PROBLEMS], lines)
    return (
        f"Correct float32 cells ({len(ok)}; budget {BUDGET:g}):\n\n{correct}\n\n"
        f"Mistakes: error_ratio and verdict (what caught it):\n\n{mistakes}\n"
    )


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: python bench/error_budget.py OUT_DIR [CORRECT_RUN]")
    main(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) == 3 else None)
