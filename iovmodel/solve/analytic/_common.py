"""Shared helpers of the analytic solvers: input checks and result presentation."""

from __future__ import annotations

import html
import math
import numbers
import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd

from ...errors import ParameterError, UnstableError, UnstableQueueWarning

UNSTABLE_POLICIES = ("raise", "nan")


def as_array(name: str, value, *, positive: bool = False, allow_inf: bool = False) -> np.ndarray:
    """Float array of ``value``; raise :class:`ParameterError` naming ``name`` if bad.

    Bad means non-numeric, NaN, negative, infinite (unless ``allow_inf``), or
    zero when ``positive``.
    """
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be a number or an array of numbers, got {value!r}")\
            from None
    if arr.size == 0:
        return arr
    lo = arr.min()  # one reduction on the fast path; NaN propagates into it
    if lo != lo:
        raise ParameterError(f"{name} must not be NaN, got {value!r}")
    if not allow_inf and arr.max() == np.inf:
        raise ParameterError(f"{name} must be finite, got {value!r}")
    if positive:
        if lo <= 0:
            raise ParameterError(f"{name} must be > 0, got {value!r}")
    elif lo < 0:
        raise ParameterError(f"{name} must be >= 0, got {value!r}")
    return arr


def broadcast(**arrays: np.ndarray) -> list[np.ndarray]:
    """``np.broadcast_arrays`` of named inputs; a shape mismatch raises ParameterError
    naming them and their shapes."""
    try:
        return np.broadcast_arrays(*arrays.values())
    except ValueError:
        shapes = ", ".join(f"{k} {np.shape(v)}" for k, v in arrays.items())
        raise ParameterError(f"inputs do not broadcast to one shape: {shapes}") from None


def as_scalar(name: str, value) -> float:
    """One finite number >= 0 (ParameterError naming ``name`` otherwise)."""
    arr = as_array(name, value)
    if arr.ndim != 0:
        raise ParameterError(f"{name} must be a single number, got {value!r}")
    return float(arr)


def as_count(name: str, value, *, minimum: int = 1) -> np.ndarray:
    """Array of integer counts >= ``minimum`` (floats equal to an integer are accepted)."""
    if isinstance(value, bool) or (isinstance(value, np.ndarray) and value.dtype == bool):
        raise ParameterError(f"{name} must be an integer >= {minimum}, got {value!r}")
    arr = as_array(name, value)
    if (arr != np.round(arr)).any() or (arr < minimum).any():
        raise ParameterError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return arr.astype(np.int64)


def as_int(name: str, value, *, minimum: int = 1) -> int:
    """A single integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ParameterError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if not math.isfinite(value) or value != int(value) or value < minimum:
        raise ParameterError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_policy(nan_policy: str) -> None:
    if nan_policy not in UNSTABLE_POLICIES:
        raise ParameterError(f"nan_policy must be one of {UNSTABLE_POLICIES}, got {nan_policy!r}")


def handle_unstable(bad: np.ndarray, rho: np.ndarray, load: np.ndarray, capacity: np.ndarray,
                    *, name: str, nan_policy: str) -> None:
    """Raise :class:`UnstableError` for the first point with utilisation >= 1, or warn.

    ``load`` and ``capacity`` are the offered load and the capacity in the same
    unit (requests per time unit), so the message says by how much it is exceeded.
    """
    if not bad.any():
        return
    idx = np.flatnonzero(bad.ravel())[0]
    r = float(rho.ravel()[idx])
    lo = float(np.broadcast_to(load, bad.shape).ravel()[idx])
    cap = float(np.broadcast_to(capacity, bad.shape).ravel()[idx])
    where = f" (point {idx} of {bad.size})" if bad.size > 1 else ""
    msg = (f"utilisation of {name!r} is {r:.4g} >= 1{where}: the offered load {lo:.6g} "
           f"per time unit reaches its capacity {cap:.6g} (rho = lam / capacity)")
    if nan_policy == "raise":
        raise UnstableError(msg)
    warnings.warn(msg + "; returned NaN there", UnstableQueueWarning, stacklevel=3)


def fmt(x) -> str:
    """Short text of a float or an array (no ``np.float64(...)``)."""
    if isinstance(x, np.ndarray):
        if x.size == 1:
            return fmt(float(x.ravel()[0]))
        if x.size <= 4:
            return "[" + ", ".join(fmt(float(v)) for v in x.ravel()) + "]"
        return f"[{fmt(float(x.ravel()[0]))} … {fmt(float(x.ravel()[-1]))}] ({x.size} values)"
    if isinstance(x, numbers.Integral):
        return str(int(x))
    x = float(x)
    if math.isnan(x) or math.isinf(x):
        return str(x)
    return f"{x:.6g}"


def html_table(rows: list[tuple[str, str]], caption: str) -> str:
    """A compact two-column HTML table with escaped content."""
    body = "".join(
        f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
        f"<td style='text-align:right'>{html.escape(v)}</td></tr>"
        for k, v in rows
    )
    return (f"<table><caption style='text-align:left'>{html.escape(caption)}</caption>"
            f"{body}</table>")


def frame_html(df: pd.DataFrame, caption: str) -> str:
    return (f"<div><span>{html.escape(caption)}</span>"
            + df.to_html(index=False, float_format=lambda v: f"{v:.6g}", border=0) + "</div>")


def names_and_values(name: str, value) -> tuple[list[str] | None, list]:
    """Split a mapping / Series into (keys, values); sequences give (None, list)."""
    if isinstance(value, pd.Series):
        return [str(k) for k in value.index], list(value.to_numpy())
    if isinstance(value, Mapping):
        return [str(k) for k in value.keys()], list(value.values())
    if isinstance(value, str | bytes):
        raise ParameterError(f"{name} must be a sequence or mapping of numbers, got {value!r}")
    if isinstance(value, list | tuple):
        return None, list(value)
    try:
        return None, list(np.asarray(value, dtype=object).ravel()) if np.ndim(value) else [value]
    except TypeError:
        raise ParameterError(f"{name} must be a sequence or mapping of numbers, got {value!r}")\
            from None
