"""The options of the commands that read result folders, ``compare`` and ``history``
(``gdbench.api.parser`` declares the others), with the CI options they share."""

from __future__ import annotations


def add_history_parser(sub, common) -> None:
    hist = sub.add_parser(
        "history",
        help="result folders over time: regressions, recoveries and numerics changes per cell",
    )
    common(hist)
    hist.add_argument(
        "paths", nargs="+", metavar="PATH", help="result folders, or folders holding them"
    )
    hist.add_argument(
        "--threshold",
        default="5",
        metavar="PCT",
        help="a step must also exceed this many percent to count (default 5)",
    )
    hist.add_argument(
        "--fail-on-regression",
        default=None,
        metavar="PCT",
        help="exit 1 when the latest run holds a regression above PCT percent or a "
        "numerics event (for CI)",
    )
    _ci_options(hist, "a timed cell of the latest run whose steps no test could judge")
    hist.add_argument("--csv", default=None, metavar="FILE", help="write the events as CSV")
    hist.add_argument(
        "--md",
        default=None,
        metavar="FILE",
        help="write the report as Markdown, with the FAIL lines (for $GITHUB_STEP_SUMMARY)",
    )
    hist.add_argument(
        "--html",
        default=None,
        metavar="FILE",
        help="write the history as one self-contained HTML page (summary, a chart per cell)",
    )


def add_compare_parser(sub, common) -> None:
    cmp = sub.add_parser(
        "compare",
        help="compare two result folders cell by cell: slower, faster, numerics changed",
    )
    common(cmp)
    cmp.add_argument("old", help="a run or sweep folder: the baseline")
    cmp.add_argument("new", help="a run or sweep folder: the one to judge")
    cmp.add_argument(
        "--threshold",
        default="5",
        metavar="PCT",
        help="a significant change must also exceed this many percent to count (default 5)",
    )
    cmp.add_argument(
        "--fail-above",
        default=None,
        metavar="PCT",
        help="exit 1 when a cell is significantly slower by more than PCT percent, or "
        "agreed before and now disagrees (for CI)",
    )
    cmp.add_argument(
        "--ignore",
        default=None,
        metavar="COLS",
        help="key columns left out of the match, e.g. dtype (float32 against float64) or device",
    )
    _ci_options(cmp, "a cell timed on both sides whose timing no test could judge")
    cmp.add_argument(
        "--md",
        default=None,
        metavar="FILE",
        help="write the report as Markdown, with the FAIL lines (for $GITHUB_STEP_SUMMARY)",
    )
    cmp.add_argument(
        "--out", default=None, metavar="DIR", help="write compare.md, compare.csv, compare.png"
    )


def _ci_options(parser, untestable: str) -> None:
    parser.add_argument(
        "--require-testable",
        action="store_true",
        help=f"exit 1 on {untestable} (too few rounds or runs)",
    )
    parser.add_argument(
        "--json",
        default=None,
        metavar="FILE",
        help="write every cell's decision, its evidence and what fails as JSON "
        "(schema: docs/schemas/)",
    )
