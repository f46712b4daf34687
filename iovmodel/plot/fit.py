"""Fits: predicted against measured values, with a residuals panel."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..errors import ParameterError
from ._common import legend_outside, need_columns
from .palette import MARKERS, colors

__all__ = ["measured_vs_predicted"]

def _residual_frame(obj: Any) -> pd.DataFrame:
    df = obj.residuals if hasattr(obj, "residuals") else obj
    if callable(df):
        df = df()
    if not isinstance(df, pd.DataFrame):
        raise ParameterError("measured_vs_predicted: expected a FitResult or a residuals "
                             f"DataFrame, got {type(obj).__name__} {obj!r:.80}")
    need_columns(df, ["measured", "predicted"], "measured_vs_predicted")
    df = df.copy()
    if "rel_error" not in df:
        df["rel_error"] = (df["predicted"] - df["measured"]) / df["measured"]
    for c in ("path", "metric"):
        if c not in df:
            df[c] = ""
    df = df.dropna(subset=["measured", "predicted"])
    if df.empty:
        raise ParameterError("measured_vs_predicted: no rows with both measured and predicted")
    return df


def measured_vs_predicted(fit: Any, ax: Any = None, *, metric: str | None = None,
                          band: float | None = 0.2, residuals: bool = True,
                          residual_ax: Any = None) -> Any:
    """Predicted against measured values (log-log, y = x line) with a residuals panel.

    Parameters
    ----------
    fit : FitResult or DataFrame
        Anything with a ``residuals`` frame, or the frame itself: columns
        ``measured, predicted`` and optionally ``rel_error`` (``(predicted -
        measured) / measured``), ``path``, ``metric``.
    ax : Axes, optional
        The main panel; the residuals panel is appended below it (it is the
        figure's next Axes, sharing x).
    metric : str, optional
        Plot only this metric (e.g. ``"iops"``); default all, each its own marker
        and each in its own unit.
    band : float or None
        Shade ± this relative error around y = x (0.2: ± 20 %).
    residuals : bool
        Draw the residuals panel (relative error, %, against measured).
    residual_ax : Axes, optional
        Where to draw the residuals (default: a new panel below ``ax``).

    Returns
    -------
    Axes
        The main panel. Its text states the median and largest absolute relative error.
    """
    df = _residual_frame(fit)
    if metric is not None:
        if metric not in set(df["metric"]):
            raise ParameterError(f"metric {metric!r} not in the residuals; they have "
                                 f"{sorted(set(df['metric']))}")
        df = df[df["metric"] == metric]
    if ax is None:
        import matplotlib.pyplot as plt

        if residuals:
            fig, (ax, rax) = plt.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
        else:
            fig, ax = plt.subplots()
    elif residuals and residual_ax is not None:
        rax = residual_ax
    elif residuals:
        from mpl_toolkits.axes_grid1 import make_axes_locatable

        rax = make_axes_locatable(ax).append_axes("bottom", size="35%", pad=0.08, sharex=ax)
    err = np.abs(df["rel_error"].to_numpy(float))  # stated over every row, drawn or not
    n_all = len(df)
    pos = (df["measured"] > 0) & (df["predicted"] > 0)
    positive = bool(pos.mean() >= 0.5)  # log axes unless most values are <= 0
    hidden = int((~pos).sum()) if positive else 0
    if positive:
        df = df[pos]
    paths = list(dict.fromkeys(df["path"]))
    metrics = list(dict.fromkeys(df["metric"]))
    pcol = colors(paths)
    mmark = {m: MARKERS[i % len(MARKERS)] for i, m in enumerate(metrics)}
    for (p, m), d in df.groupby(["path", "metric"], sort=False):
        ax.scatter(d["measured"], d["predicted"], s=12, color=pcol[p], marker=mmark[m],
                   edgecolor="none", alpha=0.85)
        if residuals:
            rax.scatter(d["measured"], 100 * d["rel_error"], s=10, color=pcol[p], marker=mmark[m],
                        edgecolor="none", alpha=0.85)
    lo = float(min(df["measured"].min(), df["predicted"].min()))
    hi = float(max(df["measured"].max(), df["predicted"].max()))
    if positive:
        lo, hi = lo / 1.5, hi * 1.5
        ax.set_xscale("log")
        ax.set_yscale("log")
    else:
        pad = 0.05 * (hi - lo or 1.0)
        lo, hi = lo - pad, hi + pad
    xs = np.geomspace(lo, hi, 50) if positive else np.linspace(lo, hi, 50)
    ax.plot(xs, xs, color="0.3", linewidth=0.7, linestyle="--")
    if band:
        ax.fill_between(xs, xs * (1 - band), xs * (1 + band), color="0.85", linewidth=0,
                        zorder=0)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    note = f"\n{hidden} value(s) <= 0 not drawn" if hidden else ""
    ax.text(0.03, 0.97, f"n = {n_all}, median |error| {100 * np.median(err):.0f} %, "
            f"max {100 * err.max():.0f} %{note}", transform=ax.transAxes, va="top", fontsize=6.5)
    units = ""
    if metric is not None and "unit" in df and df["unit"].nunique() == 1:
        units = f" ({df['unit'].iloc[0]})"
    ax.set_ylabel("predicted" + units)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=pcol[p], marker="o", linestyle="", label=p or "?")
               for p in paths]
    if len(metrics) > 1 or metrics != [""]:
        handles += [Line2D([], [], color="0.3", marker=mmark[m], linestyle="", label=m or "?")
                    for m in metrics]
    legend_outside(ax, handles=handles, fontsize=5.5)
    if residuals:
        rax.axhline(0.0, color="0.3", linewidth=0.7)
        if band:
            rax.axhspan(-100 * band, 100 * band, color="0.85", linewidth=0, zorder=0)
        rax.set_xscale(ax.get_xscale())  # a residual_ax passed in shares nothing yet
        rax.set_xlim(lo, hi)
        rax.set_ylabel("error (%)")
        rax.set_xlabel("measured" + (units or " (each metric in its unit)" if len(metrics) > 1
                                     else units))
        ax.tick_params(labelbottom=False)
    else:
        ax.set_xlabel("measured" + (units or " (each metric in its unit)" if len(metrics) > 1
                                    else units))
    return ax
