"""What ``gdbench.compare`` returns: the cell-by-cell comparison of two runs, as a table,
a verdict, text, HTML and a figure."""

from __future__ import annotations

from gdbench.api.keywords import option_text, text
from gdbench.errors import UsageError


class Comparison:
    """``table``: compare.csv's rows as a DataFrame; ``ok``: no cell's numerics broke
    and, with ``fail_above``, none is slower by more than it (with ``require_testable``,
    every timed cell could be judged); ``fails``: the lines that say why not (``failures``
    as dicts); ``json()`` the ``--json`` document; ``repr`` the command line's text;
    ``plot()`` the ratios."""

    def __init__(self, comparison, fail_above: float | None = None, require_testable: bool = False):
        self.comparison = comparison
        self.fail_above = fail_above
        self.require_testable = require_testable

    @property
    def table(self):
        from gdbench.reports.compare_report import frame

        return frame(self.comparison)

    @property
    def failures(self) -> list[dict]:
        """What fails, one dict each: cell, kind (numerics, slower, not testable), ratio,
        interval and the FAIL line. Numerics that broke count with or without
        ``fail_above``."""
        limit = self.fail_above if self.fail_above is not None else float("inf")
        return self.comparison.failures(limit, self.require_testable)

    @property
    def fails(self) -> list[str]:
        return [f["line"] for f in self.failures]

    def json(self, path=None) -> str:
        """The ``--json`` document (``gdbench.reports.ci_schema.COMPARE``); written to
        ``path`` where one is given."""
        from gdbench.reports.ci_json import compare_document, dumps

        doc = compare_document(
            self.comparison, self.fail_above, self.require_testable, self.failures
        )
        text = dumps(doc)
        if path is not None:
            from pathlib import Path

            from gdbench.results.files import atomic_text

            atomic_text(Path(path), text)
        return text

    @property
    def ok(self) -> bool:
        return not self.fails

    def __repr__(self) -> str:
        from gdbench.reports.compare_report import render

        return render(self.comparison).rstrip("\n")

    def markdown(self) -> str:
        """compare.md: the report with the threshold, ``fail_above`` and the FAIL lines
        (fit for $GITHUB_STEP_SUMMARY)."""
        from gdbench.reports.compare_report import render

        asked = self.fail_above is not None or self.require_testable
        fails = self.fails if asked else None
        return render(self.comparison, markdown=True, fails=fails, policy=self.policy())

    def policy(self) -> str:
        """What fails, in words (for the reports)."""
        parts = []
        if self.fail_above is not None:
            parts.append(
                f"a cell slower by more than {100 * self.fail_above:g}% (--fail-above), "
                "numerics that broke"
            )
        if self.require_testable:
            parts.append("a timed cell no test could judge (--require-testable)")
        return "; ".join(parts) or "nothing (no --fail-above)"

    def _repr_html_(self) -> str:
        from html import escape

        return f"<pre>{escape(repr(self))}</pre>"

    def plot(self):
        """Each tested cell's ratio new/old with its 95% interval (a Figure; None when no
        cell could be tested)."""
        from gdbench.reports.compare_report import ratio_figure

        return ratio_figure(self.comparison)

    def save(self, path):
        """compare.md, compare.csv and compare.png in ``path``, as ``compare --out``."""
        from pathlib import Path

        from gdbench.execution.options import check_out, make_out
        from gdbench.reports.compare_report import plot_ratios

        out = Path(path)
        check_out(out)
        make_out(out)
        from gdbench.results.files import atomic_csv, atomic_text

        atomic_text(out / "compare.md", self.markdown())
        atomic_csv(self.table, out / "compare.csv")
        plot_ratios(self.comparison, out / "compare.png")
        return out


def compare(
    old,
    new,
    threshold: float = 5,
    fail_above: float | None = None,
    ignore=None,
    require_testable: bool = False,
    **unknown,
):
    """Two runs or sweeps (results or folders) compared cell by cell: a ``Comparison``.
    ``threshold`` and ``fail_above`` in percent; ``require_testable``: a timed cell that
    no test could judge fails (``ok`` is False)."""
    import os
    import tempfile
    from pathlib import Path

    from gdbench.reports.compare import compare as judge
    from gdbench.reports.compare import load as side
    from gdbench.reports.compare import parse_ignore, percent

    if unknown:
        valid = "threshold, fail_above, ignore, require_testable"
        raise UsageError(f"compare() takes no keyword {next(iter(unknown))!r}; valid: {valid}")
    for which, value in (("old", old), ("new", new)):
        if not isinstance(value, str | os.PathLike) and not hasattr(value, "summary"):
            raise UsageError(
                f"compare: {which} is a results folder (a path) or a Result, "
                f"got {type(value).__name__}"
            )
    try:
        import scipy  # noqa: F401
    except ImportError as exc:
        raise UsageError(f"compare needs SciPy ({exc}); pip install 'gdbench[stats]'") from None
    if not isinstance(require_testable, bool):
        raise UsageError(f"require_testable is True or False, got {require_testable!r}")
    limit = percent(text(threshold), "--threshold")
    above = percent(None if fail_above is None else text(fail_above), "--fail-above")
    skip = parse_ignore(None if ignore is None else option_text(ignore))
    with tempfile.TemporaryDirectory(prefix="gdbench-compare-") as tmp:
        folders = []
        for i, r in enumerate((old, new)):
            if hasattr(r, "summary") and hasattr(r, "save"):  # a Result
                folders.append(r.path or r.save(Path(tmp) / str(i)))
            else:
                folders.append(Path(r))
        cmp = judge(
            side(folders[0], skip), side(folders[1], skip), 0.05 if limit is None else limit, skip
        )
    return Comparison(cmp, above, require_testable)
