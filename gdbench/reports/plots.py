"""The sweep's figures (matplotlib, PNG): time per step, roofline fraction and speed-up over
NumPy against N, and loss against step with every backend overlaid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure  # no pyplot: no global state, no display needed

from gdbench.numerics.reference import REFERENCE
from gdbench.reports import legend, table
from gdbench.results.files import atomic_figure
from gdbench.results.schema import flag

SERIES = ["problem", "optimizer", "backend", "mode", "device", "dtype", "features", "machine"]


def sweep_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A sweep folder's CSV as the report reads it. Folders written before the optimizer
    axis ran plain gradient descent; ``machine``
    (the host that ran a row) is what a cluster sweep's series are told apart by; a sweep
    over settings tells its problems apart by them (``table.problem_labels``), the bare
    name kept as ``problem_name``."""
    if "optimizer" not in df:
        df = df.assign(optimizer="sgd")
    host = df["host"].fillna("").astype(str) if "host" in df else ""
    df = df.assign(optimizer=df.optimizer.fillna("sgd"), machine=host, problem_name=df.problem)
    return df.assign(problem=problem_labelled(df, df))


def problem_labelled(df: pd.DataFrame, by: pd.DataFrame) -> pd.Series:
    """``df``'s problems labelled with the settings in which ``by``'s differ (read once per
    problem and setting: trajectories.csv has a row per step)."""
    name = df.get("problem_name", df.problem)
    if "problem_args" not in df or "problem_args" not in by or df.empty:
        return name
    pairs = by[["problem_name", "problem_args"]].drop_duplicates()
    keys = list(zip(pairs.problem_name, pairs.problem_args, strict=True))
    records = [{"problem": p, "problem_args": a} for p, a in keys]
    labels = dict(zip(keys, table.problem_labels(records), strict=True))
    return pd.Series(
        [labels.get(k, k[0]) for k in zip(name, df.problem_args, strict=True)], index=df.index
    )


def label(key: tuple, varying: set[str]) -> str:
    problem, optimizer, backend, mode, device, dtype, features, machine = key
    text = f"{backend}/{mode} {device}"
    if "problem" in varying:
        text = f"{problem} {text}"
    if "machine" in varying:
        text += f" on {machine}"
    if "optimizer" in varying:
        text = f"{optimizer} {text}"
    if "dtype" in varying:
        text += f" {dtype}"
    if "features" in varying:
        text += f" D={features}"
    return text


def timed(sweep: pd.DataFrame) -> pd.DataFrame:
    """Timed cells of generated (sized) instances, the ones a size axis applies to."""
    ok = sweep[(sweep.data == "generated") & sweep.time_per_step_s.notna()]
    return ok.sort_values("n_samples")


def _series(df: pd.DataFrame):
    varying = {
        c for c in ("problem", "optimizer", "dtype", "features", "machine") if df[c].nunique() > 1
    }
    for key, g in table.ordered_groups(df, SERIES):
        yield label(key, varying), g


def _cache_band(ax, sweep: pd.DataFrame) -> None:
    """Shades the sizes whose data fit in the CPU's last-level cache."""
    if "cache_resident" not in sweep or not sweep.cache_resident.notna().any():
        return
    cpu = sweep[(sweep.device == "cpu") & (sweep.data == "generated")]
    resident = cpu[cpu.cache_resident.map(flag)].n_samples
    if len(resident):
        ax.axvspan(
            cpu.n_samples.min() / 1.5,
            resident.max() * 1.5,
            color="0.92",
            zorder=0,
            label="data fit in CPU cache",
        )


def _size_axes():
    """A figure for a quantity against N, on a log N axis."""
    fig = Figure(figsize=(8, 5.5))
    return fig, fig.subplots()


def _finish_size_axes(fig, ax, path: Path, **labels) -> Path:
    ax.set(xscale="log", xlabel="N (samples)", **labels)
    ax.grid(True, which="both", alpha=0.3)
    # A sweep of problems without sizes (quadratic, rosenbrock) has nothing to plot.
    if legend.outside(ax) is None:
        ax.text(0.5, 0.5, "no timed cell of generated data", ha="center", transform=ax.transAxes)
    return _save(fig, path)


def time_per_step(sweep: pd.DataFrame, path: Path) -> Path:
    fig, ax = _size_axes()
    for name, g in _series(timed(sweep)):
        ax.errorbar(
            g.n_samples,
            g.time_per_step_s,
            yerr=g.time_per_step_iqr_s / 2,
            marker="o",
            ms=4,
            capsize=2,
            label=name,
        )
    return _finish_size_axes(
        fig,
        ax,
        path,
        yscale="log",
        ylabel="time per step (s)",
        title="Update-loop time per step (median; bars: IQR)",
    )


def roofline(sweep: pd.DataFrame, path: Path) -> Path:
    df = timed(sweep)
    fig, ax = _size_axes()
    _cache_band(ax, sweep)
    for name, g in _series(df[df.roofline_frac.notna()]):
        ax.plot(g.n_samples, g.roofline_frac, marker="o", ms=4, label=name)
    ax.axhline(1.0, color="k", lw=1)
    ax.axhline(0.5, color="k", lw=0.8, ls=":")
    return _finish_size_axes(
        fig,
        ax,
        path,
        yscale="log",
        ylabel="achieved / the cell's roof",
        title="Fraction of each cell's roof: min(GEMM rate, bandwidth × intensity)",
    )


def roofline_model(sweep: pd.DataFrame, limits: dict, path: Path) -> Path:
    """The roofline drawn as one: achieved GFLOP/s against arithmetic intensity (FLOP per
    byte of least traffic), log-log, each cell a point (its series joined in size order),
    under the measured roofs of the CPU: the GEMM rate per dtype (flat) and the memory and
    cache bandwidths (slope 1), from machine.json."""
    from gdbench.timing.machine_file import machine_hosts

    df = timed(sweep)
    if "gflops" in df and "flops_per_step" in df:
        # A folder of before the intensity column: flops over bytes, as it is defined.
        df = df.assign(intensity=df.flops_per_step / df.bytes_per_step)
        df = df[df.gflops.notna() & df.intensity.notna()]
    else:
        df = df.iloc[:0].assign(intensity=[], gflops=[])
    fig = Figure(figsize=(8, 5.5))
    ax = fig.subplots()
    markers = "os^Dv<>"  # the colour cycle has 10 colours: a marker apiece past them
    for i, (name, g) in enumerate(_series(df.sort_values("intensity"))):
        ax.plot(g.intensity, g.gflops, marker=markers[(i // 10) % 7], ms=4, label=name)
    lo = float(df.intensity.min()) / 3 if len(df) else 0.1
    hi = float(df.intensity.max()) * 3 if len(df) else 1e3
    x = np.geomspace(lo, hi, 200)
    hosts = machine_hosts(limits)
    for host, devices in hosts.items():
        where = f"{host} " if len(hosts) > 1 and host else ""
        for dev, b in devices.items():
            if not isinstance(b, dict) or dev != "cpu":
                continue
            peaks = [g["gflops"] for g in b.get("gemm", {}).values()] or [np.inf]
            top = max(peaks)
            for dtype, g in b.get("gemm", {}).items():
                ax.axhline(g["gflops"], color="k", lw=1.2, ls="-" if dtype == "float32" else "-.")
                label = f"{where}{dtype} GEMM {g['gflops']:.0f} GFLOP/s"
                ax.text(lo * 1.1, g["gflops"] * 1.04, label, va="bottom", fontsize=8)
            # The bandwidth roofs: the memory's, and the cache's where it was measured.
            slopes = (
                ("memory", "gbps", ".1f", "k", 1.2, "--"),
                ("cache", "cache_gbps", ".0f", "0.5", 1, ":"),
            )
            for what, key, form, color, lw, ls in slopes:
                if key in b:
                    label = f"{where}{what} {b[key]:{form}} GB/s × intensity"
                    ax.plot(x, np.minimum(b[key] * x, top), color=color, lw=lw, ls=ls, label=label)
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="arithmetic intensity (FLOP per byte of least traffic)",
        ylabel="achieved GFLOP/s (analytic FLOP count / time per step)",
        title="Roofline: achieved rate under the measured roofs (CPU)",
    )
    ax.grid(True, which="both", alpha=0.3)
    if legend.outside(ax) is None:
        ax.text(0.5, 0.5, "no timed cell with a FLOP count", ha="center", transform=ax.transAxes)
    return _save(fig, path)


def speedups(sweep: pd.DataFrame, baseline: tuple[str, str]) -> pd.DataFrame:
    """Each timed cell's speed-up over ``baseline`` (backend, mode) at the same problem, N,
    D and dtype: the printed table's definition (gdbench.reports.table.speedups), as a
    column."""
    df = timed(sweep).reset_index(drop=True)
    df["speedup"] = pd.Series(table.speedups(df.to_dict("records"), baseline), dtype=float)
    return df[df.speedup.notna()]


def speedup(sweep: pd.DataFrame, path: Path, baseline: tuple[str, str]) -> Path:
    df = speedups(sweep, baseline)
    fig, ax = _size_axes()
    base = (df.backend == baseline[0]) & (df["mode"] == baseline[1])
    for name, g in _series(df[~base]):
        ax.plot(g.n_samples, g.speedup, marker="o", ms=4, label=name)
    name = " ".join(baseline)
    ax.axhline(1.0, color="k", lw=1, label=name)
    return _finish_size_axes(
        fig,
        ax,
        path,
        yscale="log",
        ylabel=f"speed-up over {name} (same run)",
        title=f"Speed-up over {name}: above 1 is faster",
    )


def loss_vs_step(traj: pd.DataFrame, path: Path) -> Path:
    """One column per problem, at its largest instance: above, the loss of every run and of
    the reference; below, each run's deviation from the reference (scaled by the
    reference's largest loss, as the agreement rule does), where disagreement shows."""
    problems = list(dict.fromkeys(traj.problem))
    fig = Figure(figsize=(6 * len(problems), 8))
    axes = fig.subplots(2, len(problems), squeeze=False, sharex="col")
    for col, problem in enumerate(problems):
        t = traj[traj.problem == problem]
        n = t.n_samples.max()
        t = t[t.n_samples == n]
        several = t.optimizer.nunique() > 1
        sizes = t.features.nunique() > 1  # one line per cell: D apart, never joined
        top, bottom = axes[0][col], axes[1][col]
        # A log axis where every loss is positive (the built-ins'); a plug-in's loss may be
        # negative, and then the axis is linear and the values are drawn as they are.
        finite = t.loss[np.isfinite(t.loss)]
        log = bool(len(finite)) and bool((finite > 0).all())
        floor = 1e-300 if log else -np.inf
        keys = ["optimizer", "features", "backend", "mode", "device", "dtype"]
        for (optimizer, d, backend, mode, device, dtype), g in t.groupby(keys):
            prefix = (f"{optimizer} " if several else "") + (f"D={d} " if sizes else "")
            if backend == REFERENCE:
                top.plot(
                    g.step,
                    g.loss,
                    lw=2.5,
                    ls="--",
                    color="k",
                    zorder=3,
                    label=f"{prefix}float64 reference",
                )
                continue
            is_ref = (t.backend == REFERENCE) & (t.optimizer == optimizer) & (t.features == d)
            ref = t[is_ref].set_index("step").loss
            name = f"{prefix}{backend}/{mode} {device} {dtype}"
            top.plot(g.step, np.maximum(g.loss, floor), lw=1, label=name)
            dev = (g.set_index("step").loss - ref).abs() / ref.abs().max()
            bottom.plot(dev.index, np.maximum(dev.to_numpy(), 1e-17), lw=1, marker=".", label=name)
        size = f"N={n}" if n else "scalar w"
        top.set(
            yscale="log" if log else "linear",
            ylabel="loss",
            title=f"{problem} ({size}): every run overlaid",
        )
        bottom.set(yscale="log", xlabel="step", ylabel="|loss − reference| / max reference")
        for ax in (top, bottom):
            ax.grid(True, which="both", alpha=0.3)
        legend.outside(top, fontsize=6)
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    # bbox "tight": the legends beside the axes included
    return atomic_figure(fig, path, dpi=110, bbox_inches="tight")
