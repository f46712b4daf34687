"""The explorer's figure: load curve per path (left) and latency by resource (right), drawn
into one Agg figure whose axes are made once and refilled on every update (re-creating axes
costs more than the whole solve), rendered to PNG for an ``ipywidgets.Image``."""

from __future__ import annotations

import io
import math

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.ticker import (
    FixedLocator,
    FuncFormatter,
    LogLocator,
    MaxNLocator,
    NullFormatter,
    NullLocator,
)

from ..plot.palette import resource_styles
from ..result import Result
from ..spec.workload import Workload

__all__ = ["LoadFigure"]


def _si(v: float, _pos=None) -> str:
    """Tick label with a k/M suffix (300000 -> 300k)."""
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:g}M"
    if a >= 1e3:
        return f"{v / 1e3:g}k"
    return f"{v:g}"


def _plain(v: float, _pos=None) -> str:
    return f"{v:g}"


class LoadFigure:
    """The figure of an explorer: :meth:`draw` the current results, :meth:`png` to show them."""

    def __init__(self, dpi: int) -> None:
        self.dpi = int(dpi)
        self.fig = Figure(figsize=(9.6, 3.0))
        FigureCanvasAgg(self.fig)
        self._ax = None
        self._ax_mode: bool | None = None

    def png(self) -> bytes:
        """The figure as PNG bytes."""
        buf = io.BytesIO()
        # fast zlib level: the PNG is a few tens of kB either way
        self.fig.savefig(buf, format="png", dpi=self.dpi, pil_kwargs={"compress_level": 1})
        return buf.getvalue()

    def axes(self, is_open: bool):
        """The two axes, made once (re-creating axes costs more than the whole solve)."""
        if self._ax is None:
            # fixed margins: constrained layout would cost a second draw per update
            ax_load = self.fig.add_axes((0.07, 0.14, 0.37, 0.83))
            ax_bd = self.fig.add_axes((0.60, 0.14, 0.385, 0.83))
            self._ax = (ax_load, ax_bd)
            self._ax_mode = None
        ax_load, ax_bd = self._ax
        if self._ax_mode != is_open:
            if is_open:
                ax_load.set_xscale("log")
                ax_load.set_yscale("log")
                for axis in (ax_load.xaxis, ax_load.yaxis):
                    axis.set_major_locator(LogLocator(numticks=6))
                    axis.set_major_formatter(FuncFormatter(_si))
                    axis.set_minor_formatter(NullFormatter())
                ax_load.set_xlabel("IO/s offered", fontsize=8)
                ax_load.set_ylabel("µs", fontsize=8)
            else:
                ax_load.set_xscale("log", base=2)
                ax_load.set_yscale("linear")
                # plain tick labels: mathtext 2^k labels cost ~10 ms per draw
                ax_load.xaxis.set_major_locator(FixedLocator([4.0**k for k in range(12)]))
                ax_load.xaxis.set_major_formatter(FuncFormatter(_plain))
                ax_load.xaxis.set_minor_locator(NullLocator())
                ax_load.yaxis.set_major_locator(MaxNLocator(5))
                ax_load.yaxis.set_minor_locator(NullLocator())
                ax_load.yaxis.set_major_formatter(FuncFormatter(_si))
                ax_load.set_xlabel("I/Os in flight", fontsize=8)
                ax_load.set_ylabel("IO/s", fontsize=8)
            ax_bd.set_xlabel("µs per I/O", fontsize=8)
            ax_bd.xaxis.set_major_locator(MaxNLocator(5))
            for ax in self._ax:
                ax.tick_params(labelsize=7)
                ax.grid(alpha=0.3)
            self._ax_mode = is_open
        for ax in self._ax:
            for c in list(ax.containers):
                c.remove()
            for art in [*ax.lines, *ax.patches, *ax.texts, *ax.collections]:
                art.remove()
            if ax.get_legend() is not None:
                ax.get_legend().remove()
        return ax_load, ax_bd

    def draw(self, curves, results: dict, w: Workload,
             path_colour: dict[str, str]) -> dict[str, str]:
        """Draw the load curves and the breakdown; return each resource's colour."""
        ax_load, ax_bd = self.axes(w.is_open)
        for name, static, (x, y) in curves:
            c = path_colour[name]
            ax_load.plot(x, y, color=c, lw=1.6, label=name)
            sat = static["saturation_per_s"]
            r = results.get(name)
            if not w.is_open:
                if math.isfinite(sat):
                    ax_load.axhline(sat, color=c, lw=0.8, ls="--")
                if isinstance(r, Result):
                    ax_load.plot([w.population], [r.throughput_per_s], "o", color=c, ms=6)
            else:
                if math.isfinite(sat):
                    ax_load.axvline(sat, color=c, lw=0.8, ls="--")
                if isinstance(r, Result):
                    ax_load.plot([w.rate_per_s], [r.latency_us], "o", color=c, ms=6)
        # explicit limits: autoscaling is slow and set_ylim would freeze it afterwards
        ys = [y[np.isfinite(y) & (y > 0)] for _, _, (_, y) in curves]
        ys = np.concatenate(ys) if ys else np.array([])
        sats = [s["saturation_per_s"] for _, s, _ in curves if math.isfinite(s["saturation_per_s"])]
        if w.is_open:
            xmax = max([*sats, *(float(x.max()) for _, _, (x, _) in curves if x.size), w.rate_per_s])
            xmin = min([*(float(x.min()) for _, _, (x, _) in curves if x.size), w.rate_per_s])
            ax_load.set_xlim(xmin / 1.2, xmax * 1.2)
            if ys.size:
                ax_load.set_ylim(ys.min() / 1.3, ys.max() * 1.3)
        else:
            xmax = max([float(x.max()) for _, _, (x, _) in curves if x.size] or [w.population])
            ax_load.set_xlim(1.0, xmax)
            top = max([*sats, *(ys.tolist() or [1.0])])
            ax_load.set_ylim(0.0, top * 1.08)
        return self.draw_breakdown(ax_bd, results)

    @staticmethod
    def draw_breakdown(ax, results: dict) -> dict[str, str]:
        """Horizontal stacked bars: per path, µs per resource (service solid, waiting pale).

        Returns the colour of each resource (the legend is drawn in HTML)."""
        ok = [(n, r) for n, r in results.items() if isinstance(r, Result)]
        resources: list[str] = []
        for _, r in ok:
            for res in r.breakdown["resource"]:
                if res not in resources:
                    resources.append(res)
        # the same colour per resource as every figure of iovmodel.plot, never two alike
        colour = {res: look.color for res, look in resource_styles(resources).items()}
        segs = np.zeros((len(ok), len(resources), 2))
        for y, (_, r) in enumerate(ok):
            g = r.breakdown.groupby("resource", sort=False)[["service_us", "wait_us"]].sum()
            for res, row in g.iterrows():
                segs[y, resources.index(res)] = (float(row["service_us"]), float(row["wait_us"]))
        flat = segs.reshape(len(ok), 2 * len(resources))
        lefts = np.cumsum(flat, axis=1) - flat
        # one PolyCollection for every bar: ax.barh costs ~1 ms per bar in limit bookkeeping
        verts, faces = [], []
        for y in range(len(ok)):
            for col in range(flat.shape[1]):
                wd = flat[y, col]
                if wd <= 0:
                    continue
                x0 = lefts[y, col]
                verts.append(((x0, y - 0.38), (x0 + wd, y - 0.38), (x0 + wd, y + 0.38),
                              (x0, y + 0.38)))
                # waiting is the pale half of the resource's colour (hatching costs ~20 ms)
                faces.append(to_rgba(colour[resources[col // 2]], 1.0 if col % 2 == 0 else 0.4))
        if verts:
            ax.add_collection(PolyCollection(verts, facecolors=faces, edgecolors="white",
                                             linewidths=0.5), autolim=False)
        total = float(flat.sum(axis=1).max()) if len(ok) else 0.0
        ax.set_xlim(0.0, total * 1.03 if total > 0 else 1.0)
        ax.set_yticks(range(len(ok)), [n for n, _ in ok], fontsize=7)
        ax.set_ylim(max(len(ok), 1) - 0.5, -0.5)  # first path on top
        return colour
