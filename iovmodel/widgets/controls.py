"""The explorer's controls: a slider per declared host cost (range, step and tooltip from the
parameter declarations), the choices of request sizes and parallel backends."""

from __future__ import annotations

import math

import ipywidgets as W

from ..spec.profile import Parameter

__all__ = ["DEFAULT_PATHS", "PARALLEL_OPTIONS", "SIZES", "cost_slider"]

#: options that mean "how many parallel backends": one slider drives whichever a path has
PARALLEL_OPTIONS = ("workers", "iothreads", "rings")
SIZES = (("512 B", 512), ("4 KiB", 4096), ("16 KiB", 16384), ("64 KiB", 65536),
         ("128 KiB", 131072), ("1 MiB", 1 << 20))
DEFAULT_PATHS = ("virtio-blk", "virtio-blk-iothread", "vhost-scsi")


def _nice_step(span: float) -> float:
    """A 1-2-5 step giving about 200 positions over ``span``."""
    if not span > 0:
        return 0.01
    raw = span / 200.0
    e = math.floor(math.log10(raw))
    for m in (1.0, 2.0, 5.0, 10.0):
        if m * 10.0**e >= raw:
            return m * 10.0**e
    return 10.0 ** (e + 1)  # pragma: no cover - the loop always returns


def _slider_range(p: Parameter) -> tuple[float, float, float]:
    """min, max, step of a cost's slider: the typical range, widened to hold the default."""
    lo = max(min(p.typical[0], p.value), p.bounds[0])
    hi = min(max(p.typical[1], p.value), p.bounds[1])
    if p.unit == "count":
        return math.floor(lo), math.ceil(hi), 1.0
    step = _nice_step(hi - lo)
    lo = max(math.floor(lo / step) * step, p.bounds[0])
    hi = min(math.ceil(hi / step) * step, p.bounds[1])
    return round(lo, 12), round(hi, 12), step


def cost_slider(p: Parameter, value: float | None = None) -> W.FloatSlider:
    """A slider for one declared cost: range = typical range (widened to hold the
    default), a 1-2-5 step, described by the cost name, tooltip = symbol, meaning, unit.

    The slider carries the DOM classes ``iov-cost`` and ``iov-cost-<name>``.
    """
    lo, hi, step = _slider_range(p)
    v = p.value if value is None else p.check(value)
    # the declared typical range may not hold a calibrated value: widen, never clip
    lo, hi = min(lo, v), max(hi, v)
    s = W.FloatSlider(
        value=v, min=lo, max=hi, step=step, description=p.name,
        # 3 significant digits: shows a default like 2.49 as it is declared
        readout_format=".4g" if p.unit == "count" else ".3g", continuous_update=False,
        tooltip=(f"{p.symbol} — {p.meaning} [{p.unit}]; typical {p.typical[0]:g}–"
                 f"{p.typical[1]:g}, default {p.value:g}"),
        style={"description_width": "150px"}, layout=W.Layout(width="430px"),
    )
    s.add_class("iov-cost")
    s.add_class(f"iov-cost-{p.name}")
    return s
