"""Local sensitivity of the closed forms: elasticities of latency and bound to each
cost at a host profile, and the tornado figure of them."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import sympy as sp

from .._expr import compile_expr
from ..errors import ParameterError, UnstableError
from ..spec.catalog import Path
from ..spec.profile import parameters
from ..spec.workload import Workload
from .expressions import (
    _US_PER_S,
    NUMPY_MODULES,
    CostSymbol,
    SymStation,
    _as_path,
    _bottleneck_terms,
    _check_workload,
    _num_at,
    _values,
    latency,
    stations,
    utilization,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes


# -- sensitivity ------------------------------------------------------------------------------------
def _grad_at(expr: sp.Expr, names: Sequence[str], vals: Mapping[str, float]) -> dict[str, float]:
    """Exact partial derivatives of expr in the named costs, evaluated at vals (nan if undefined)."""
    out = {}
    for n in names:
        d = sp.diff(expr, CostSymbol(n))
        if d == 0:
            out[n] = 0.0
        elif d.has(sp.Derivative, sp.nan, sp.Subs):
            out[n] = math.nan
        else:
            out[n] = _num_at(d, vals)
    return out


def _bottleneck_at(sts: Sequence[SymStation], vals: Mapping[str, float],
                   inflight: float = math.inf) -> tuple[str, sp.Expr] | None:
    terms = _bottleneck_terms(sts, inflight)
    if not terms:
        return None
    best = max(terms, key=lambda k: (_num_at(terms[k], vals), -list(terms).index(k)))
    return best, terms[best]


def sensitivity(path: str | Path, host: Mapping[str, float] | None = None,
                workload: Workload | None = None, **options: Any) -> pd.DataFrame:
    r"""Elasticities of latency and throughput with respect to every cost the path uses.

    ``latency_elasticity`` is :math:`\partial \ln T / \partial \ln x` for the
    latency of :func:`latency` (zero-load latency when ``workload`` is None or
    closed, the open-network latency at the workload's rate when open);
    ``throughput_elasticity`` is :math:`\partial \ln X^*/\partial \ln x` of the
    throughput bound.  Both are exact: sympy derivatives evaluated at ``host``.
    The throughput bound is :math:`10^6 c_b / D_b` at the bottleneck :math:`b`
    (found at ``host``; the max is differentiable wherever the bottleneck is
    unique).

    Why the zero-load elasticities sum to 1: :math:`T_0 = \sum_k D_k` is a sum
    of hop costs, each a sum of products of a count and one time-valued cost
    (µs, or ns/B times the workload's bytes).  Scaling every time-valued cost by
    :math:`\theta` scales :math:`T_0` by :math:`\theta` (homogeneous of degree
    1), and Euler's theorem gives :math:`\sum_x \partial\ln T_0/\partial\ln x = 1`
    over the time-valued costs (all but ``device_blk_slots``, a count of servers,
    which :math:`T_0` does not contain).  The sum falls short of 1 only on a
    custom path with a numeric cost (a constant is not scaled).  The same
    argument gives -1 for the throughput bound's time-valued costs, plus 1 for
    ``device_blk_slots`` when the device is the bottleneck.  Under open load the
    latency is not homogeneous in the costs alone (the rate is not scaled), so
    its elasticities need not sum to 1.

    An elasticity with respect to a server count under open load is NaN: the
    Erlang formula uses whole servers, so the model is a step function of it.

    Returns
    -------
    DataFrame
        One row per cost the path's formulas use: ``path, cost, symbol, unit,
        value, latency_elasticity, throughput_elasticity, rank`` (1 = largest
        \|latency elasticity\|), ``throughput_rank``, ``latency_low_us`` and
        ``latency_high_us`` (the latency with this cost at the ends of its
        typical range, others at ``host``; for :func:`tornado`), ``hops``
        (the hops whose cost uses it).
    """
    p = _as_path(path, options)
    w = _check_workload(workload)
    vals = _values(host)
    decl = parameters()
    sts = stations(p, w)
    T = latency(p, w)
    bott = _bottleneck_at(sts, vals)
    used = set()
    for st in sts:
        used |= {s.name for s in st.demand.free_symbols}
        if isinstance(st.servers, sp.Symbol):
            used.add(st.servers.name)
    names = [n for n in decl if n in used]
    if w is not None and w.is_open:  # as analyze: no steady state at or beyond a capacity
        rhos = {res: _num_at(u, vals) for res, u in utilization(p, w).items()
                if not next(x for x in sts if x.name == res).is_delay}
        try:  # a limit that depends on the options and the workload (no host cost in it)
            limit = p.inflight_limit({**p.options, **w.cost_names()})
        except NameError:
            limit = p.inflight
        if math.isfinite(limit):  # the in-flight slots: lambda x (zero-load latency) / slots
            rhos["inflight"] = (w.rate_per_s / _US_PER_S
                                * sum(_num_at(st.demand, vals) for st in sts) / limit)
        if rhos:  # name the most loaded, as Network.check_stable does
            res, rho = max(rhos.items(), key=lambda kv: kv[1])
            if rho >= 1:
                raise UnstableError(
                    f"utilisation of {res!r} is {rho:.3g} >= 1 at {w.rate_per_s:,.0f}/s "
                    f"(path {p.name!r}): no steady-state latency to differentiate")
    T0 = _num_at(T, vals)
    dT = _grad_at(T, names, vals)
    if bott is not None:
        inv = sp.log(_US_PER_S / bott[1])  # ln X* at the bottleneck
        dX = _grad_at(inv, names, vals)
    else:
        dX = dict.fromkeys(names, 0.0)
    Tf = sp.lambdify(sorted(T.free_symbols, key=lambda s: s.name), T, modules=NUMPY_MODULES)
    targs = [s.name for s in sorted(T.free_symbols, key=lambda s: s.name)]

    def t_at(name: str, v: float) -> float:
        vv = dict(vals)
        vv[name] = v
        with np.errstate(divide="ignore", invalid="ignore"):
            out = float(Tf(*(vv[a] for a in targs)))
        if w is not None and w.is_open:  # beyond capacity: no steady state
            lam = w.rate_per_s / 1e6
            for st in sts:
                if st.is_delay or st.is_empty:
                    continue
                c = float(vv[st.servers.name]) if isinstance(st.servers, sp.Symbol) else float(st.servers)
                if lam * _num_at(st.demand, vv) / c >= 1:
                    return math.nan
        return out

    rows = []
    for n in names:
        v = vals[n]
        hops = [h.name for h in p.active_hops()
                if isinstance(h.cost, str) and n in compile_expr(h.cost)[1]]
        hops += [f"servers of {st.name}" for st in sts if st.servers == CostSymbol(n)]
        lo, hi = decl[n].typical
        rows.append({
            "path": p.name, "cost": n, "symbol": decl[n].symbol, "unit": decl[n].unit, "value": v,
            "latency_elasticity": v * dT[n] / T0 if T0 else math.nan,
            "throughput_elasticity": v * dX[n],
            "latency_low_us": t_at(n, lo), "latency_high_us": t_at(n, hi),
            "hops": "; ".join(dict.fromkeys(hops)),
        })
    df = pd.DataFrame(rows, columns=["path", "cost", "symbol", "unit", "value",
                                     "latency_elasticity", "throughput_elasticity",
                                     "latency_low_us", "latency_high_us", "hops"])
    df.insert(7, "rank", _rank(df["latency_elasticity"]))
    df.insert(8, "throughput_rank", _rank(df["throughput_elasticity"]))
    df.attrs.update({"latency_us": T0, "bottleneck": bott[0] if bott else None,
                     "workload": repr(w) if w is not None else None})
    return df.sort_values(["rank", "cost"], kind="stable").reset_index(drop=True)


def _rank(col: pd.Series) -> pd.Series:
    return col.abs().rank(ascending=False, method="min", na_option="bottom").astype(int)


# -- figure -----------------------------------------------------------------------------------------
def tornado(table: pd.DataFrame, ax: Axes | None = None, top: int = 8) -> Axes:
    """Tornado plot of the costs that move a path's latency most.

    Parameters
    ----------
    table : DataFrame
        From :func:`sensitivity`.  With ``latency_low_us``/``latency_high_us`` the
        bars span the latency with each cost at the ends of its typical range
        (other costs fixed), around the baseline; otherwise the bars are the
        latency elasticities.
    ax : matplotlib Axes, optional
    top : int
        How many costs (largest swing first).

    Returns
    -------
    matplotlib Axes
    """
    if not isinstance(table, pd.DataFrame) or "cost" not in table:
        raise ParameterError("tornado needs the DataFrame from sensitivity()")
    if not isinstance(top, int) or top < 1:
        raise ParameterError(f"top must be a whole number >= 1, got {top!r}")
    try:
        from ..plot import PALETTE
    except ImportError:  # plot module not available: matplotlib's default cycle
        PALETTE = ("#0072B2", "#D55E00")
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots()
    df = table.copy()
    base = df.attrs.get("latency_us")
    swing = {"latency_low_us", "latency_high_us"} <= set(df) and base is not None
    if swing:
        lo = df["latency_low_us"] - base
        hi = df["latency_high_us"] - base
        df["_key"] = np.fmax(lo.abs().fillna(np.inf), hi.abs().fillna(np.inf))
    else:
        df["_key"] = df["latency_elasticity"].abs()
    df = df.sort_values("_key", ascending=False, na_position="last").head(top).iloc[::-1]
    y = np.arange(len(df))
    labels = [f"${s}$" for s in df["symbol"]] if "symbol" in df else list(df["cost"])
    if swing:
        lo = (df["latency_low_us"] - base).to_numpy(dtype=float)
        hi = (df["latency_high_us"] - base).to_numpy(dtype=float)
        ax.barh(y, lo, color=PALETTE[0], label="cost at typical low")
        ax.barh(y, hi, color=PALETTE[1], label="cost at typical high")
        for yi, (a, b) in enumerate(zip(lo, hi, strict=True)):
            for v in (a, b):
                if not np.isfinite(v):  # the cost at that end makes a resource saturate
                    ax.annotate("unstable", (0, yi), xytext=(3, 0), textcoords="offset points",
                                fontsize="small", va="center")
        ax.set_xlabel(f"latency change around {base:.3g} µs (µs)")
        ax.legend(loc="lower right", fontsize="small", frameon=False)
    else:
        ax.barh(y, df["latency_elasticity"].to_numpy(dtype=float), color=PALETTE[0])
        ax.set_xlabel("latency elasticity ∂ln T/∂ln x")
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.set_yticks(y, labels)
    if "path" in df and len(df):
        ax.set_title(str(df["path"].iloc[0]))
    return ax
