"""`gdbench compare OLD NEW`: two result folders (run or sweep, any mix), cell by cell.

Cells are matched by their key (the RunSpec: problem, backend, mode, device, dtype,
optimizer and its settings, sizes, data, seed, lr, steps); ``--ignore`` drops key columns
from the match, so that float32 can be set against float64 or cpu against cuda. Timing
changes are decided from the raw blocks in each folder's samples.csv
(``gdbench.reports.significance``); numerics from the rows' verdicts and deviations.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gdbench.errors import UsageError
from gdbench.execution.options import path_kind
from gdbench.numerics.verdict import Verdict
from gdbench.reports.ci_schema import failure
from gdbench.reports.significance import (
    NOT_TESTABLE,
    RANK_TEST,
    SEPARATION,
    Change,
    adjust,
    compare_rounds,
    separation,
    testability,
)
from gdbench.reports.table import number
from gdbench.results.schema import SPEC_COLUMNS, Status, flag, read_results

# What a row says about the environment that produced it; the header lists what differs.
ENV_COLUMNS = (
    "cpu_model",
    "device_name",
    "threads",
    "malloc",
    "python",
    "versions",
    "git_commit",
    "plugins",
)
REQUIRED = ("problem", "backend", "mode", "device", "dtype", "lr", "steps", "status")
IGNORABLE = ("backend", "mode", "device", "dtype", "optimizer", "seed", "lr", "steps", "data")
GOOD = (Verdict.AGREES, Verdict.NOISY, Verdict.IMPRECISE)


RESULT_FILES = ("summary.csv", "sweep.csv")  # what makes a folder a run's or a sweep's


@dataclass
class Side:
    """One folder's rows with each one's key (as matched, ``load``'s ``ignore`` applied),
    and per cell the time per step of each timed block."""

    folder: Path
    rows: list[dict]
    keys: list[tuple] = field(default_factory=list)
    samples: dict[tuple, list[np.ndarray]] = field(default_factory=dict)  # per round
    has_samples: bool = False


def _key(row: dict, ignore: tuple[str, ...]) -> tuple:
    from gdbench.results.schema import normal_key
    from gdbench.spec import RunSpec

    spec = RunSpec.from_row(row)
    if ignore:
        spec = RunSpec(**{**spec.asdict(), **dict.fromkeys(ignore, None)})
    return normal_key(
        tuple("" if v is None else v for v in (getattr(spec, f) for f in spec.__dataclass_fields__))
    )


def load(folder: Path | str, ignore: tuple[str, ...] = (), what: str = "compare") -> Side:
    """A run or sweep folder; a usage error (``what``: the command naming it) when it is
    not one gdbench wrote."""
    import pandas as pd

    folder = Path(folder)
    if path_kind(folder, what) != "dir":
        raise UsageError(f"{what}: {folder} is not a folder")
    found = [folder / n for n in RESULT_FILES if (folder / n).is_file()]
    if not found:
        raise UsageError(f"{what}: {folder} holds no gdbench results (no summary.csv or sweep.csv)")
    try:
        df = pd.concat([read_results(p) for p in found], ignore_index=True)
        missing = [c for c in REQUIRED if c not in df.columns]
        if missing:
            raise ValueError(f"no column {', '.join(missing)}")
        rows = df.to_dict("records")
        keys = [_key(r, ignore) for r in rows]
    except (OSError, ValueError, TypeError, KeyError, pd.errors.ParserError) as exc:
        raise UsageError(
            f"{what}: {found[0]} is not gdbench's ({type(exc).__name__}: {exc})"
        ) from None
    if len(set(keys)) != len(keys):
        hint = f" once {', '.join(ignore)} is ignored" if ignore else ""
        raise UsageError(f"{what}: {folder} has several cells with one key{hint}")
    side = Side(folder, rows, keys)
    path = folder / "samples.csv"
    if path.is_file():
        try:
            s = read_results(path)
            per = (s["seconds"].astype(float) / s["steps_in_block"].astype(float)).to_numpy()
            rounds = s["round"].to_numpy() if "round" in s else np.ones(len(s), dtype=int)
            cells = list(s.groupby(SPEC_COLUMNS, sort=False, dropna=False).indices.values())
            firsts = s.iloc[[idx[0] for idx in cells]][[c for c in SPEC_COLUMNS if c in s]]
            for idx, spec in zip(cells, firsts.to_dict("records"), strict=True):
                r = rounds[idx]  # the cell's blocks, per round, in order
                side.samples[_key(spec, ignore)] = [per[idx][r == k] for k in np.unique(r)]
        except (OSError, ValueError, TypeError, KeyError, pd.errors.ParserError) as exc:
            raise UsageError(
                f"{what}: {path} is not gdbench's ({type(exc).__name__}: {exc})"
            ) from None
        side.has_samples = True
    return side


def numeric_verdict(row: dict) -> str:
    """agrees / imprecise / disagrees / diverged-and-… / error / skipped / (not checked)."""
    status = str(row.get("status"))
    if status in (Status.SKIPPED, Status.ERROR):
        return status
    v = row.get("verdict")
    if isinstance(v, str) and v:
        return Verdict.of(v) or v
    agrees = flag(row.get("agrees"))  # folders from before verdicts
    return Verdict.AGREES if agrees else Verdict.DISAGREES


@dataclass
class Cell:
    """One matched cell: its rows on both sides and what changed."""

    key: tuple
    old: dict
    new: dict
    change: Change | None = None
    timing_note: str = ""

    @property
    def old_numerics(self) -> str:
        return numeric_verdict(self.old)

    @property
    def new_numerics(self) -> str:
        return numeric_verdict(self.new)

    @property
    def broke(self) -> bool:
        """It agreed (or was only imprecise) and now disagrees or fails."""
        return self.old_numerics in GOOD and self.new_numerics in (Verdict.DISAGREES, Status.ERROR)


@dataclass
class Comparison:
    old: Side
    new: Side
    threshold: float
    cells: list[Cell]
    unmatched: list[tuple[str, dict, str]]  # (side, row, reason)
    ignore: tuple[str, ...] = ()

    def env_differences(self) -> tuple[list[tuple[str, str, str]], list[str]]:
        """(column, old values, new values) where they differ, and the columns that agree."""
        diff, same = [], []
        for col in ENV_COLUMNS:
            vals = []
            for side in (self.old, self.new):
                seen = sorted({_show(r.get(col)) for r in side.rows} - {""})
                vals.append(", ".join(seen) or "–")
            if vals[0] != vals[1]:
                diff.append((col, vals[0], vals[1]))
            else:
                same.append(f"{col} {vals[0]}")
        return diff, same

    def failures(self, fail_above: float | None, require_testable: bool = False) -> list[dict]:
        """What fails CI, one dict each (cell, kind, ratio, low, high, line): with
        ``fail_above`` (a fraction), numerics that broke and cells slower by more than it
        (by the rank test or the rounds' separation); with ``require_testable``, cells
        timed on both sides whose timing no test could judge (too few rounds, no
        samples.csv)."""
        out = []
        for c in self.cells:
            name, ch = label(c.new), c.change
            if fail_above is not None and c.broke:
                line = f"{name}: {c.old_numerics} → {c.new_numerics}"
                out.append(failure(name, "numerics", line))
            if fail_above is not None and ch is not None and ch.slower_than(fail_above):
                line = f"{name}: {ch.ratio:.2f}× slower ({ch.why_slower()})"
                out.append(failure(name, "slower", line, ch.ratio, ch.low, ch.high))
            if not require_testable:
                continue
            if ch is not None and ch.verdict.startswith(NOT_TESTABLE):
                out.append(failure(name, "not testable", f"{name}: {ch.verdict}"))
            elif ch is None and c.timing_note.startswith("no samples.csv"):
                out.append(failure(name, "not testable", f"{name}: {c.timing_note}"))
        return out

    def fails(self, fail_above: float) -> list[str]:
        """The lines ``--fail-above`` (a fraction) exits 1 on (``failures``)."""
        return [f["line"] for f in self.failures(fail_above)]


def _show(v) -> str:
    f = number(v)
    if f is not None and float(f).is_integer() and not isinstance(v, str):
        return str(int(f))
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)


def label(row: dict) -> str:
    """A row's cell as every command names it (``RunSpec.label``)."""
    from gdbench.spec import RunSpec

    return RunSpec.from_row(normal_row(row)).label()


def normal_row(row: dict) -> dict:
    """Whole numbers read back as floats (20.0) given back as ints, for a label."""
    return {k: int(v) if isinstance(v, float) and v.is_integer() else v for k, v in row.items()}


def invalid_samples(rounds: list[np.ndarray]) -> str:
    """Why a cell's timed blocks cannot be tested (a NaN, a time that is not positive or
    not finite), or "" when they can."""
    values = np.concatenate(rounds) if rounds else np.array([])
    if np.isnan(values).any():
        return "a missing or NaN time"
    if not np.isfinite(values).all():
        return "an infinite time"
    if (values <= 0).any():
        return "a time that is not positive"
    return ""


def _timed_cell(cell: Cell, old: Side, new: Side, reasons: list, threshold: float, seed: int):
    """``cell`` with its timing compared (``change``), or the note that says why not."""
    o, n = cell.old, cell.new
    a, b = old.samples.get(cell.key), new.samples.get(cell.key)
    bad = [
        f"{side}'s samples.csv has {why}"
        for side, rounds in (("old", a), ("new", b))
        if rounds is not None
        for why in [invalid_samples(rounds)]
        if why
    ]
    if bad:  # a damaged file must not read as a change (or as none)
        cell.timing_note = "not comparable: " + "; ".join(bad)
    elif a is not None and b is not None and sum(map(len, a)) >= 2 and sum(map(len, b)) >= 2:
        cell.change = compare_rounds(a, b, threshold, seed=seed)
    elif number(o.get("time_per_step_s")) and number(n.get("time_per_step_s")):
        cell.timing_note = "no samples.csv: medians only, no test"
    elif reasons:
        cell.timing_note = "; ".join(reasons)
    else:
        cell.timing_note = "not timed"
    return cell


def compare(
    old: Side, new: Side, threshold: float = 0.05, ignore: tuple[str, ...] = (), seed: int = 0
) -> Comparison:
    """The two sides cell by cell, matched by the keys ``load`` gave them (with this
    ``ignore``)."""
    old_rows = dict(zip(old.keys, old.rows, strict=True))
    new_rows = dict(zip(new.keys, new.rows, strict=True))
    cells, unmatched = [], []
    for k, o in old_rows.items():
        if k not in new_rows:
            unmatched.append(("old", o, f"only in {old.folder}: not in {new.folder}"))
    for k, n in new_rows.items():
        if k not in old_rows:
            unmatched.append(("new", n, f"only in {new.folder}: not in {old.folder}"))
            continue
        o = old_rows[k]
        reasons = [
            f"{side} {r['status']}: {r.get('reason')}"
            for side, r in (("old", o), ("new", n))
            if r.get("status") in (Status.SKIPPED, Status.ERROR)
        ]
        if any(r.get("status") == Status.SKIPPED for r in (o, n)):
            if o.get("status") == n.get("status") == Status.SKIPPED and o.get("reason") == n.get(
                "reason"
            ):
                reasons = [f"skipped in both: {n.get('reason')}"]
            unmatched.append(("both", n, "; ".join(reasons)))
            continue
        cells.append(_timed_cell(Cell(k, o, n), old, new, reasons, threshold, seed))
    if not cells:
        raise UsageError(f"compare: {old.folder} and {new.folder} have no cell in common")
    tested = [(c, c.change) for c in cells if c.change is not None]
    changes = adjust([ch for _, ch in tested], threshold)
    for (c, _), adjusted in zip(tested, changes, strict=True):
        c.change = _decided(
            adjusted, len(changes), old.samples[c.key], new.samples[c.key], threshold
        )
    # Numerics that broke first, whatever their speed; then the slowest changes first.
    cells.sort(key=lambda c: (not c.broke, -(c.change.ratio if c.change else 0.0)))
    return Comparison(old, new, threshold, cells, unmatched, ignore)


def _decided(change: Change, cells: int, old: list, new: list, threshold: float) -> Change:
    """A verdict only where the data can support one: the rank test's where it can reach
    significance over ``cells`` (never from one round's blocks), else a separation of the
    rounds far outside both sides' spread, else "not testable" with what was given and
    what is needed (never "no change" where no change could have been shown)."""
    why = testability(change, cells)
    if not why:
        return dataclasses.replace(change, evidence=RANK_TEST)
    verdict, shown = separation(old, new, threshold)
    if verdict:
        return dataclasses.replace(change, verdict=verdict, evidence=SEPARATION, shown=shown)
    return dataclasses.replace(change, verdict=why, shown=shown)


def percent(value: str | None, what: str) -> float | None:
    """A percentage as a fraction: "5" or "5%" → 0.05."""
    if value is None:
        return None
    text = str(value).strip().removesuffix("%")
    try:
        f = float(text)
    except ValueError:
        f = float("nan")
    if not math.isfinite(f) or f < 0 or f >= 1000:
        raise UsageError(f"{what} must be a percentage, at least 0 and below 1000, got {value!r}")
    return f / 100


def parse_ignore(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    bad = [n for n in names if n not in IGNORABLE]
    if bad or not names:
        raise UsageError(f"--ignore takes key columns among {', '.join(IGNORABLE)}; got {value!r}")
    return names
