"""What a results folder holds: the columns of summary.csv, trajectories.csv and
samples.csv in their documented order, how they are read back (``read_results``) and
checked (``check_values``), and the rows a run's trajectory and timed blocks become.
"""

from __future__ import annotations

import enum
from dataclasses import MISSING, fields
from pathlib import Path

import numpy as np

from gdbench.spec import RunSpec
from gdbench.timing.roofline import ROOFLINE_KINDS

# Each column's kind: what ``read_results`` reads it as and ``check_values`` accepts.
TEXT = "text"  # read back as text whatever it holds ("1", "nan", "True" …)
FLAG = "flag"  # True or False
COUNT = "count"  # a whole number ≥ 0
POSITIVE = "positive"  # a finite number > 0
NON_NEGATIVE = "non-negative"  # a finite number ≥ 0
NUMBER = "number"  # any number (a diverged run's loss may be inf)
_FIELD_KINDS = {"str": TEXT, "bool": FLAG, "int": COUNT, "float": POSITIVE}

# The cell: RunSpec's fields, in their order, each of the kind its type says.
SPEC_KINDS = {f.name: _FIELD_KINDS[str(f.type)] for f in fields(RunSpec)}
SPEC_COLUMNS = list(SPEC_KINDS)
# What a finished cell found, then how it was timed, then where and with what it ran.
OUTCOME_KINDS = {
    "status": TEXT,
    "reason": TEXT,
    "steps_run": COUNT,
    "diverged_step": NUMBER,
    "ref_diverged_step": NUMBER,
    "final_loss": NUMBER,
    "final_w": NUMBER,
    "final_w_norm": NUMBER,
    "max_rel_dev": NUMBER,
    "tol": NON_NEGATIVE,
    "first_bad_step": NUMBER,
    "agrees": FLAG,
    "verdict": TEXT,
    "tol_growth": NUMBER,
    # float32 cells: the float32 baseline's error, and the cell's over it (numerics.budget)
    "baseline_dev": NON_NEGATIVE,
    "error_ratio": NON_NEGATIVE,
    "noise_from_step": NUMBER,
    "reference": TEXT,
    "data_path": TEXT,
    "data_columns": TEXT,  # --data's feature columns, comma separated
    "optimizer_impl": TEXT,
    "optimizer_used": TEXT,
}
TIMING_KINDS = {
    "time_per_step_s": POSITIVE,
    "time_per_step_iqr_s": NON_NEGATIVE,
    "repeats": COUNT,
    "rounds": COUNT,
    "steps_per_block": COUNT,
    "compile_s": NON_NEGATIVE,
    "timing_warning": TEXT,
}
# timestamp stays last: a row cut off mid-line lacks it (``ResultWriter.keep_valid``).
ENVIRONMENT_KINDS = {
    "threads": COUNT,
    "malloc": TEXT,
    "host": TEXT,
    "worker": TEXT,
    "attempts": COUNT,
    "device_name": TEXT,
    "cpu_model": TEXT,
    "python": TEXT,
    "versions": TEXT,  # every backend's packages (``Backend.packages``), "numpy 2.4.6, …"
    "git_commit": TEXT,
    # what of the cell a plug-in added or replaced, with its file's hash (execution.rows)
    "plugins": TEXT,
    "timestamp": TEXT,
}
SUMMARY_COLUMNS = [*SPEC_COLUMNS, *OUTCOME_KINDS, *TIMING_KINDS, *ENVIRONMENT_KINDS]
TRAJECTORY_ID = [c for c in SPEC_COLUMNS if c != "steps"]
# trajectories.csv: one row per recorded step; w and grad, or w_i and grad_i per parameter,
# or beyond RECORDED_PARAMS parameters their Euclidean norms (w_norm, grad_norm): a column
# per parameter of the classifier's 1.9e6 would be 3.7e6 columns (gigabytes a run), and
# agreement is judged on the whole vectors in memory, never read back from this file.
RECORDED_PARAMS = 1024
TRAJECTORY_KINDS = {
    "step": COUNT,
    "loss": NUMBER,
    "w": NUMBER,
    "grad": NUMBER,
    "w_norm": NON_NEGATIVE,
    "grad_norm": NON_NEGATIVE,
}
# samples.csv: the raw timed blocks behind each row's median and IQR, one row per block.
SAMPLE_KINDS = {"round": COUNT, "block": COUNT, "steps_in_block": COUNT, "seconds": POSITIVE}
SAMPLE_COLUMNS = [*SPEC_COLUMNS, *SAMPLE_KINDS]
KINDS = {
    **SPEC_KINDS,
    **OUTCOME_KINDS,
    **TIMING_KINDS,
    **ENVIRONMENT_KINDS,
    **ROOFLINE_KINDS,
    **TRAJECTORY_KINDS,
    **SAMPLE_KINDS,
}
# Library versions as folders of before recorded them, one column each (``upgrade``).
OLD_VERSION_COLUMNS = ("numpy", "torch", "jax")


def kind_of(column: str) -> str | None:
    """A column's kind; a parameter column (w_3, grad_3) is a number; None: not gdbench's."""
    if column in KINDS:
        return KINDS[column]
    if column.startswith(("w_", "grad_")) and column.split("_")[-1].isdigit():
        return NUMBER
    return None


def columns_of(kind: str) -> list[str]:
    return [c for c, k in KINDS.items() if k == kind]


TEXT_COLUMNS = columns_of(TEXT)
FLAG_COLUMNS = tuple(columns_of(FLAG))
FLAGS = ("True", "False", "true", "false", "1", "0", "1.0", "0.0")


def flag(value) -> bool:
    """A flag as read back from a CSV (True, "True", "true", 1, "1.0" …) as a bool."""
    return str(value).strip().lower() in ("true", "1", "1.0")


class Status(enum.StrEnum):
    """What the ``status`` column holds: every status a row can have (the enum's values)."""

    OK = "ok"
    DIVERGED = "diverged"  # ran, and its loss or parameters left the finite range
    SKIPPED = "skipped"  # not run: no device, no counterpart in the library (the reason says)
    ERROR = "error"  # user code raised, a worker died, a time limit passed


STATUSES = tuple(s.value for s in Status)


def read_results(path: Path | str, text: str | None = None):
    """A CSV that gdbench wrote, as a DataFrame: empty cells are missing values, text
    columns stay text, and a folder of an earlier version is upgraded to this one's
    columns (``upgrade``). Every reader (resume, report, compare, later commands) goes
    through here; ``text``: the file's content, held in memory (``path`` is then only its
    name), so that a run kept in memory reads as the same run from its folder would."""
    import io

    import pandas as pd

    def source():
        return io.StringIO(text) if text is not None else path

    present = set(pd.read_csv(source(), nrows=0, encoding="utf-8").columns)
    old_text = [c for c in OLD_VERSION_COLUMNS if c in present]
    df = pd.read_csv(
        source(),
        keep_default_na=False,
        na_values=[""],
        dtype={c: str for c in [*TEXT_COLUMNS, *old_text] if c in present},
        encoding="utf-8",
    )
    return upgrade(unquote_formulas(df))


def text_columns(df) -> list[str]:
    """The columns of ``df`` that may hold text: gdbench's text columns, and columns it
    does not know (a report's own, compare's "timing") held as text; never a number's."""
    import pandas as pd

    def texts(col) -> bool:
        return col.dtype == object or pd.api.types.is_string_dtype(col)

    return [c for c in df.columns if kind_of(str(c)) in (TEXT, None) and texts(df[c])]


def unquote_formulas(df):
    """The text cells as they were before ``writer.spreadsheet_safe`` quoted them: one
    leading ' dropped where ' and a formula's first character begin the cell."""
    import re

    quoted_text = re.compile(r"^'+[=+\-@\t\r]")
    for c in text_columns(df):
        quoted = {v for v in df[c].unique() if isinstance(v, str) and quoted_text.match(v)}
        if quoted:
            df[c] = [v[1:] if v in quoted else v for v in df[c]]
    return df


def upgrade(df):
    """An earlier version's columns as this one's, in one place: the library versions of
    before (``numpy``, ``torch``, ``jax`` columns) become the ``versions`` column, a
    spec field a folder predates gets its default (older rows ran with it), the achieved
    rate's former name (``achieved_gflops``) reads as ``gflops``, and a spec
    field's empty text reads back as "", not as missing."""
    import pandas as pd

    if "problem" not in df.columns:
        return df
    old = [c for c in OLD_VERSION_COLUMNS if c in df.columns]
    if old and "versions" not in df.columns:
        values = zip(*(df[c].fillna("").astype(str) for c in sorted(old)), strict=True)
        joined = pd.Series(
            [
                ", ".join(f"{c} {v}" for c, v in zip(sorted(old), vs, strict=True) if v)
                for vs in values
            ],
            index=df.index,
            dtype=object,
        )
        df = df.drop(columns=old)
        at = df.columns.get_loc("python") + 1 if "python" in df.columns else len(df.columns)
        df.insert(at, "versions", joined)
    if "achieved_gflops" in df.columns and "gflops" not in df.columns:  # its name before
        df = df.rename(columns={"achieved_gflops": "gflops"})
    defaults = {f.name: f.default for f in fields(RunSpec)}
    columns = {}  # set at once: column by column, pandas fragments the frame and warns
    for name, value in defaults.items():
        if name not in df.columns and value is not MISSING:
            columns[name] = value
        elif name in df.columns and SPEC_KINDS[name] == TEXT:
            # An empty text field is "" in the spec, and must be in its key read back too
            # (the CSV reader reads an empty cell as missing).
            columns[name] = df[name].fillna("")
    return df.assign(**columns).copy()  # .copy() joins the blocks


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
    for col in df.columns:
        kind = kind_of(col)
        if kind is None or kind == TEXT:
            continue
        values = df[col]
        if kind == FLAG:
            bad = ~(values.isna() | values.astype(str).isin(FLAGS))
            if bad.any():
                refuse(col, int(np.argmax(bad.to_numpy())), "is not True or False")
            continue
        num = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
        given = ~values.isna().to_numpy()
        with np.errstate(invalid="ignore"):
            checks = [(given & np.isnan(num) & ~_nan_text(values), "is not a number")]
            if kind == COUNT:
                ok = np.isfinite(num) & (num >= 0) & (num == np.round(num))
                checks.append((given & ~ok, "is not a whole number ≥ 0"))
            elif kind == POSITIVE:
                checks.append((given & ~(np.isfinite(num) & (num > 0)), "is not a number > 0"))
            elif kind == NON_NEGATIVE:
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
    w / w_i and grad / grad_i, or their norms beyond ``RECORDED_PARAMS`` parameters."""
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
        elif flat.shape[1] > RECORDED_PARAMS:
            cols[f"{name}_norm"] = np.linalg.norm(flat, axis=1)
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
