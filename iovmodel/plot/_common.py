"""Helpers of the plot functions: argument checks, a fresh Axes, the legend outside the data."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from ..errors import ParameterError


def new_ax(ax):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots()
    return ax


def as_list(items: Any, what: str) -> list:
    if isinstance(items, str) or hasattr(items, "hop_list") or isinstance(items, pd.DataFrame):
        return [items]
    try:
        out = list(items)
    except TypeError:
        raise ParameterError(f"{what}: expected a sequence, got {type(items).__name__} {items!r:.80}") from None
    if not out:
        raise ParameterError(f"{what}: nothing to plot (empty sequence)")
    return out


def need_frame(data: Any, what: str, example: str) -> pd.DataFrame:
    """``data`` as a frame; anything else is an error that says how to make one."""
    if not isinstance(data, pd.DataFrame):
        raise ParameterError(f"{what}: expected a DataFrame of results, got "
                             f"{type(data).__name__}; plots draw results, they do not solve: "
                             f"e.g. {example}")
    return data


def need_columns(df: pd.DataFrame, cols: Sequence[str], what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ParameterError(f"{what}: the frame lacks column(s) {missing}; it has {list(df.columns)}")


def legend_outside(ax, **kw: Any):
    """The legend right of the Axes, outside the data (constrained layout makes room)."""
    kw.setdefault("loc", "upper left")
    kw.setdefault("bbox_to_anchor", (1.01, 1.0))
    kw.setdefault("borderaxespad", 0.0)
    return ax.legend(**kw)
