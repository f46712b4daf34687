"""Where the time and the mode switches of one I/O go: stacked horizontal bars per path."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ParameterError
from ._common import as_list, legend_outside, need_columns, new_ax
from .palette import PALETTE, WAIT_HATCH, resource_styles

__all__ = ["breakdown", "mode_switches"]

_SWITCH_LABELS = {"vm_exits": "VM exits", "user_exits": "exits to userspace",
                  "syscalls": "host syscalls", "wakeups": "thread wake-ups",
                  "injections": "interrupt injections"}


def _room_for_totals(ax: Any, totals: Any) -> None:
    # the totals are written after the bars' ends: keep them inside the Axes, so the legend
    # (outside, right) never covers one
    top = float(np.max(totals)) if len(totals) else 0.0
    ax.set_xlim(0, 1.22 * top if top > 0 else 1.0)


def _frames(results: Sequence[Any], by: str) -> list[pd.DataFrame]:
    frames = []
    for r in results:
        bd = getattr(r, "breakdown", None)
        if not isinstance(bd, pd.DataFrame):
            raise ParameterError(f"breakdown: expected Results (e.g. iov.analyze(path, host, "
                                 f"workload)), got {type(r).__name__}; plots do not solve")
        need_columns(bd, ["resource", "service_us"], "breakdown")
        bd = bd.copy()
        if "wait_us" not in bd:
            bd["wait_us"] = 0.0
        bd["wait_us"] = bd["wait_us"].fillna(0.0)
        if by == "resource":
            bd = (bd.groupby("resource", sort=False, as_index=False)[["service_us", "wait_us"]]
                  .sum())
        frames.append(bd)
    return frames


def breakdown(results: Any, ax: Any = None, *, by: str = "hop",
              labels: Sequence[str] | None = None, wait: bool = True) -> Any:
    """Stacked latency of one I/O, hop by hop, one horizontal bar per path.

    Parameters
    ----------
    results : Result or sequence of Result
        Anything with a ``breakdown`` frame (``hop, resource, service_us, wait_us``)
        and a ``path``, e.g. ``[iov.analyze(p, host, w) for p in paths]``.
    ax : Axes, optional
    by : {"hop", "resource"}
        One segment per hop (in route order) or per resource. Segments are
        coloured by the resource they hold: the same look in every figure, and
        never two resources alike in one figure (:func:`resource_styles`).
    labels : sequence of str, optional
        Bar labels (default: the path names).
    wait : bool
        Draw queueing time (``wait_us``) as hatched segments after each hop's service.

    Returns
    -------
    Axes
        x: latency per I/O, µs; each bar's total written at its end; the legend
        right of the Axes. Each bar segment's ``gid`` is ``"service:<resource>"``
        or ``"wait:<resource>"``.
    """
    if by not in ("hop", "resource"):
        raise ParameterError(f"by must be 'hop' or 'resource', got {by!r}")
    rs = as_list(results, "breakdown")
    if labels is not None and len(labels) != len(rs):
        raise ParameterError(f"labels: {len(labels)} labels for {len(rs)} results")
    frames = _frames(rs, by)
    looks = resource_styles(pd.concat(frames)["resource"])
    ax = new_ax(ax)
    used: dict[str, None] = {}
    any_wait = False
    ypos = np.arange(len(rs))[::-1]  # first result on top
    totals = []
    for y, bd in zip(ypos, frames, strict=True):
        left = 0.0
        for row in bd.itertuples(index=False):
            lk = looks[row.resource]
            if row.service_us > 0:
                ax.barh(y, row.service_us, left=left, height=0.7, color=lk.color, hatch=lk.hatch,
                        edgecolor="white", linewidth=0.3, gid=f"service:{row.resource}")
                left += row.service_us
                used[row.resource] = None
            if wait and row.wait_us > 0:
                ax.barh(y, row.wait_us, left=left, height=0.7, color=lk.color, alpha=0.45,
                        hatch=WAIT_HATCH, edgecolor="white", linewidth=0.3,
                        gid=f"wait:{row.resource}")
                left += row.wait_us
                any_wait = True
        ax.text(left, y, f" {left:.3g}", va="center", ha="left", fontsize=6)
        totals.append(left)
    ax.set_yticks(ypos, labels=list(labels) if labels is not None else [r.path for r in rs])
    ax.set_xlabel("latency per I/O (µs)")
    _room_for_totals(ax, totals)
    ax.grid(axis="y", visible=False)
    from matplotlib.patches import Patch

    handles = [Patch(facecolor=looks[r].color, hatch=looks[r].hatch, edgecolor="white",
                     label=r) for r in used]
    if any_wait:
        handles.append(Patch(facecolor="0.7", alpha=0.45, hatch=WAIT_HATCH, edgecolor="white",
                             label="queueing"))
    legend_outside(ax, handles=handles)
    return ax


def _switch_frame(paths: Any, batch: int) -> pd.DataFrame:
    from ..spec.catalog import SWITCH_COLUMNS
    from ..spec.catalog import path as get_path

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
    rows = []
    for p in as_list(paths, "mode_switches"):
        p = p if hasattr(p, "mode_switches") else get_path(p)  # the catalog: counting, no solving
        rows.append(p.mode_switches(batch=batch).reset_index())
    return pd.concat(rows, ignore_index=True)


def mode_switches(paths: Any, ax: Any = None, *, batch: int = 1) -> Any:
    """Mode switches per I/O, stacked by kind, one horizontal bar per path.

    Parameters
    ----------
    paths : sequence of path names / Paths, or DataFrame
        A frame needs a ``path`` (or ``name``) column and the switch columns of
        :meth:`iovmodel.Path.mode_switches` (``vm_exits, user_exits, syscalls,
        wakeups, injections``), e.g. :func:`iovmodel.paths` or :func:`iovmodel.compare`.
        Names are looked up in the catalog (counting hops, nothing is solved).
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
    ax = new_ax(ax)
    ypos = np.arange(len(df))[::-1]
    left = np.zeros(len(df))
    for i, k in enumerate(kinds):
        v = df[k].to_numpy(float)
        ax.barh(ypos, v, left=left, height=0.7, color=PALETTE[i % len(PALETTE)],
                edgecolor="white", linewidth=0.3, label=_SWITCH_LABELS[k], gid=f"switch:{k}")
        left += v
    for y, total in zip(ypos, left, strict=True):
        ax.text(total, y, f" {total:.3g}", va="center", ha="left", fontsize=6)
    ax.set_yticks(ypos, labels=list(df["path"]))
    ax.set_xlabel("mode switches per I/O (count)")
    _room_for_totals(ax, left)
    ax.grid(axis="y", visible=False)
    legend_outside(ax)
    return ax
