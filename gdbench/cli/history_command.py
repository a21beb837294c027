"""`gdbench history PATH…`: ``gdbench.history`` with its text on stdout, ``--csv``,
``--md``, ``--json`` and ``--html`` files, and the exit status of
``--fail-on-regression`` and ``--require-testable``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from gdbench.errors import UsageError


def main(args) -> int:
    from gdbench.api.history import history
    from gdbench.reports.compare import percent
    from gdbench.results.files import csv_text

    fail = percent(args.fail_on_regression, "--fail-on-regression")
    given = (("--csv", args.csv), ("--md", args.md), ("--json", args.json), ("--html", args.html))
    files = {flag: Path(p) for flag, p in given if p}
    for flag, path in files.items():
        check_writable(path, flag)
    hist = history(*args.paths, threshold=args.threshold)
    pct = None if fail is None else 100 * fail
    asked = pct is not None or args.require_testable
    print(repr(hist))
    write(
        files,
        {
            "--csv": lambda: csv_text(hist.events),
            "--md": lambda: hist.markdown(pct, args.require_testable),
            "--json": lambda: hist.json(pct, args.require_testable),
            "--html": hist.html,
        },
    )
    if not asked:
        return 0
    failing = hist.fails(pct, args.require_testable)
    print(f"fails on: {hist.policy(pct, args.require_testable)}")
    for line in failing:
        print(f"FAIL: {line}")
    return 1 if failing else 0


def write(files: dict[str, Path], texts: dict[str, Callable[[], str]]) -> None:
    """Each asked file, written whole or not at all; a one-line error where it cannot be."""
    from gdbench.results.files import atomic_text

    for flag, path in files.items():
        try:
            atomic_text(path, texts[flag]())
        except OSError as exc:
            raise UsageError(f"{flag} {path} cannot be written ({exc.strerror or exc})") from None
        print(f"{flag[2:]}: {path}")


def check_writable(path: Path, flag: str) -> None:
    """A file that can be written: not a folder, in a folder that exists."""
    if path.is_dir():
        raise UsageError(f"{flag} {path} is a folder; give a file name")
    if not path.parent.is_dir():
        raise UsageError(f"{flag} {path}: the folder {path.parent} does not exist")
