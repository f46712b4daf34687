"""How many VMs: aggregate throughput, mean latency and p99 against the number of VMs, one
line per scenario, with the point where each target breaks marked."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ParameterError
from ._common import legend_outside, need_columns, need_frame
from .palette import colors, line_style

__all__ = ["consolidation", "target_breaks"]

_PANELS = {"throughput": ("throughput_per_s", "aggregate throughput (kIO/s)", 1e-3),
           "latency": ("latency_us", "mean latency (µs)", 1.0),
           "p99": ("p99_us", "p99 latency, worst VM kind (µs)", 1.0)}


def target_breaks(df: pd.DataFrame, *, p99_us: float | None = None,
                  host_cpu: float | None = None) -> dict[str, float]:
    """The first VM count of a sweep (``iov.sweep(scenario, vms=...)``) where a target
    breaks: ``"p99"`` (p99 latency above ``p99_us``), ``"host cpu"`` (host cores busier than
    the fraction ``host_cpu``); NaN where it never does within the sweep."""
    d = df.sort_values("vms_per_guest")
    out = {}
    if p99_us is not None:
        bad = d[d["p99_us"] > p99_us]
        out["p99"] = float(bad["vms"].iloc[0]) if len(bad) else float("nan")
    if host_cpu is not None:
        col = "util_host cores"
        bad = d[d[col] > host_cpu] if col in d else d.iloc[0:0]
        out["host cpu"] = float(bad["vms"].iloc[0]) if len(bad) else float("nan")
    return out


def consolidation(sweeps: Mapping[str, pd.DataFrame], *, p99_us: float | None = None,
                  host_cpu: float | None = None,
                  panels: tuple[str, ...] = ("throughput", "latency", "p99"),
                  axes: Any = None) -> Any:
    """Throughput, latency and p99 against the number of VMs for several scenarios.

    Parameters
    ----------
    sweeps : mapping of label to DataFrame
        Each the output of ``iov.sweep(scenario, vms=[...])``.
    p99_us : float, optional
        p99 latency target (µs): a horizontal line on the p99 panel, and on every panel a
        ``x`` at the first VM count where a scenario breaks it.
    host_cpu : float, optional
        Host CPU target (busy fraction of the cores): a ``v`` where a scenario first
        exceeds it.
    panels : tuple of {"throughput", "latency", "p99"}
    axes : sequence of Axes, optional
        One per panel (default: a new figure, panels side by side).

    Returns
    -------
    ndarray of Axes
    """
    if not isinstance(sweeps, Mapping) or not sweeps:
        raise ParameterError("consolidation: sweeps must be a non-empty mapping label -> "
                             "iov.sweep(scenario, vms=[...]) frame")
    bad = [p for p in panels if p not in _PANELS]
    if bad or not panels:
        raise ParameterError(f"panels must be some of {sorted(_PANELS)}, got {panels!r}")
    for label, df in sweeps.items():
        need_frame(df, f"consolidation[{label!r}]", "iov.sweep(scenario, vms=range(1, 33))")
        need_columns(df, ["vms", "throughput_per_s", "latency_us"]
                     + (["p99_us"] if "p99" in panels or p99_us is not None else []),
                     f"consolidation[{label!r}]")
    if axes is None:
        import matplotlib.pyplot as plt

        _, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 2.8),
                               layout="constrained", squeeze=False)
        axes = axes[0]
    axes = np.atleast_1d(np.asarray(axes, dtype=object))
    if len(axes) != len(panels):
        raise ParameterError(f"consolidation: {len(panels)} panel(s) need as many Axes, got "
                             f"{len(axes)}")
    col = colors(list(sweeps))
    for i, (label, df) in enumerate(sweeps.items()):
        d = df.sort_values("vms")
        breaks = target_breaks(df, p99_us=p99_us, host_cpu=host_cpu)
        for ax, panel in zip(axes, panels, strict=True):
            key, ylabel, scale = _PANELS[panel]
            y = d[key].to_numpy(float) * scale
            ax.plot(d["vms"], y, color=col[label], label=label, **line_style(i))
            for what, marker in (("p99", "x"), ("host cpu", "v")):
                n = breaks.get(what, float("nan"))
                if np.isfinite(n):
                    yb = float(np.interp(n, d["vms"].to_numpy(float), y))
                    ax.plot([n], [yb], marker=marker, color=col[label], markersize=9,
                            linestyle="none", markeredgewidth=1.5)
            ax.set_xlabel("VMs")
            ax.set_ylabel(ylabel)
            ax.set_ylim(bottom=0)
    if p99_us is not None and "p99" in panels:
        axes[list(panels).index("p99")].axhline(p99_us, color="grey", linestyle=":",
                                                linewidth=0.8)
    title = []
    if p99_us is not None:
        title.append(f"x: p99 > {p99_us:g} µs")
    if host_cpu is not None:
        title.append(f"v: host CPU > {host_cpu:.0%}")
    legend_outside(axes[-1], title="\n".join(title) or None, title_fontsize=6.0)
    return axes
