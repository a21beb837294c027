"""What a results folder holds: the columns of summary.csv, trajectories.csv and
samples.csv in their documented order, how they are read back (``read_results``) and
checked (``check_values``), and the rows a run's trajectory and timed blocks become.
"""

from __future__ import annotations

import enum
from pathlib import Path

import numpy as np

SPEC_COLUMNS = [
    "problem",
    "backend",
    "mode",
    "device",
    "dtype",
    "optimizer",
    "optimizer_args",
    "native_defaults",
    "problem_args",
    "data",
    "n_samples",
    "features",
    "seed",
    "lr",
    "steps",
]
SUMMARY_COLUMNS = [
    *SPEC_COLUMNS,
    "status",
    "reason",
    "steps_run",
    "diverged_step",
    "ref_diverged_step",
    "final_loss",
    "final_w",
    "final_w_norm",
    "max_rel_dev",
    "tol",
    "first_bad_step",
    "agrees",
    "verdict",
    "tol_growth",
    "noise_from_step",
    "reference",
    "data_path",
    "optimizer_impl",
    "optimizer_used",
    "time_per_step_s",
    "time_per_step_iqr_s",
    "repeats",
    "rounds",
    "steps_per_block",
    "compile_s",
    "timing_warning",
    "threads",
    "malloc",
    "host",
    "worker",
    "attempts",
    "device_name",
    "cpu_model",
    "python",
    "numpy",
    "torch",
    "jax",
    "git_commit",
    "timestamp",
]


class Status(enum.StrEnum):
    """What the ``status`` column holds: every status a row can have (the enum's values)."""

    OK = "ok"
    DIVERGED = "diverged"  # ran, and its loss or parameters left the finite range
    SKIPPED = "skipped"  # not run: no device, no counterpart in the library (the reason says)
    ERROR = "error"  # user code raised, a worker died, a time limit passed


STATUSES = tuple(s.value for s in Status)
TRAJECTORY_ID = [c for c in SPEC_COLUMNS if c != "steps"]
# samples.csv: the raw timed blocks behind each row's median and IQR, one row per block.
SAMPLE_COLUMNS = [*SPEC_COLUMNS, "round", "block", "steps_in_block", "seconds"]
# Columns that hold text: read back as text whatever they hold ("1", "nan", "True" …), so
# that a message, a name or a version string survives the round trip unchanged.
TEXT_COLUMNS = [
    "problem",
    "backend",
    "mode",
    "device",
    "dtype",
    "optimizer",
    "optimizer_args",
    "problem_args",
    "data",
    "data_path",
    "verdict",
    "status",
    "reason",
    "reference",
    "optimizer_impl",
    "optimizer_used",
    "timing_warning",
    "malloc",
    "host",
    "worker",
    "device_name",
    "cpu_model",
    "python",
    "numpy",
    "torch",
    "jax",
    "git_commit",
    "timestamp",
    "bandwidth_method",
]


def read_results(path: Path | str):
    """A CSV that gdbench wrote, as a DataFrame: empty cells are missing values, text
    columns stay text. Every reader (resume, report, later commands) goes through here."""
    import pandas as pd

    present = set(pd.read_csv(path, nrows=0, encoding="utf-8").columns)
    return pd.read_csv(
        path,
        keep_default_na=False,
        na_values=[""],
        dtype={c: str for c in TEXT_COLUMNS if c in present},
        encoding="utf-8",
    )


# What a value of a numeric column may be, where it is not empty (``check_values``).
COUNT_COLUMNS = frozenset(
    [
        "n_samples",
        "features",
        "seed",
        "steps",
        "steps_run",
        "repeats",
        "rounds",
        "steps_per_block",
        "threads",
        "attempts",
        "step",
        "block",
        "steps_in_block",
    ]
)
POSITIVE_COLUMNS = frozenset({"lr", "time_per_step_s", "seconds"})
NON_NEGATIVE_COLUMNS = frozenset(
    [
        "time_per_step_iqr_s",
        "compile_s",
        "tol",
        "bytes_per_step",
        "flops_per_step",
        "achieved_gbps",
        "achieved_gflops",
        "bandwidth_gbps",
        "roofline_frac",
    ]
)
# Numbers of any value (a diverged run's loss may be inf), and the parameter columns.
NUMBER_COLUMNS = frozenset(
    [
        "loss",
        "final_loss",
        "final_w",
        "final_w_norm",
        "max_rel_dev",
        "w",
        "grad",
        "diverged_step",
        "ref_diverged_step",
        "first_bad_step",
        "tol_growth",
        "noise_from_step",
        "round",
    ]
)
FLAG_COLUMNS = ("native_defaults", "agrees", "cache_resident")
FLAGS = ("True", "False", "true", "false", "1", "0", "1.0", "0.0")


def check_values(df, path: Path | str) -> None:
    """A ``UsageError`` naming the first value of ``df`` (read by ``read_results``) that
    gdbench never writes: text in a numeric column, a count that is not a whole number
    ≥ 0, a time or rate ≤ 0 or not finite, a flag that is not True or False. Columns
    gdbench does not know are left alone. For readers that draw or compute from a folder
    (``report``); ``--resume`` sets damaged rows aside instead."""
    import pandas as pd

    from gdbench.errors import UsageError

    def refuse(col: str, i: int, why: str) -> None:
        v = df[col].iloc[i]
        v = v.item() if hasattr(v, "item") else v  # np.int64(-1) is shown as -1
        raise UsageError(
            f"{path}: row {i + 2}, column {col!r}: {v!r} {why} (not a file gdbench wrote, "
            "or damaged since)"
        )

    if len(df) == 0:
        raise UsageError(f"{path}: no rows")
    numeric = COUNT_COLUMNS | POSITIVE_COLUMNS | NON_NEGATIVE_COLUMNS | NUMBER_COLUMNS
    for col in df.columns:
        parameter = col.startswith(("w_", "grad_")) and col.split("_")[-1].isdigit()
        if col not in numeric and col not in FLAG_COLUMNS and not parameter:
            continue
        values = df[col]
        if col in FLAG_COLUMNS:
            bad = ~(values.isna() | values.astype(str).isin(FLAGS))
            if bad.any():
                refuse(col, int(np.argmax(bad.to_numpy())), "is not True or False")
            continue
        num = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
        given = ~values.isna().to_numpy()
        with np.errstate(invalid="ignore"):
            checks = [(given & np.isnan(num) & ~_nan_text(values), "is not a number")]
            if col in COUNT_COLUMNS:
                ok = np.isfinite(num) & (num >= 0) & (num == np.round(num))
                checks.append((given & ~ok, "is not a whole number ≥ 0"))
            elif col in POSITIVE_COLUMNS:
                checks.append((given & ~(np.isfinite(num) & (num > 0)), "is not a number > 0"))
            elif col in NON_NEGATIVE_COLUMNS:
                checks.append((given & ~(np.isfinite(num) & (num >= 0)), "is not a number ≥ 0"))
        for bad, why in checks:
            if bad.any():
                refuse(col, int(np.argmax(bad)), why)


def _nan_text(values) -> np.ndarray:
    """Cells that spell a missing or non-finite value (a diverged run's loss is written so)."""
    text = values.astype(str).str.strip().str.lower()
    return text.isin(["nan", "inf", "-inf", "+inf"]).to_numpy()


def recorded_steps(steps: int, every: int = 1) -> np.ndarray:
    """The 1-based steps a trajectory keeps with ``--record-every``: step 1, every
    ``every``-th step and the last (where a run ends, diverged or not)."""
    k = np.arange(1, steps + 1)
    return k[(k % every == 0) | (k == 1) | (k == steps)]


def trajectory_frame(spec_cols: dict, traj, every: int = 1):
    """One row per recorded step (``recorded_steps``): spec columns, step, loss, then
    w / w_i and grad / grad_i."""
    import pandas as pd

    steps = recorded_steps(traj.steps, every)
    n = len(steps)
    cols: dict[str, object] = {k: [v] * n for k, v in spec_cols.items()}
    cols["step"] = steps
    cols["loss"] = traj.loss[steps - 1]
    for name, arr in (("w", traj.w[steps - 1]), ("grad", traj.grad[steps - 1])):
        flat = arr.reshape(n, -1)
        if flat.shape[1] == 1:
            cols[name] = flat[:, 0]
        else:
            for i in range(flat.shape[1]):
                cols[f"{name}_{i}"] = flat[:, i]
    return pd.DataFrame(cols)


def samples_frame(spec_cols: dict, samples_s, steps_per_block: int, round_: int = 1):
    """One row per timed block: the cell's spec columns, the round (1 first: ``--rounds``),
    the block's index in its round (0 first), its number of steps and its wall time in
    seconds, as measured."""
    import pandas as pd

    n = len(samples_s)
    cols: dict[str, object] = {k: [v] * n for k, v in spec_cols.items()}
    cols["round"] = [int(round_)] * n
    cols["block"] = np.arange(n)
    cols["steps_in_block"] = [int(steps_per_block)] * n
    cols["seconds"] = np.asarray(samples_s, dtype=float)
    return pd.DataFrame(cols).reindex(columns=SAMPLE_COLUMNS)


def cell_key(row: dict) -> tuple:
    """The normalised RunSpec key of a CSV row."""
    from gdbench.spec import RunSpec

    return normal_key(RunSpec.from_row(row).key())


def normal_key(key: tuple) -> tuple:
    """Keys read back from CSV may hold floats where specs hold ints."""
    return tuple(
        int(v) if isinstance(v, float | np.floating) and float(v).is_integer() else v for v in key
    )
