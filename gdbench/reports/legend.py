"""Legends beside the plot area, never over the data they describe."""

from __future__ import annotations


def outside(ax, fontsize: float = 7, ncol: int = 1, handles=None):
    """The legend of ``ax`` to the right of its plot area (the figure's tight layout makes
    room for it); None where nothing is labelled."""
    if handles is None and not ax.get_legend_handles_labels()[0]:
        return None
    where = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0), "borderaxespad": 0.0}
    if handles is not None:
        return ax.legend(handles=handles, fontsize=fontsize, ncol=ncol, **where)
    return ax.legend(fontsize=fontsize, ncol=ncol, **where)
