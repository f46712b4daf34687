"""Figures: each function takes results or frames (it never solves), ``ax=None``, and returns
the Axes.

Use them inside the paper style, a context (never global rcParams)::

    import pandas as pd
    import iovmodel as iov
    df = pd.concat(iov.sweep(p, iodepth=[1, 2, 4, 8]) for p in ["virtio-blk", "vhost-scsi"])
    with iov.plot.style("single"):
        ax = iov.plot.throughput_vs_load(df)
        iov.plot.save(ax.figure, "throughput.pdf")

Modules, one responsibility each: :mod:`.style` (column widths, fonts),
:mod:`.palette` (colours; a resource never looks like another within a figure),
:mod:`.load` (throughput and latency against load), :mod:`.bars` (per-hop latency
and mode switches), :mod:`.fit` (measured against predicted), :mod:`.distribution`
(simulated latency CDF), :mod:`.files` (atomic, reproducible files).

The style sets column widths (single 3.5 in, double 7.16 in, as in IEEE and ACM
two-column templates), the Okabe-Ito colour-blind-safe palette, Type 42 (TrueType)
fonts in PDF and PostScript, and a fixed SVG hash salt. :func:`save` writes
atomically and reproducibly (no creation date), so two builds of the same figure
are byte-identical. Legends sit right of the Axes, outside the data.

Colours are stable: a path keeps its colour across figures as long as the names come
in the same order, and each line also gets its own marker and line style so figures
survive greyscale printing; a resource has one look everywhere.
"""

from __future__ import annotations

from .bars import breakdown, mode_switches
from .consolidation import consolidation, target_breaks
from .distribution import latency_distribution
from .files import save
from .fit import measured_vs_predicted
from .load import latency_vs_load, throughput_vs_load
from .palette import PALETTE, PALETTE_EXTRA, colors, resource_styles
from .style import COLUMN_WIDTH_IN, figure, style

__all__ = [
    "COLUMN_WIDTH_IN",
    "PALETTE",
    "PALETTE_EXTRA",
    "breakdown",
    "colors",
    "consolidation",
    "figure",
    "latency_distribution",
    "latency_vs_load",
    "measured_vs_predicted",
    "mode_switches",
    "target_breaks",
    "resource_styles",
    "save",
    "style",
    "throughput_vs_load",
]
