"""The loss curves of a run: one column per problem instance; above, the loss of every
cell (one line per cell, never two joined) and of its float64 reference; below, each
cell's distance from its reference, scaled by the reference's largest loss as the
agreement rule scales it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from gdbench.numerics.reference import REFERENCE
from gdbench.reports import legend
from gdbench.results.files import atomic_figure
from gdbench.results.schema import TRAJECTORY_ID

INSTANCE = ["problem", "data", "n_samples", "features", "seed", "problem_args"]
REFERENCE_KEY = [*INSTANCE, "lr", "optimizer", "optimizer_args"]


def loss_figure(traj: pd.DataFrame) -> Figure:
    """The figure for ``traj`` (trajectories.csv as ``read_results`` gives it)."""
    traj = traj.copy()
    for c in TRAJECTORY_ID:
        if c in traj and traj[c].dtype == object:
            traj[c] = traj[c].fillna("")
    instances = list(traj.groupby(INSTANCE, dropna=False, sort=False))
    fig = Figure(figsize=(6 * max(len(instances), 1), 7))
    axes = fig.subplots(2, max(len(instances), 1), squeeze=False, sharex="col")
    for col, (_, t) in enumerate(instances):
        _instance(axes[0][col], axes[1][col], t)
    fig.tight_layout()
    return fig


def _instance(top, bottom, t: pd.DataFrame) -> None:
    is_ref = t.backend == REFERENCE
    refs = {
        key: g.sort_values("step").set_index("step").loss
        for key, g in t[is_ref].groupby(REFERENCE_KEY, dropna=False, sort=False)
    }
    several = t.optimizer.nunique() > 1
    finite = t.loss[np.isfinite(t.loss)]
    log = bool(len(finite)) and bool((finite > 0).all())  # a plug-in's loss may be negative
    floor = 1e-300 if log else -np.inf
    keys = [c for c in TRAJECTORY_ID if c in t]
    for key, g in t[~is_ref].groupby(keys, dropna=False, sort=False):
        row = dict(zip(keys, key, strict=True))
        g = g.sort_values("step")
        opt = f"{row['optimizer']} " if several else ""
        name = f"{opt}{row['backend']}/{row['mode']} {row['device']} {row['dtype']}"
        top.plot(g.step, np.maximum(g.loss, floor), lw=1, label=name)
        ref = refs.get(tuple(row[c] for c in REFERENCE_KEY))
        if ref is not None and len(ref):
            dev = (g.set_index("step").loss - ref).abs() / ref.abs().max()
            dev = dev.dropna()
            bottom.plot(dev.index, np.maximum(dev.to_numpy(), 1e-17), lw=1, marker=".", label=name)
    for key, ref in refs.items():
        opt = f"{dict(zip(REFERENCE_KEY, key, strict=True))['optimizer']} " if several else ""
        top.plot(
            ref.index, ref, lw=2.5, ls="--", color="k", zorder=3, label=f"{opt}float64 reference"
        )
    first = t.iloc[0]
    size = f"N×D = {first.n_samples}×{first.features}" if first.n_samples else "no data"
    top.set(yscale="log" if log else "linear", ylabel="loss", title=f"{first.problem} ({size})")
    bottom.set(yscale="log", xlabel="step", ylabel="|loss − reference| / max |reference|")
    for ax in (top, bottom):
        ax.grid(True, which="both", alpha=0.3)
    legend.outside(top, fontsize=6)


def write_run_plot(folder) -> Path:
    """``loss_vs_step.png`` of a run folder (``report`` of a run, ``run --plots``)."""
    from gdbench.errors import UsageError
    from gdbench.results.schema import check_values, read_results

    path = Path(folder) / "trajectories.csv"
    try:
        traj = read_results(path)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise UsageError(f"{path}: cannot be read ({exc})") from None
    check_values(traj, path)
    return atomic_figure(
        loss_figure(traj), Path(folder) / "loss_vs_step.png", dpi=110, bbox_inches="tight"
    )
