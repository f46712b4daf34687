"""Figures: each function takes ``ax=None`` and returns the Axes.

Use them inside the paper style, a context (never global rcParams)::

    import iovmodel as iov
    with iov.plot.style("single"):
        ax = iov.plot.throughput_vs_load(["virtio-blk", "vhost-scsi"])
        iov.plot.save(ax.figure, "throughput.pdf")

The style sets column widths (single 3.5 in, double 7.16 in, as in IEEE and ACM
two-column templates), the Okabe-Ito colour-blind-safe palette, Type 42 (TrueType)
fonts in PDF and PostScript, and a fixed SVG hash salt. :func:`save` writes
atomically and reproducibly (no creation date), so two builds of the same figure
are byte-identical.

Colours are stable: a path or resource keeps its colour across figures as long as
the names come in the same order, and each line also gets its own marker and line
style so figures survive greyscale printing.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path as FsPath
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd

from ._io import write_atomic
from .errors import ParameterError

__all__ = [
    "COLUMN_WIDTH_IN",
    "PALETTE",
    "PALETTE_EXTRA",
    "breakdown",
    "colors",
    "figure",
    "latency_distribution",
    "latency_vs_load",
    "measured_vs_predicted",
    "mode_switches",
    "save",
    "style",
    "throughput_vs_load",
]

#: Okabe & Ito (2008), "Color Universal Design": eight colours distinguishable under
#: the common colour-vision deficiencies. Ordered so that the first ones print well
#: on white (yellow last but one, black last).
PALETTE: tuple[str, ...] = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9",
                            "#F0E442", "#000000")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
_LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)), (0, (1, 1)), "-")

#: Text-block column widths in inches: "single" column and "double" (full page
#: width) of the IEEE / ACM two-column templates.
COLUMN_WIDTH_IN: Mapping[str, float] = {"single": 3.5, "double": 7.16}
_GOLDEN = (1 + 5 ** 0.5) / 2

# Resources keep one colour in every breakdown figure (the device / the wire in grey).
_RESOURCE_COLORS = {"vcpu": PALETTE[0], "bql": PALETTE[1], "iothread": PALETTE[2],
                    "vhost": PALETTE[3], "backend": PALETTE[4], "xenback": PALETTE[5],
                    "host": PALETTE[6], "device": "#999999", "wire": "#999999"}
_SWITCH_LABELS = {"vm_exits": "VM exits", "user_exits": "exits to userspace",
                  "syscalls": "host syscalls", "wakeups": "thread wake-ups",
                  "injections": "interrupt injections"}


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
    ...     ax = throughput_vs_load(["virtio-blk"])
    """
    params = _rc(kind, height_in)
    params.update(rc)
    with mpl.rc_context(params):
        yield params


def figure(kind: str = "single", *, nrows: int = 1, ncols: int = 1, height_in: float | None = None,
           **subplots_kw: Any):
    """A new (figure, axes) at a column width, without touching the style in force.

    Returns
    -------
    (Figure, Axes or array of Axes)
    """
    import matplotlib.pyplot as plt

    params = _rc(kind, height_in)
    return plt.subplots(nrows, ncols, figsize=params["figure.figsize"], **subplots_kw)


#: Paul Tol's "muted" scheme (also colour-blind safe), after the first eight names.
PALETTE_EXTRA: tuple[str, ...] = ("#332288", "#CC6677", "#117733", "#88CCEE", "#882255",
                                  "#44AA99", "#999933", "#AA4499", "#DDCC77")


def colors(names: Iterable[str]) -> dict[str, str]:
    """Stable colour per name: Okabe-Ito, then Tol's muted, in order of first appearance."""
    pal = PALETTE + PALETTE_EXTRA
    out: dict[str, str] = {}
    for n in names:
        if n not in out:
            out[n] = pal[len(out) % len(pal)]
    return out


def _resource_colors(resources: Iterable[str]) -> dict[str, str]:
    out = dict(_RESOURCE_COLORS)
    extra = [r for r in dict.fromkeys(resources) if r not in out]
    for i, r in enumerate(extra):
        out[r] = PALETTE[(i + 7) % len(PALETTE)]
    return out


def _new_ax(ax):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots()
    return ax


def _path_name(p: Any) -> str:
    name = getattr(p, "name", p)
    if not isinstance(name, str):
        raise ParameterError(f"paths: expected a path name or Path, got {type(p).__name__}")
    return name


def _as_list(paths: Any, what: str) -> list:
    if isinstance(paths, str) or hasattr(paths, "hop_list"):
        return [paths]
    try:
        items = list(paths)
    except TypeError:
        raise ParameterError(f"{what}: expected a sequence, got {type(paths).__name__}") from None
    if not items:
        raise ParameterError(f"{what}: nothing to plot (empty sequence)")
    return items


def _need_columns(df: pd.DataFrame, cols: Sequence[str], what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ParameterError(f"{what}: the frame lacks column(s) {missing}; it has {list(df.columns)}")


def _line_style(i: int) -> dict[str, Any]:
    return {"marker": _MARKERS[i % len(_MARKERS)], "linestyle": _LINESTYLES[i % len(_LINESTYLES)]}


_KNOB_LABELS = {"iodepth": "iodepth (requests in flight per job)", "jobs": "jobs",
                "population": "requests in flight (jobs × iodepth)"}


# -- throughput and latency against load -------------------------------------------------------

def throughput_vs_load(data: pd.DataFrame | Iterable[Any], host=None, *, knob: str = "iodepth",
                       values: Sequence[int] = (1, 2, 4, 8, 16, 32, 64, 128), jobs: int = 1,
                       iodepth: int = 1, size_bytes: int = 4096, batch: int = 1,
                       bounds: str = "saturation", ax=None):
    """Throughput against the number of requests in flight, per path, with bounds.

    Parameters
    ----------
    data : DataFrame or sequence of paths
        A frame with columns ``path``, ``<knob>``, ``throughput_per_s`` (and
        ``saturation_per_s`` for the bound), e.g. :func:`iovmodel.sweep` output
        concatenated over paths; or path names / Paths, solved here by exact MVA
        over ``values`` of ``knob``.
    host : HostProfile, optional
        Costs, when ``data`` are paths.
    knob : {"iodepth", "jobs", "population"}
        What the x axis counts.
    values : sequence of int
        Knob values, when ``data`` are paths.
    jobs, iodepth, size_bytes, batch : int
        The closed workload the knob varies (the knob's own value replaces its field).
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
    if isinstance(data, pd.DataFrame):
        df = data.copy()
        if knob == "population" and "population" not in df.columns:
            df["population"] = (df["jobs"] if "jobs" in df else jobs) * (
                df["iodepth"] if "iodepth" in df else iodepth)
        _need_columns(df, ["path", knob, "throughput_per_s"], "throughput_vs_load")
    else:
        from .model import sweep
        from .spec.workload import Workload

        vals = [int(v) for v in values]
        if not vals or min(vals) < 1:
            raise ParameterError(f"values must be integers >= 1, got {list(values)!r}")
        frames = []
        for p in _as_list(data, "throughput_vs_load"):
            w = Workload.closed(jobs=jobs, iodepth=iodepth, size_bytes=size_bytes, batch=batch)
            sweep_knob = "iodepth" if knob == "population" else knob
            f = sweep(p, host, w, **{sweep_knob: vals})
            f["jobs"] = f["jobs"] if "jobs" in f else jobs
            f["iodepth"] = f["iodepth"] if "iodepth" in f else iodepth
            f["population"] = f["jobs"] * f["iodepth"]
            frames.append(f)
        df = pd.concat(frames, ignore_index=True)
    ax = _new_ax(ax)
    names = list(dict.fromkeys(df["path"]))
    col = colors(names)
    for i, name in enumerate(names):
        d = df[df["path"] == name].sort_values(knob)
        ax.plot(d[knob], d["throughput_per_s"] / 1e3, color=col[name], label=name,
                **_line_style(i))
        if bounds != "none" and "saturation_per_s" in d and np.isfinite(d["saturation_per_s"]).any():
            sat = float(d["saturation_per_s"].iloc[0]) / 1e3
            ax.axhline(sat, color=col[name], linestyle=(0, (4, 2)), linewidth=0.7, alpha=0.8)
        if bounds == "both" and "zero_load_latency_us" in d:
            n = (d["jobs"] * d["iodepth"] if {"jobs", "iodepth"} <= set(d.columns)
                 else d[knob]).to_numpy(float)
            think = d["think_us"].to_numpy(float) if "think_us" in d else 0.0
            light = n * 1e6 / (d["zero_load_latency_us"].to_numpy(float) + think) / 1e3
            ax.plot(d[knob], light, color=col[name], linestyle=":", linewidth=0.7, alpha=0.8)
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(mpl.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel(_KNOB_LABELS[knob])
    ax.set_ylabel("throughput (kIO/s)")
    top = np.nanmax(df["throughput_per_s"].to_numpy(float))
    if "saturation_per_s" in df and np.isfinite(df["saturation_per_s"]).any():
        top = max(top, np.nanmax(df["saturation_per_s"].replace(np.inf, np.nan)))
    ax.set_ylim(0, 1.15 * top / 1e3)  # the light-load bound grows without limit: clip it
    ax.legend(title="dashed: saturation bound" if bounds != "none" else None,
              title_fontsize=6.0, loc="best")
    return ax


def latency_vs_load(data: pd.DataFrame | Iterable[Any], host=None, *,
                    rates_per_s: Sequence[float] | None = None, points: int = 24,
                    max_utilization: float = 0.95, size_bytes: int = 4096, batch: int = 1,
                    logy: bool = False, ax=None):
    """Mean latency against offered load (open workload), per path.

    Parameters
    ----------
    data : DataFrame or sequence of paths
        A frame with columns ``path``, ``latency_us`` and ``rate_per_s`` (offered
        load, per second; ``throughput_per_s`` is used when absent, e.g. for a
        closed sweep); or path names / Paths, solved here as open networks.
    host : HostProfile, optional
    rates_per_s : sequence of float, optional
        Offered loads, I/O per second (unstable points are left out). Default:
        ``points`` loads from 2 % to ``max_utilization`` of each path's saturation
        (a path that never saturates spans the largest saturation of the others).
    logy : bool
        Logarithmic latency axis.
    ax : Axes, optional

    Returns
    -------
    Axes
        x: offered load, thousands of I/O per second; y: mean latency, µs. A
        dotted vertical line marks each path's saturation load.
    """
    if not 0 < max_utilization < 1:
        raise ParameterError(f"max_utilization must be in (0, 1), got {max_utilization!r}")
    if isinstance(data, pd.DataFrame):
        df = data.copy()
        xcol = "rate_per_s" if "rate_per_s" in df.columns and df["rate_per_s"].notna().any() \
            else "throughput_per_s"
        _need_columns(df, ["path", xcol, "latency_us"], "latency_vs_load")
        df["load_per_s"] = df[xcol].astype(float)
    else:
        from .errors import UnstableQueueWarning
        from .model import analyze, sweep
        from .spec.workload import Workload

        items = _as_list(data, "latency_vs_load")
        sats = [analyze(p, host, Workload.closed(1, 1, size_bytes=size_bytes,
                                                 batch=batch)).saturation_per_s for p in items]
        finite = [s for s in sats if math.isfinite(s)]
        frames = []
        for p, sat in zip(items, sats, strict=True):
            if rates_per_s is not None:
                rates = [float(r) for r in rates_per_s]
            elif math.isfinite(sat):
                rates = list(np.linspace(0.02, max_utilization, int(points)) * sat)
            elif finite:  # no queue ever saturates (delay stations only): span the others
                rates = list(np.linspace(0.02, 1.0, int(points)) * max(finite))
            else:
                raise ParameterError(f"path {_path_name(p)!r} never saturates: pass rates_per_s")
            w = Workload.open(rates[0], size_bytes=size_bytes, batch=batch)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UnstableQueueWarning)
                f = sweep(p, host, w, nan_policy="nan", rate_per_s=rates)
            f["load_per_s"] = f["rate_per_s"]
            frames.append(f.dropna(subset=["latency_us"]))
        df = pd.concat(frames, ignore_index=True)
    ax = _new_ax(ax)
    names = list(dict.fromkeys(df["path"]))
    col = colors(names)
    for i, name in enumerate(names):
        d = df[df["path"] == name].sort_values("load_per_s")
        st = _line_style(i)
        ax.plot(d["load_per_s"] / 1e3, d["latency_us"], color=col[name], label=name,
                linestyle=st["linestyle"], marker=st["marker"], markevery=max(len(d) // 6, 1))
        if "saturation_per_s" in d and np.isfinite(d["saturation_per_s"]).any():
            ax.axvline(float(d["saturation_per_s"].iloc[0]) / 1e3, color=col[name],
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
    ax.legend(title="dotted: saturation", title_fontsize=6.0)
    return ax


# -- breakdown and mode switches ---------------------------------------------------------------

def _results(results: Any, host, workload) -> list:
    items = _as_list(results, "breakdown")
    out = []
    for r in items:
        if hasattr(r, "breakdown"):
            out.append(r)
        else:
            from .model import analyze

            out.append(analyze(r, host, workload))
    return out


def breakdown(results: Any, ax=None, *, by: str = "hop", host=None, workload=None,
              labels: Sequence[str] | None = None, wait: bool = True):
    """Stacked latency of one I/O, hop by hop, one horizontal bar per path.

    Parameters
    ----------
    results : sequence of Result (or path names)
        Anything with a ``breakdown`` frame (``hop, resource, service_us, wait_us``)
        and a ``path``; names are solved here with ``host`` and ``workload``.
    ax : Axes, optional
    by : {"hop", "resource"}
        One segment per hop (in route order) or per resource. Segments are
        coloured by the resource they hold, the same colour in every figure.
    labels : sequence of str, optional
        Bar labels (default: the path names).
    wait : bool
        Draw queueing time (``wait_us``) as hatched segments after each hop's service.

    Returns
    -------
    Axes
        x: latency per I/O, µs.
    """
    if by not in ("hop", "resource"):
        raise ParameterError(f"by must be 'hop' or 'resource', got {by!r}")
    rs = _results(results, host, workload)
    if labels is not None and len(labels) != len(rs):
        raise ParameterError(f"labels: {len(labels)} labels for {len(rs)} results")
    ax = _new_ax(ax)
    frames = []
    for r in rs:
        bd = r.breakdown
        if not isinstance(bd, pd.DataFrame):
            raise ParameterError(f"breakdown: {r!r} has no breakdown frame")
        _need_columns(bd, ["resource", "service_us"], "breakdown")
        bd = bd.copy()
        if "wait_us" not in bd:
            bd["wait_us"] = 0.0
        bd["wait_us"] = bd["wait_us"].fillna(0.0)
        if by == "resource":
            bd = (bd.groupby("resource", sort=False, as_index=False)[["service_us", "wait_us"]]
                  .sum())
        frames.append(bd)
    rcol = _resource_colors(pd.concat(frames)["resource"])
    used: dict[str, None] = {}
    any_wait = False
    ypos = np.arange(len(rs))[::-1]  # first result on top
    for y, bd in zip(ypos, frames, strict=True):
        left = 0.0
        for row in bd.itertuples(index=False):
            c = rcol[row.resource]
            if row.service_us > 0:
                ax.barh(y, row.service_us, left=left, height=0.7, color=c, edgecolor="white",
                        linewidth=0.3)
                left += row.service_us
                used[row.resource] = None
            if wait and row.wait_us > 0:
                ax.barh(y, row.wait_us, left=left, height=0.7, color=c, alpha=0.45, hatch="////",
                        edgecolor="white", linewidth=0.3)
                left += row.wait_us
                any_wait = True
        ax.text(left, y, f" {left:.3g}", va="center", ha="left", fontsize=6)
    ax.set_yticks(ypos, labels=list(labels) if labels is not None else [r.path for r in rs])
    ax.set_xlabel("latency per I/O (µs)")
    ax.set_xlim(left=0)
    ax.margins(x=0.12)
    ax.grid(axis="y", visible=False)
    from matplotlib.patches import Patch

    handles = [Patch(facecolor=rcol[r], label=r) for r in used]
    if any_wait:
        handles.append(Patch(facecolor="0.7", alpha=0.45, hatch="////", edgecolor="white",
                             label="queueing"))
    ax.legend(handles=handles, loc="lower right", ncol=2 if len(handles) > 4 else 1)
    return ax


def _switch_frame(paths: Any, batch: int) -> pd.DataFrame:
    from .spec.catalog import SWITCH_COLUMNS

    if isinstance(paths, pd.DataFrame):
        df = paths.copy()
        if "path" not in df.columns:
            df = df.rename(columns={"name": "path"}) if "name" in df.columns else df.reset_index()
        if "path" not in df.columns:
            df = df.rename(columns={df.columns[0]: "path"})
        kinds = [c for c in SWITCH_COLUMNS if c in df.columns]
        if not kinds:
            raise ParameterError(f"mode_switches: the frame has none of the switch columns "
                                 f"{list(SWITCH_COLUMNS)}; it has {list(df.columns)}")
        return df[["path", *kinds]].reset_index(drop=True)
    from .spec.catalog import path as get_path

    rows = []
    for p in _as_list(paths, "mode_switches"):
        p = p if hasattr(p, "mode_switches") else get_path(p)
        rows.append(p.mode_switches(batch=batch).reset_index())
    return pd.concat(rows, ignore_index=True)


def mode_switches(paths: Any, ax=None, *, batch: int = 1):
    """Mode switches per I/O, stacked by kind, one horizontal bar per path.

    Parameters
    ----------
    paths : sequence of path names / Paths, or DataFrame
        A frame needs a ``path`` (or ``name``) column and the switch columns of
        :meth:`iovmodel.Path.mode_switches` (``vm_exits, user_exits, syscalls,
        wakeups, injections``), e.g. :func:`iovmodel.paths` or :func:`iovmodel.compare`.
    ax : Axes, optional
    batch : int
        Requests per kick: per-batch switches count ``1 / batch`` per I/O.

    Returns
    -------
    Axes
        x: mode switches per I/O (count); the total is written at each bar's end.
    """
    if int(batch) != batch or batch < 1:
        raise ParameterError(f"batch must be an integer >= 1, got {batch!r}")
    df = _switch_frame(paths, int(batch))
    kinds = [c for c in _SWITCH_LABELS if c in df.columns]
    ax = _new_ax(ax)
    ypos = np.arange(len(df))[::-1]
    left = np.zeros(len(df))
    for i, k in enumerate(kinds):
        v = df[k].to_numpy(float)
        ax.barh(ypos, v, left=left, height=0.7, color=PALETTE[i % len(PALETTE)],
                edgecolor="white", linewidth=0.3, label=_SWITCH_LABELS[k])
        left += v
    for y, total in zip(ypos, left, strict=True):
        ax.text(total, y, f" {total:.3g}", va="center", ha="left", fontsize=6)
    ax.set_yticks(ypos, labels=list(df["path"]))
    ax.set_xlabel("mode switches per I/O (count)")
    ax.set_xlim(left=0)
    ax.margins(x=0.1)
    ax.grid(axis="y", visible=False)
    ax.legend(loc="lower right")
    return ax


# -- fits -----------------------------------------------------------------------------------------

def _residual_frame(obj: Any) -> pd.DataFrame:
    df = obj.residuals if hasattr(obj, "residuals") else obj
    if callable(df):
        df = df()
    if not isinstance(df, pd.DataFrame):
        raise ParameterError("measured_vs_predicted: expected a FitResult or a residuals "
                             f"DataFrame, got {type(obj).__name__}")
    _need_columns(df, ["measured", "predicted"], "measured_vs_predicted")
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


def measured_vs_predicted(fit: Any, ax=None, *, metric: str | None = None,
                          band: float | None = 0.2, residuals: bool = True, residual_ax=None):
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
    mmark = {m: _MARKERS[i % len(_MARKERS)] for i, m in enumerate(metrics)}
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
    ax.legend(handles=handles, loc="lower right", fontsize=5.5, ncol=2 if len(handles) > 6 else 1)
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


# -- simulated distributions ------------------------------------------------------------------

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


def latency_distribution(sim: Any, ax=None, *, analytic: Any = None, ccdf: bool = False,
                         label: str | None = None, logx: bool = True):
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
                                 f"or an array of samples, got {type(sim).__name__}")
        x, F = _histogram_cdf(hist)
        pct = _percentile_points(sim)
        mean = float(getattr(sim, "latency_us", math.nan))
        name = label or getattr(sim, "path", "simulated")
    ax = _new_ax(ax)
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
    ax.legend(loc="lower right" if not ccdf else "lower left", fontsize=6)
    return ax


# -- saving ---------------------------------------------------------------------------------------

# Metadata that would differ between two builds of the same figure, per format.
_NO_DATE = {"pdf": {"CreationDate": None, "ModDate": None},
            "ps": {"CreationDate": None}, "eps": {"CreationDate": None},
            "svg": {"Date": None}, "png": {"Software": None}}


def save(fig, path: str | os.PathLike, overwrite: bool = False, **savefig_kw: Any) -> FsPath:
    """Write a figure atomically and reproducibly; refuse to overwrite unless asked.

    Parameters
    ----------
    fig : Figure
    path : str or path-like
        Target file; the format comes from its suffix (pdf, svg, png, eps, ps).
    overwrite : bool
        Replace an existing file (default: raise :class:`FileExistsError`).
    **savefig_kw
        Passed to ``Figure.savefig`` (``metadata`` entries are merged).

    Returns
    -------
    pathlib.Path
        The file written. Two saves of the same figure are byte-identical: no
        creation date, fixed SVG ids, Type 42 fonts in PDF and PostScript.
    """
    if not hasattr(fig, "savefig"):
        fig = getattr(fig, "figure", fig)
        if not hasattr(fig, "savefig"):
            raise ParameterError(f"fig: expected a matplotlib Figure or Axes, got {type(fig).__name__}")
    p = FsPath(path)
    fmt = p.suffix.lstrip(".").lower()
    if fmt not in _NO_DATE:
        raise ParameterError(f"path: unknown figure format {p.suffix!r}; use one of "
                             f"{', '.join('.' + k for k in _NO_DATE)}")
    if p.exists() and not overwrite:
        raise FileExistsError(f"{p} exists; pass overwrite=True to replace it")
    meta = dict(_NO_DATE[fmt])
    meta.update(savefig_kw.pop("metadata", {}) or {})
    rc = {"pdf.fonttype": 42, "ps.fonttype": 42, "svg.hashsalt": "iovmodel"}
    buf = io.BytesIO()  # a file object: no temporary file name leaks into the output
    with mpl.rc_context(rc):
        fig.savefig(buf, format=fmt, metadata=meta, **savefig_kw)
    data = buf.getvalue()
    if fmt in ("ps", "eps"):  # the PostScript backend always stamps the time
        data = re.sub(rb"%%CreationDate: [^\n]*\n", b"", data, count=1)
    write_atomic(p, data, overwrite=overwrite)
    return p
