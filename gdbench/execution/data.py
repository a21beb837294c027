"""The user's own data (``--data``): a CSV with a header, or an .npz holding X and y; or a
dataset that ships with a library, named ``sklearn:digits`` (scikit-learn's handwritten
digits, the ``digits`` extra).

Everything is checked when the run is planned, before any work: a missing or empty file,
a non-numeric or missing value (its row and column named), a wrong shape, labels that are
not binary for a problem that needs them. Each is a one-line usage error.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gdbench.errors import UsageError
from gdbench.execution.options import path_kind


@dataclass(frozen=True)
class DataFile:
    """A data file as a run uses it; ``key`` identifies it in a cell (content, not name)."""

    path: str
    target: str | None = None  # the target column of a CSV; None: the last one
    standardize: bool = False
    sha256: str = ""
    columns: tuple[str, ...] = ()  # --columns: the feature columns (default: all but the target)
    drop: tuple[str, ...] = ()  # --drop: columns left out

    @property
    def key(self) -> str:
        """The file's content and the columns chosen (another choice is other data)."""
        chosen = ""
        if self.columns or self.drop:
            text = repr((self.columns, self.drop)).encode()
            chosen = f"+columns:{hashlib.sha256(text).hexdigest()[:8]}"
        return f"file:{self.sha256[:16]}" + chosen + ("+standardized" if self.standardize else "")


@dataclass(frozen=True)
class Loaded:
    X: np.ndarray
    y: np.ndarray
    columns: tuple[str, ...]
    target: str
    note: str = ""  # what was done to the labels, said in the output


def digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# Datasets by name: what loads them, and their note. scikit-learn's 8×8 digits (1,797
# samples, 10 classes): pixel values 0–16, scaled to [0, 1] as its examples do.
NAMED = {"sklearn:digits": "scikit-learn's handwritten digits, 8×8 pixels scaled to [0, 1]"}


def _named(name: str) -> tuple[np.ndarray, np.ndarray, list[str], str]:
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise UsageError(
            f"--data {name}: needs scikit-learn (pip install 'gdbench[digits]')"
        ) from None
    X, y = load_digits(return_X_y=True)
    return (
        X.astype(np.float64) / 16.0,
        y.astype(np.float64),
        [f"pixel{j}" for j in range(64)],
        "digit",
    )


def open_data(
    path: str,
    target: str | None,
    standardize: bool,
    columns: tuple[str, ...] = (),
    drop: tuple[str, ...] = (),
) -> DataFile:
    """The file, checked to exist and be readable; its content hash (a named dataset's:
    of its arrays as loaded)."""
    if ":" in path and not Path(path).exists() and path.split(":")[0] in ("sklearn",):
        if path not in NAMED:
            raise UsageError(f"--data {path}: unknown dataset; named ones: {', '.join(NAMED)}")
        X, y, _, _ = _named(path)
        h = hashlib.sha256(X.tobytes() + y.tobytes()).hexdigest()
        return DataFile(path, target, standardize, h, tuple(columns), tuple(drop))
    p = Path(path)
    kind = path_kind(p, "--data")
    if kind != "file":
        raise UsageError(f"--data {path}: {'not a file' if kind != 'missing' else 'not found'}")
    if p.suffix.lower() not in (".csv", ".npz"):
        raise UsageError(
            f"--data {path}: a .csv with a header or an .npz with X and y "
            f"(or a named dataset: {', '.join(NAMED)})"
        )
    try:
        sha = digest(p)
    except OSError as exc:
        raise UsageError(f"--data {path}: {exc.strerror or exc}") from None
    return DataFile(str(p.resolve()), target, standardize, sha, tuple(columns), tuple(drop))


def choose_features(
    path, names: list[str], target: str, columns: tuple[str, ...], drop: tuple[str, ...]
) -> list[str]:
    """The feature columns: ``columns`` if given, else every one but the target, less
    ``drop``; a usage error naming a column the file lacks or the target among them."""
    for flag, listed in (("--columns", columns), ("--drop", drop)):
        missing = [c for c in listed if c not in names]
        if missing:
            raise UsageError(f"{flag} {missing[0]!r} is not a column of {path}: {', '.join(names)}")
    if target in columns:
        raise UsageError(f"--columns names the target {target!r}; it cannot be a feature")
    features = list(columns) if columns else [c for c in names if c != target]
    features = [c for c in features if c not in drop]
    if not features:
        raise UsageError(f"--data {path}: no feature column is left (--columns, --drop)")
    return features


def target_like(X: np.ndarray, features: list[str], target: str) -> str:
    """A warning for a feature column that looks like a second target: 0/1 values only
    while the target has more, or a name like the target's; "" when none."""

    def stem(name: str) -> str:
        return "".join(ch for ch in name.lower() if ch.isalpha())

    for j, c in enumerate(features):
        if stem(c) and stem(c) == stem(target):
            return f"column {c!r} is named like the target {target!r}: --drop {c} if it is one"
        values = np.unique(X[:, j])
        if len(values) <= 2 and set(values.tolist()) <= {0.0, 1.0} and len(X) > 2:
            return (
                f"column {c!r} holds only 0 and 1 (a label?): it is a feature here; "
                f"--drop {c} if it is a second target"
            )
    return ""


def _read_csv(path: Path, target: str | None) -> tuple[np.ndarray, np.ndarray, list[str], str]:
    import pandas as pd

    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except pd.errors.EmptyDataError:
        raise UsageError(f"--data {path}: the file is empty") from None
    except (UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise UsageError(f"--data {path}: not a CSV ({exc})") from None
    if df.shape[0] == 0:
        raise UsageError(f"--data {path}: a header but no rows")
    if df.shape[1] < 2:
        raise UsageError(f"--data {path}: needs at least one feature column and a target")
    columns = [str(c) for c in df.columns]
    tcol = target if target is not None else columns[-1]
    if tcol not in columns:
        raise UsageError(f"--target {tcol!r} is not a column of {path}: {', '.join(columns)}")
    # One conversion for the whole table (one per column took 6.5 s for 200 × 5000 values).
    text = np.strings.strip(df.to_numpy(dtype=str))
    values = (
        pd.to_numeric(pd.Series(text.ravel()), errors="coerce")
        .to_numpy(dtype=np.float64)
        .reshape(text.shape)
    )
    bad = np.argwhere(~np.isfinite(values.T))  # column by column, as a reader scans them
    if len(bad):
        j, i = (int(k) for k in bad[0])
        what = "missing" if text[i, j] == "" else f"not a finite number ({str(text[i, j])!r})"
        raise UsageError(
            f"--data {path}: row {i + 2} (line {i + 2} of the file), column {columns[j]!r}: {what}"
        )
    return values, values[:, columns.index(tcol)], columns, tcol


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray, list[str], str]:
    try:
        # Opened here, so that a file numpy cannot parse is closed all the same.
        with open(path, "rb") as fh:
            z = np.load(fh, allow_pickle=False)
            if not isinstance(z, np.lib.npyio.NpzFile):
                raise UsageError(
                    f"--data {path}: holds a single array (an .npy), not arrays X and y"
                )
            if "X" not in z or "y" not in z:
                raise UsageError(f"--data {path}: an .npz needs arrays X and y, has {list(z)}")
            X, y = np.asarray(z["X"]), np.asarray(z["y"])
    except UsageError:
        raise
    except Exception as exc:  # empty (EOFError), corrupt (BadZipFile), renamed (TypeError) …
        why = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
        raise UsageError(f"--data {path}: not a readable .npz ({why})") from None
    if X.ndim != 2 or y.ndim != 1 or len(X) != len(y) or len(y) == 0 or X.shape[1] == 0:
        raise UsageError(f"--data {path}: X must be (N, D) and y (N,), got {X.shape} and {y.shape}")
    try:
        X, y = X.astype(np.float64), y.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"--data {path}: not numeric ({exc})") from None
    for name, a in (("X", X), ("y", y)):
        bad = np.argwhere(~np.isfinite(a))
        if len(bad):
            raise UsageError(f"--data {path}: {name}{tuple(bad[0])} is not a finite number")
    return X, y, [f"x{j}" for j in range(X.shape[1])], "y"


@functools.lru_cache(maxsize=4)
def load(source: DataFile, binary: bool) -> Loaded:
    """X and y as float64; labels mapped to 0/1 where ``binary``; standardised if asked."""
    path = Path(source.path)
    if source.path in NAMED:
        X, y, columns, target = _named(source.path)
        if source.columns or source.drop:
            features = choose_features(path, columns, target, source.columns, source.drop)
            X = X[:, [columns.index(c) for c in features]]
            columns = features
    elif path.suffix.lower() == ".npz":
        X, y, columns, target = _read_npz(path)
        if source.columns or source.drop:
            features = choose_features(path, columns, target, source.columns, source.drop)
            X = X[:, [columns.index(c) for c in features]]
            columns = features
    else:
        table, y, names, target = _read_csv(path, source.target)
        columns = choose_features(path, names, target, source.columns, source.drop)
        X = table[:, [names.index(c) for c in columns]]
    notes = [target_like(X, columns, target)]
    if binary:
        labels = np.unique(y)
        if len(labels) != 2:
            shown = ", ".join(f"{v:g}" for v in labels[:5]) + (" …" if len(labels) > 5 else "")
            raise UsageError(
                f"--data {path}: labels must take two values for this problem, "
                f"{target!r} has {len(labels)} ({shown})"
            )
        if not np.array_equal(labels, [0.0, 1.0]):
            notes.insert(0, f"labels {labels[0]:g} → 0 and {labels[1]:g} → 1")
        y = (y == labels[1]).astype(np.float64)
    if source.standardize:
        sd = X.std(axis=0)
        if np.any(sd == 0):
            col = columns[int(np.argmax(sd == 0))]
            raise UsageError(f"--standardize: column {col!r} of {path} is constant")
        X = (X - X.mean(axis=0)) / sd
        if not binary:
            y = y - y.mean()  # a regression target is centred, as the model has no bias
    note = "; ".join(n for n in notes if n)
    return Loaded(X, y, tuple(columns), target, note)
