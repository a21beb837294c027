"""`gdbench compare OLD NEW`: the command around ``reports.compare`` (the decisions) and
``reports.compare_report`` (what it shows)."""

from __future__ import annotations

from pathlib import Path

from gdbench.errors import UsageError
from gdbench.reports.compare import compare, load, parse_ignore, percent


def main(args) -> int:
    """The command: the table on stdout; compare.md, compare.csv and compare.png with
    ``--out``; exit 1 with ``--fail-above`` when a cell broke or slowed beyond it."""
    from gdbench.execution.options import check_out, make_out

    threshold = percent(args.threshold, "--threshold")
    fail_above = percent(args.fail_above, "--fail-above")
    ignore = parse_ignore(args.ignore)
    out = Path(args.out) if args.out else None
    if out is not None:
        check_out(out)
    try:
        import scipy  # noqa: F401
    except ImportError as exc:
        raise UsageError(f"compare needs SciPy ({exc}); pip install 'gdbench[stats]'") from None
    from gdbench.reports.compare_report import frame, plot_ratios, render

    old, new = load(args.old, ignore), load(args.new, ignore)
    cmp = compare(old, new, threshold if threshold is not None else 0.05, ignore)
    print(render(cmp), end="")
    if out is not None:
        make_out(out)
        (out / "compare.md").write_text(render(cmp, markdown=True), encoding="utf-8")
        frame(cmp).to_csv(out / "compare.csv", index=False, encoding="utf-8")
        png = plot_ratios(cmp, out / "compare.png")
        written = ["compare.md", "compare.csv"] + (["compare.png"] if png else [])
        print(f"written to {out}: {', '.join(written)}")
    if fail_above is None:
        return 0
    fails = cmp.fails(fail_above)
    for line in fails:
        print(f"FAIL: {line}")
    return 1 if fails else 0
