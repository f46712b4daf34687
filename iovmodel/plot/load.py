"""Throughput and latency against load, one line per path, from sweep frames."""

from __future__ import annotations

from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd

from ..errors import ParameterError
from ._common import legend_outside, need_columns, need_frame, new_ax
from .palette import colors, line_style

__all__ = ["latency_vs_load", "throughput_vs_load"]

_KNOB_LABELS = {"iodepth": "iodepth (requests in flight per job)", "jobs": "jobs",
                "population": "requests in flight (jobs × iodepth)"}


def _per_path(df: pd.DataFrame, x: str, empty: str) -> list[tuple[int, str, str, pd.DataFrame]]:
    """(index, path, colour, its rows sorted by x) per path, in order of appearance."""
    if df.empty:
        raise ParameterError(empty + " (empty frame)")
    names = list(dict.fromkeys(df["path"]))
    col = colors(names)
    return [(i, name, col[name], df[df["path"] == name].sort_values(x))
            for i, name in enumerate(names)]


def throughput_vs_load(data: pd.DataFrame, *, knob: str = "iodepth", jobs: int = 1,
                       iodepth: int = 1, bounds: str = "saturation", ax: Any = None) -> Any:
    """Throughput against the number of requests in flight, per path, with bounds.

    Parameters
    ----------
    data : DataFrame
        Columns ``path``, ``<knob>``, ``throughput_per_s`` (and ``saturation_per_s``
        for the bound, ``zero_load_latency_us`` for the light-load bound), e.g.
        ``pd.concat(iov.sweep(p, host, iodepth=[1, 2, 4, 8]) for p in paths)``.
    knob : {"iodepth", "jobs", "population"}
        What the x axis counts.
    jobs, iodepth : int
        The closed workload's fields where the frame lacks their columns (they
        make ``population`` = jobs × iodepth).
    bounds : {"saturation", "both", "none"}
        Draw the throughput bound ``servers / demand`` of each path's bottleneck
        (dashed); ``"both"`` adds the light-load bound ``N / (D + Z)`` (dotted),
        the two asymptotes of Lazowska et al., *Quantitative System Performance*
        (1984), sec. 5.2.
    ax : Axes, optional

    Returns
    -------
    Axes
        x: the knob (log 2 scale); y: throughput, thousands of I/O per second.
    """
    if knob not in _KNOB_LABELS:
        raise ParameterError(f"knob must be one of {sorted(_KNOB_LABELS)}, got {knob!r}")
    if bounds not in ("saturation", "both", "none"):
        raise ParameterError(f"bounds must be 'saturation', 'both' or 'none', got {bounds!r}")
    df = need_frame(data, "throughput_vs_load",
                    "pd.concat(iov.sweep(p, host, iodepth=[1, 2, 4]) for p in paths)").copy()
    if "jobs" not in df:
        df["jobs"] = jobs
    if "iodepth" not in df:
        df["iodepth"] = iodepth
    if knob == "population" and "population" not in df.columns:
        df["population"] = df["jobs"] * df["iodepth"]
    need_columns(df, ["path", knob, "throughput_per_s"], "throughput_vs_load")
    lines = _per_path(df, knob, "throughput_vs_load: nothing to plot")
    ax = new_ax(ax)
    for i, name, color, d in lines:
        ax.plot(d[knob], d["throughput_per_s"] / 1e3, color=color, label=name, **line_style(i))
        if bounds != "none" and "saturation_per_s" in d and np.isfinite(d["saturation_per_s"]).any():
            sat = float(d["saturation_per_s"].iloc[0]) / 1e3
            ax.axhline(sat, color=color, linestyle=(0, (4, 2)), linewidth=0.7, alpha=0.8)
        if bounds == "both" and "zero_load_latency_us" in d:
            n = (d["jobs"] * d["iodepth"]).to_numpy(float)
            think = d["think_us"].to_numpy(float) if "think_us" in d else 0.0
            light = n * 1e6 / (d["zero_load_latency_us"].to_numpy(float) + think) / 1e3
            ax.plot(d[knob], light, color=color, linestyle=":", linewidth=0.7, alpha=0.8)
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(mpl.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel(_KNOB_LABELS[knob])
    ax.set_ylabel("throughput (kIO/s)")
    top = np.nanmax(df["throughput_per_s"].to_numpy(float))
    if "saturation_per_s" in df and np.isfinite(df["saturation_per_s"]).any():
        top = max(top, np.nanmax(df["saturation_per_s"].replace(np.inf, np.nan)))
    ax.set_ylim(0, 1.15 * top / 1e3)  # the light-load bound grows without limit: clip it
    legend_outside(ax, title="dashed: saturation\nbound" if bounds != "none" else None,
                   title_fontsize=6.0)
    return ax


def latency_vs_load(data: pd.DataFrame, *, logy: bool = False, ax: Any = None) -> Any:
    """Mean latency against offered load, per path.

    Parameters
    ----------
    data : DataFrame
        Columns ``path``, ``latency_us`` and ``rate_per_s`` (offered load, per
        second; ``throughput_per_s`` is used when absent, e.g. for a closed sweep),
        and ``saturation_per_s`` for the saturation marks: e.g. the output of
        ``iov.sweep(p, host, iov.Workload.open(r0), rate_per_s=rates, nan_policy="nan")``
        per path, concatenated.
    logy : bool
        Logarithmic latency axis.
    ax : Axes, optional

    Returns
    -------
    Axes
        x: offered load, thousands of I/O per second; y: mean latency, µs. A
        dotted vertical line marks each path's saturation load.
    """
    df = need_frame(data, "latency_vs_load",
                    "pd.concat(iov.sweep(p, host, rate_per_s=rates, nan_policy='nan') "
                    "for p in paths)").copy()
    xcol = "rate_per_s" if "rate_per_s" in df.columns and df["rate_per_s"].notna().any() \
        else "throughput_per_s"
    need_columns(df, ["path", xcol, "latency_us"], "latency_vs_load")
    df["load_per_s"] = df[xcol].astype(float)
    df = df.dropna(subset=["latency_us"])  # unstable points of an open sweep
    lines = _per_path(df, "load_per_s", "latency_vs_load: no point with a finite latency to plot")
    ax = new_ax(ax)
    for i, name, color, d in lines:
        st = line_style(i)
        ax.plot(d["load_per_s"] / 1e3, d["latency_us"], color=color, label=name,
                linestyle=st["linestyle"], marker=st["marker"], markevery=max(len(d) // 6, 1))
        if "saturation_per_s" in d and np.isfinite(d["saturation_per_s"]).any():
            ax.axvline(float(d["saturation_per_s"].iloc[0]) / 1e3, color=color,
                       linestyle=":", linewidth=0.7)
    if logy:
        ax.set_yscale("log")
        plain = mpl.ticker.FuncFormatter(lambda v, _: f"{v:g}")
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(plain)
    else:
        ax.set_ylim(bottom=0)
    ax.set_xlim(left=0)
    ax.set_xlabel("offered load (kIO/s)")
    ax.set_ylabel("mean latency (µs)")
    legend_outside(ax, title="dotted: saturation", title_fontsize=6.0)
    return ax
