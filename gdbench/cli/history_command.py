"""`gdbench history PATH…`: ``gdbench.history`` with its text on stdout, ``--csv`` and
``--md`` and ``--html`` files, and ``--fail-on-regression``'s exit status."""

from __future__ import annotations

from pathlib import Path

from gdbench.errors import UsageError


def main(args) -> int:
    from gdbench.api.history import history
    from gdbench.reports.compare import percent

    fail = percent(args.fail_on_regression, "--fail-on-regression")
    given = (("--csv", args.csv), ("--md", args.md), ("--html", args.html))
    files = {flag: Path(p) for flag, p in given if p}
    for flag, path in files.items():
        _check_writable(path, flag)
    hist = history(*args.paths, threshold=args.threshold)
    print(repr(hist))
    texts = {
        "--csv": lambda: hist.events.to_csv(index=False),
        "--md": hist.markdown,
        "--html": hist.html,
    }
    for flag, path in files.items():
        try:
            path.write_text(texts[flag](), encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"{flag} {path} cannot be written ({exc.strerror or exc})") from None
        print(f"{flag[2:]}: {path}")
    if fail is None:
        return 0
    failing = hist.fails(100 * fail)
    for line in failing:
        print(f"FAIL: {line}")
    return 1 if failing else 0


def _check_writable(path: Path, flag: str) -> None:
    """A file that can be written: not a folder, in a folder that exists."""
    if path.is_dir():
        raise UsageError(f"{flag} {path} is a folder; give a file name")
    if not path.parent.is_dir():
        raise UsageError(f"{flag} {path}: the folder {path.parent} does not exist")
