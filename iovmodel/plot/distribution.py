"""Simulated latency distributions: the CDF (or its tail) with percentiles and means marked."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ParameterError
from ._common import legend_outside, new_ax
from .palette import PALETTE

__all__ = ["latency_distribution"]

_PCT_DEFAULT = (50.0, 90.0, 99.0, 99.9)


def _percentile_points(obj: Any) -> dict[float, float]:
    p = getattr(obj, "percentiles_us", None)
    if p is None:
        return {}
    if isinstance(p, pd.DataFrame):
        if {"percentile", "latency_us"} <= set(p.columns):
            return dict(zip(p["percentile"].astype(float), p["latency_us"].astype(float),
                            strict=True))
        p = p.iloc[0]
    if isinstance(p, Mapping | pd.Series):
        out = {}
        for k, v in dict(p).items():
            key = str(k).lower().lstrip("p").replace("_us", "").replace("_", ".")
            try:
                out[float(key)] = float(v)
            except ValueError:
                continue
        return out
    arr = np.asarray(p, dtype=float).ravel()
    if arr.size == len(_PCT_DEFAULT):
        return dict(zip(_PCT_DEFAULT, arr, strict=True))
    return {}


def _histogram_cdf(h: Any) -> tuple[np.ndarray, np.ndarray]:
    """(x, F(x)) at the upper bin edges from a histogram in any common shape."""
    if isinstance(h, pd.DataFrame):
        cols = set(h.columns)
        cnt = next((c for c in ("count", "counts", "frequency", "n") if c in cols), None)
        hi = next((c for c in ("hi_us", "upper_us", "right_us", "edge_hi_us", "hi", "upper")
                   if c in cols), None)
        if cnt is None or hi is None:
            raise ParameterError(f"latency_distribution: histogram frame needs a count and an "
                                 f"upper-edge column, has {sorted(cols)}")
        x, c = h[hi].to_numpy(float), h[cnt].to_numpy(float)
    else:
        a, b = (np.asarray(v, dtype=float) for v in h)
        counts, edges = (a, b) if a.size + 1 == b.size else (b, a)
        if counts.size + 1 != edges.size:
            raise ParameterError("latency_distribution: histogram must be (counts, edges) with "
                                 "len(edges) == len(counts) + 1")
        x, c = edges[1:], counts
    total = c.sum()
    if total <= 0:
        raise ParameterError("latency_distribution: the histogram is empty")
    keep = c > 0
    F = np.cumsum(c) / total
    first, last = np.argmax(keep), len(c) - np.argmax(keep[::-1])
    return x[first:last], F[first:last]


def latency_distribution(sim: Any, ax: Any = None, *, analytic: Any = None,
                         ccdf: bool = False, label: str | None = None,
                         logx: bool = True) -> Any:
    """Simulated latency distribution (CDF) with percentiles and the analytic mean marked.

    Parameters
    ----------
    sim : SimResult or array of latency samples (µs)
        A result with ``histogram`` (``(counts, edges)`` or a frame with count and
        upper-edge columns), ``percentiles_us`` and ``latency_us``; or the samples
        themselves (their empirical CDF).
    ax : Axes, optional
    analytic : float or Result, optional
        The analytic mean latency (µs) to mark as a vertical line; a Result gives
        its ``latency_us``.
    ccdf : bool
        Plot the tail ``P(latency > x)`` on a log axis instead of the CDF.
    label : str, optional
        Legend label of the curve (default: the result's path, or "simulated").
    logx : bool
        Logarithmic latency axis.

    Returns
    -------
    Axes
        x: latency, µs; y: cumulative probability (or the tail).
    """
    if isinstance(sim, np.ndarray | list | tuple | pd.Series):
        x = np.sort(np.asarray(sim, dtype=float).ravel())
        if x.size == 0 or not np.isfinite(x).all():
            raise ParameterError("latency_distribution: samples must be finite and non-empty")
        if (x < 0).any():
            raise ParameterError("latency_distribution: latency samples must be >= 0 µs")
        F = np.arange(1, x.size + 1) / x.size
        pct = {q: float(np.percentile(x, q)) for q in _PCT_DEFAULT}
        mean = float(x.mean())
        name = label or "simulated"
    else:
        hist = getattr(sim, "histogram", None)
        if hist is None:
            raise ParameterError("latency_distribution: expected a SimResult (with histogram) "
                                 f"or an array of samples, got {type(sim).__name__} {sim!r:.80}")
        x, F = _histogram_cdf(hist)
        pct = _percentile_points(sim)
        mean = float(getattr(sim, "latency_us", math.nan))
        name = label or getattr(sim, "path", "simulated")
    ax = new_ax(ax)
    y = 1.0 - F if ccdf else F
    if ccdf:
        keep = y > 0
        x, y = x[keep], y[keep]
    ax.step(x, y, where="post", color=PALETTE[0], label=name)
    if pct:
        qs = sorted(pct)
        px = [pct[q] for q in qs]
        py = [(1 - q / 100) if ccdf else q / 100 for q in qs]
        ax.plot(px, py, linestyle="", marker="o", color=PALETTE[1], label="percentiles")
        # one text block instead of per-point labels: the tail percentiles crowd together
        ax.text(0.02 if not ccdf else 0.98, 0.97,
                "\n".join(f"p{q:g} = {v:.3g} µs" for q, v in zip(qs, px, strict=True)),
                transform=ax.transAxes, va="top", ha="left" if not ccdf else "right",
                fontsize=6)
    if math.isfinite(mean):
        ax.axvline(mean, color=PALETTE[0], linestyle="--", linewidth=0.8,
                   label=f"simulated mean {mean:.3g} µs")
    if analytic is not None:
        am = float(getattr(analytic, "latency_us", analytic))
        if not math.isfinite(am) or am < 0:
            raise ParameterError(f"analytic mean must be a finite latency >= 0 µs, got {am!r}")
        ax.axvline(am, color=PALETTE[2], linestyle=":", linewidth=1.0,
                   label=f"analytic mean {am:.3g} µs")
    if logx:
        ax.set_xscale("log")
    if ccdf:
        ax.set_yscale("log")
        ax.set_ylabel("P(latency > x)")
    else:
        ax.set_ylim(0, 1.02)
        ax.set_ylabel("P(latency ≤ x)")
    ax.set_xlabel("latency (µs)")
    legend_outside(ax, fontsize=6)
    return ax
