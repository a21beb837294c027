"""What ``gdbench.compare`` returns: the cell-by-cell comparison of two runs, as a table,
a verdict, text, HTML and a figure."""

from __future__ import annotations

from gdbench.api.keywords import option_text, text
from gdbench.errors import UsageError


class Comparison:
    """``table``: compare.csv's rows as a DataFrame; ``ok``: no cell's numerics broke
    and, with ``fail_above``, none is significantly slower by more than it; ``fails``: the
    lines that say why not; ``repr`` the command line's text; ``plot()`` the ratios."""

    def __init__(self, comparison, fail_above: float | None = None):
        self.comparison = comparison
        self.fail_above = fail_above

    @property
    def table(self):
        from gdbench.reports.compare_report import frame

        return frame(self.comparison)

    @property
    def fails(self) -> list[str]:
        limit = self.fail_above if self.fail_above is not None else float("inf")
        return self.comparison.fails(limit)

    @property
    def ok(self) -> bool:
        return not self.fails

    def __repr__(self) -> str:
        from gdbench.reports.compare_report import render

        return render(self.comparison).rstrip("\n")

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
        from gdbench.reports.compare_report import plot_ratios, render

        out = Path(path)
        check_out(out)
        make_out(out)
        from gdbench.results.writer import atomic_csv, atomic_text

        atomic_text(out / "compare.md", render(self.comparison, markdown=True))
        atomic_csv(self.table, out / "compare.csv")
        plot_ratios(self.comparison, out / "compare.png")
        return out


def compare(old, new, threshold: float = 5, fail_above: float | None = None, ignore=None):
    """Two runs or sweeps (results or folders) compared cell by cell: a ``Comparison``."""
    import tempfile
    from pathlib import Path

    from gdbench.reports.compare import compare as judge
    from gdbench.reports.compare import load as side
    from gdbench.reports.compare import parse_ignore, percent

    try:
        import scipy  # noqa: F401
    except ImportError as exc:
        raise UsageError(f"compare needs SciPy ({exc}); pip install 'gdbench[stats]'") from None
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
    return Comparison(cmp, above)
