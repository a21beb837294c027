"""Files as gdbench writes them: whole at once (a temporary file beside the target, renamed
onto it, never through a link planted there), text cells a spreadsheet would run as a
formula quoted, one line per text; and the new results folders they go to."""

from __future__ import annotations

import contextlib
import datetime
import os
import tempfile
from pathlib import Path

from gdbench.errors import one_line
from gdbench.results.schema import text_columns


def clean_text(value: str) -> str:
    """One line of text (``options.one_line``): a message can never break a CSV row."""
    return one_line(value)


class ResultsExist(Exception):
    """The output folder already holds results and would be overwritten."""


def new_run_dir(root: Path | str = "results", prefix: str = "run") -> Path:
    """A folder under ``root`` named by the UTC time, never one that already exists."""
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{prefix}-{stamp}"
    path, i = base, 1
    while path.exists():
        path = base.with_name(f"{base.name}-{i}")
        i += 1
    return path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _umask()


class ResultsWriteError(Exception):
    """A result file could not be written (a full disk, say); every earlier row is kept."""


# A text cell a spreadsheet would evaluate (OWASP's CSV injection: = + - @, a tab or a
# carriage return first) is written with a ' before it, as is one that already starts
# with ' before those, so that reading strips exactly one (``schema.read_results``).
FORMULA_START = r"^'*[=+\-@\t\r]"


def spreadsheet_safe(df):
    """``df`` with every text cell a spreadsheet would run as a formula quoted by a '.
    Each column's distinct values are looked at (a run repeats its names on every row),
    and the frame is copied only where one needs quoting."""
    import re

    risky_text = re.compile(FORMULA_START)
    out = df
    for c in text_columns(df):
        risky = {v for v in df[c].unique() if isinstance(v, str) and risky_text.match(v)}
        if not risky:
            continue
        if out is df:
            out = df.copy()
        out[c] = [("'" + v) if v in risky else v for v in df[c]]
    return out


def csv_text(df, **kwargs) -> str:
    """``df`` as gdbench writes CSV: no index, formulas quoted (``spreadsheet_safe``)."""
    return spreadsheet_safe(df).to_csv(index=False, **kwargs)


def atomic_csv(df, path: Path) -> None:
    _atomic_write(path, lambda fh: fh.write(csv_text(df)))


def atomic_text(path: Path, text: str) -> None:
    """``text`` as the whole of ``path`` (UTF-8), written as ``atomic_csv`` writes."""
    _atomic_write(Path(path), lambda fh: fh.write(text))


def atomic_bytes(path: Path, data: bytes) -> None:
    """``data`` as the whole of ``path`` (a figure's PNG), written as ``atomic_csv`` writes."""
    _atomic_write(Path(path), lambda fh: fh.write(data), binary=True)


def atomic_figure(fig, path: Path, **savefig) -> Path:
    """A matplotlib figure as PNG at ``path`` (``fig.savefig(**savefig)``, then written as
    ``atomic_csv`` writes: savefig itself would follow a link planted at ``path``)."""
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", **savefig)
    atomic_bytes(path, buffer.getvalue())
    return Path(path)


def _atomic_write(path: Path, write, binary: bool = False) -> None:
    """``write(fh)`` into a temporary file beside ``path``, renamed onto it when whole.

    No symbolic link is followed: ``mkstemp`` creates its file with ``O_EXCL`` (a planted
    link in its place is refused, never written through), and the rename replaces a link
    at ``path`` itself, not the file it points to. Every file gdbench writes in a results
    folder goes through here, so a shared or downloaded folder cannot make a run write
    outside it."""
    # A name of this writer's own: two writers can never share a temporary file (and the
    # folder lock keeps a second writer out in the first place).
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp's 0600 would hide the results from others
        opened = os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="")
        with opened as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)  # readers see the old file or the new one, never half of one
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise ResultsWriteError(
            f"cannot write {path} ({exc.strerror or exc}); the rows written before are kept "
            f"in {path.parent}, and --resume runs the rest"
        ) from None
