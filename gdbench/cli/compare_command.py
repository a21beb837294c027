"""`gdbench compare OLD NEW`: ``gdbench.compare`` (``gdbench.api.comparison``) with its
text on stdout, its files with ``--out``, ``--json`` and ``--md``, and the exit status of
``--fail-above`` and ``--require-testable``."""

from __future__ import annotations

from pathlib import Path

from gdbench.cli.history_command import check_writable, write


def main(args) -> int:
    """The command: the table on stdout; compare.md, compare.csv and compare.png with
    ``--out``; exit 1 when a cell broke or slowed beyond ``--fail-above``, or (with
    ``--require-testable``) could not be judged."""
    from gdbench.api.comparison import compare
    from gdbench.execution.options import check_out

    out = Path(args.out) if args.out else None
    if out is not None:
        check_out(out)
    files = {flag: Path(p) for flag, p in (("--json", args.json), ("--md", args.md)) if p}
    for flag, path in files.items():
        check_writable(path, flag)
    cmp = compare(
        args.old, args.new, args.threshold, args.fail_above, args.ignore, args.require_testable
    )
    from gdbench.reports.compare_report import render

    print(render(cmp.comparison), end="")
    if out is not None:
        cmp.save(out)
        written = ["compare.md", "compare.csv"]
        written += ["compare.png"] if (out / "compare.png").exists() else []
        print(f"written to {out}: {', '.join(written)}")
    write(files, {"--json": cmp.json, "--md": cmp.markdown})
    if args.fail_above is None and not args.require_testable:
        return 0
    print(f"fails on: {cmp.policy()}")
    for line in cmp.fails:
        print(f"FAIL: {line}")
    return 0 if cmp.ok else 1
