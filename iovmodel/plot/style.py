"""The paper style: column widths, fonts, the palette as the colour cycle; a context, never
global rcParams."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import matplotlib as mpl

from ..errors import ParameterError
from .palette import PALETTE

__all__ = ["COLUMN_WIDTH_IN", "figure", "style"]

#: Text-block column widths in inches: "single" column and "double" (full page
#: width) of the IEEE / ACM two-column templates.
COLUMN_WIDTH_IN: Mapping[str, float] = {"single": 3.5, "double": 7.16}
_GOLDEN = (1 + 5 ** 0.5) / 2


def _rc(kind: str, height_in: float | None = None) -> dict[str, Any]:
    if kind not in COLUMN_WIDTH_IN:
        raise ParameterError(f"style kind must be one of {sorted(COLUMN_WIDTH_IN)}, got {kind!r}")
    width = COLUMN_WIDTH_IN[kind]
    height = height_in if height_in is not None else (
        width / _GOLDEN if kind == "single" else width / (2 * _GOLDEN) + 0.4)
    return {
        "figure.figsize": (width, height),
        "figure.dpi": 150,
        "figure.constrained_layout.use": True,
        "font.size": 8.0,
        "axes.labelsize": 8.0,
        "axes.titlesize": 8.0,
        "xtick.labelsize": 7.0,
        "ytick.labelsize": 7.0,
        "legend.fontsize": 6.5,
        "legend.frameon": False,
        "axes.prop_cycle": mpl.cycler(color=list(PALETTE)),
        "axes.grid": True,
        "grid.linewidth": 0.4,
        "grid.alpha": 0.5,
        "axes.linewidth": 0.6,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "lines.linewidth": 1.2,
        "lines.markersize": 3.5,
        "hatch.linewidth": 0.5,
        "savefig.dpi": 300,
        "savefig.bbox": "standard",
        # Type 42 (TrueType) fonts: editable text, accepted by publishers (no Type 3).
        "pdf.fonttype": 42,
        "ps.fonttype": 42,
        "svg.fonttype": "path",
        "svg.hashsalt": "iovmodel",  # fixed element ids: reproducible SVG
    }


@contextlib.contextmanager
def style(kind: str = "single", *, height_in: float | None = None,
          **rc: Any) -> Iterator[dict[str, Any]]:
    """The paper style, as a context manager (global rcParams are left alone).

    Parameters
    ----------
    kind : {"single", "double"}
        Figure width: one column (3.5 in) or the full text width (7.16 in).
    height_in : float, optional
        Figure height, inches (default: golden ratio for one column, a short
        strip for two).
    **rc
        Further rcParams, passed as a dict: ``style("single", **{"font.size": 9})``.

    Yields
    ------
    dict
        The rcParams in force.

    Examples
    --------
    >>> with style("single"):  # doctest: +SKIP
    ...     ax = throughput_vs_load(iov.sweep("virtio-blk", iodepth=[1, 2, 4]))
    """
    params = _rc(kind, height_in)
    params.update(rc)
    with mpl.rc_context(params):
        yield params


def figure(kind: str = "single", *, nrows: int = 1, ncols: int = 1, height_in: float | None = None,
           **subplots_kw: Any) -> tuple[Any, Any]:
    """A new (figure, axes) at a column width, without touching the style in force.

    Returns
    -------
    (Figure, Axes or array of Axes)
    """
    import matplotlib.pyplot as plt

    params = _rc(kind, height_in)
    return plt.subplots(nrows, ncols, figsize=params["figure.figsize"], **subplots_kw)
