"""`gdbench compare OLD NEW`: ``gdbench.compare`` (``gdbench.api.comparison``) with its
text on stdout, its files with ``--out``, and ``--fail-above``'s exit status."""

from __future__ import annotations

from pathlib import Path


def main(args) -> int:
    """The command: the table on stdout; compare.md, compare.csv and compare.png with
    ``--out``; exit 1 with ``--fail-above`` when a cell broke or slowed beyond it."""
    from gdbench.api.comparison import compare
    from gdbench.execution.options import check_out

    out = Path(args.out) if args.out else None
    if out is not None:
        check_out(out)
    cmp = compare(args.old, args.new, args.threshold, args.fail_above, args.ignore)
    from gdbench.reports.compare_report import render

    print(render(cmp.comparison), end="")
    if out is not None:
        cmp.save(out)
        written = ["compare.md", "compare.csv"]
        written += ["compare.png"] if (out / "compare.png").exists() else []
        print(f"written to {out}: {', '.join(written)}")
    if args.fail_above is None:
        return 0
    for line in cmp.fails:
        print(f"FAIL: {line}")
    return 0 if cmp.ok else 1
