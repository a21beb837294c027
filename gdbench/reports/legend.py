"""Legends beside the plot area, never over the data they describe."""

from __future__ import annotations


def outside(ax, fontsize: float = 7, ncol: int = 1, handles=None):
    """The legend of ``ax`` to the right of its plot area (the figure's tight layout makes
    room for it); None where nothing is labelled."""
    if handles is None and not ax.get_legend_handles_labels()[0]:
        return None
    where = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0), "borderaxespad": 0.0}
    if handles is not None:
        shown = ax.legend(handles=handles, fontsize=fontsize, ncol=ncol, **where)
    else:
        shown = ax.legend(fontsize=fontsize, ncol=ncol, **where)
    # A long legend (a sweep over settings: 40 series) makes the figure taller, so that
    # the tight layout does not squeeze the plot area to fit it.
    entries = -(-len(shown.get_texts()) // ncol)
    fig = ax.get_figure()
    width, height = fig.get_size_inches()
    fig.set_size_inches(width, max(height, ENTRY_INCHES * fontsize / 7 * entries + 1.0))
    return shown


ENTRY_INCHES = 0.16  # one legend line at fontsize 7, with its spacing
