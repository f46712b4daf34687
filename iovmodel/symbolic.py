r"""Closed forms you can read: sympy expressions of a path's model.

Every expression here is *the same model* as :func:`iovmodel.analyze` (a test
substitutes random profiles into them and compares with it to 1e-9), written
with one sympy symbol per host cost.  The symbols are named by the cost names,
so a :class:`~iovmodel.HostProfile` substitutes directly
(``latency(p).subs(host)``), and they print with each cost's declared LaTeX
symbol (``vmexit_us`` prints as :math:`t_{\mathrm{exit}}`).

What becomes a symbol and what a number
---------------------------------------
- Host costs (``vmexit_us``, ..., ``device_blk_slots``): symbols, always.
- Path options (``vcpus``, ``workers``, ``iothreads``, ``rings``,
  ``posted_interrupts``): **substituted by the path's current values**.  They
  choose which hops exist (``when`` conditions) and how many servers a
  resource has, so the formula is the one of *this* configuration; pass
  options (``latency("vhost-scsi", workers=4)``) to get another.
- Workload fields (``rate_per_s``, ``batch``, ``size_bytes``, ``think_us``):
  substituted by the workload's values (defaults: batch 1, 4096 bytes, no
  think time), unless named in ``keep`` (``keep=("rate_per_s",)``), in which
  case they are symbols :math:`\lambda` (I/O per second), :math:`b`,
  :math:`s_{\mathrm{io}}` (bytes), :math:`Z` (µs).

The model, per station :math:`k` (a resource), with per-I/O occurrence counts
:math:`n_h` (a per-batch hop counts :math:`n_h/b`) and hop costs :math:`t_h`:

- demand :math:`D_k = \sum_h n_h t_h` (µs), visits :math:`V_k = \sum_h n_h`,
  second moment :math:`M_k = \sum_h n_h t_h^2 (1 + c_h^2)`, so the visit mix has
  mean :math:`s_k = D_k/V_k` and :math:`1 + c_{s,k}^2 = M_k V_k / D_k^2`;
- zero-load latency :math:`T_0 = \sum_k D_k`;
- throughput bound :math:`X^* = 10^6 / \max_k (D_k / c_k)` I/O per second over
  stations with finitely many servers :math:`c_k` (Denning & Buzen 1978,
  the utilisation law; Lazowska et al. 1984, ch. 5);
- open latency at Poisson rate :math:`\lambda` (per µs: :math:`\lambda/10^6`):
  a delay station adds :math:`D_k`; a one-server station the
  Pollaczek-Khinchine term :math:`V_k (s_k + \lambda V_k s_k^2 (1 + c_{s,k}^2) /
  (2 (1 - \lambda D_k)))`; a :math:`c`-server station the Allen-Cunneen term
  :math:`V_k (s_k + C(c, a)\, s_k/(c - a)\, (1 + c_{s,k}^2)/2)` with
  :math:`a = \lambda D_k` and Erlang C :math:`C(c, a) = c B / (c - a (1 - B))`
  from Erlang B :math:`B(c, a)` (:class:`ErlangB`, a sympy function that
  evaluates for whole :math:`c` and differentiates in :math:`a`).  Like
  ``analyze``, the Erlang formula uses whole servers: :math:`\lfloor c \rfloor`.

Expressions carry no stability condition: an open expression is only the model
where every :math:`\rho_k = \lambda D_k / c_k < 1`; :class:`Evaluator` returns
NaN elsewhere (``analyze`` raises :class:`~iovmodel.UnstableError`).
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import sympy as sp

from ._expr import compile_expr, evaluate
from .errors import ParameterError, UnstableError
from .network import POLL_STATION, check_servers, station_of
from .spec.catalog import Path
from .spec.catalog import path as get_path
from .spec.profile import HostProfile, parameters
from .spec.workload import Workload

__all__ = [
    "NUMPY_MODULES", "CostSymbol", "Derivation", "ErlangB", "Evaluator", "SymStation",
    "break_even_batch", "derivations", "evaluator", "stations",
    "latency", "saturation_population", "sensitivity", "symbol", "throughput_bound", "tornado",
    "utilization", "zero_load_latency",
]

#: workload fields that can stay symbolic (``keep=``), with their LaTeX symbols
WORKLOAD_SYMBOLS = {
    "rate_per_s": r"\lambda",
    "batch": "b",
    "size_bytes": r"s_{\mathrm{io}}",
    "think_us": "Z",
}
_US_PER_S = sp.Integer(10) ** 6
_SYM_FUNCS = {"min": sp.Min, "max": sp.Max}  # what min/max mean in a symbolic cost


# -- symbols ------------------------------------------------------------------------------------
def _latex_name(name: str) -> str:
    decl = parameters().get(name)
    if decl is not None:
        return decl.symbol
    return WORKLOAD_SYMBOLS.get(name, sp.latex(sp.Symbol(name)))


class CostSymbol(sp.Symbol):
    """A sympy Symbol named by a cost (or workload field) that prints with its LaTeX symbol.

    It substitutes like a plain ``Symbol`` of the same name, so
    ``expr.subs(host)`` and ``expr.subs({"vmexit_us": 0.5})`` work.
    """

    def _latex(self, printer) -> str:
        return _latex_name(self.name)

    def _eval_subs(self, old, new):
        # subs() turns string keys into plain Symbols; match them by name
        if isinstance(old, sp.Symbol) and old.name == self.name:
            return new
        return None


def symbol(name: str) -> CostSymbol:
    """The symbol of a host cost (``"vmexit_us"``) or a workload field (``"rate_per_s"``)."""
    if name not in parameters() and name not in WORKLOAD_SYMBOLS:
        raise ParameterError(f"no symbol {name!r}: not a host cost "
                             f"({', '.join(sorted(parameters()))}) or a workload field "
                             f"({', '.join(WORKLOAD_SYMBOLS)})")
    return CostSymbol(name)


# -- Erlang B as a sympy function --------------------------------------------------------------
def _erlang_b_numeric(c, a):
    """Erlang B for whole ``c`` (array-friendly); the same routine as iovmodel.analytic."""
    from .analytic.single import _erlang_b

    c_arr = np.floor(np.asarray(c, dtype=float))
    a_arr = np.asarray(a, dtype=float)
    c_arr, a_arr = np.broadcast_arrays(c_arr, a_arr)
    out = np.full(c_arr.shape, np.nan)
    ok = np.isfinite(c_arr) & (c_arr >= 1) & np.isfinite(a_arr) & (a_arr >= 0)
    if ok.any():
        out[ok] = _erlang_b(c_arr[ok].astype(np.int64), a_arr[ok])
    return out if out.ndim else float(out)


class ErlangB(sp.Function):
    r"""Erlang B blocking probability :math:`B(c, a)` for ``c`` whole servers at offered load ``a``.

    Evaluates to a number when both arguments are numbers (by the recursion
    :math:`B_k = a B_{k-1} / (k + a B_{k-1})`, the routine ``analyze`` uses).
    Its derivative in ``a`` is exact: :math:`\partial B/\partial a = B (c/a - 1 + B)`
    (from :math:`B = (a^c/c!)/\sum_{k\le c} a^k/k!`).  It has no derivative in ``c``
    (servers are whole): that derivative is ``nan``.
    """

    nargs = 2

    @classmethod
    def eval(cls, c, a):
        if c.is_Number and a.is_Number:
            if a == 0:
                return sp.Integer(0)
            return sp.Float(_erlang_b_numeric(float(c), float(a)))
        return None

    def fdiff(self, argindex: int = 1):
        c, a = self.args
        if argindex == 2:
            return self * (c / a - 1 + self)
        if argindex == 1:
            return sp.nan
        raise sp.ArgumentIndexError(self, argindex)

    def _latex(self, printer) -> str:
        c, a = (printer._print(x) for x in self.args)
        return rf"B\left({c}, {a}\right)"


def _erlang_c(c, a):
    """Erlang C (probability of waiting) from Erlang B, as a sympy expression."""
    b = ErlangB(c, a)
    return c * b / (c - a * (1 - b))


# -- the symbolic network ---------------------------------------------------------------------
@dataclass(frozen=True)
class SymStation:
    """One resource of a path, with sympy demand (µs), visits and second moment (µs²)."""

    name: str
    servers: Any  # sympy expression (a number or a cost symbol) or math.inf (delay)
    demand: sp.Expr
    visits: sp.Expr
    m2: sp.Expr
    host_cpu: bool = True
    hops: tuple[str, ...] = ()

    @property
    def is_delay(self) -> bool:
        return self.servers is math.inf

    @property
    def is_empty(self) -> bool:
        return self.demand == 0 or self.visits == 0


def _number(x: float) -> sp.Expr:
    """An exact sympy number for a catalog constant (0.5 -> 1/2, 13.0 -> 13)."""
    x = float(x)
    if x == int(x):
        return sp.Integer(int(x))
    return sp.Rational(repr(x))


def _rationalize(expr: sp.Expr) -> sp.Expr:
    floats = expr.atoms(sp.Float)
    return expr.xreplace({f: _number(float(f)) for f in floats}) if floats else expr


def _as_path(p: str | Path, options: Mapping[str, Any]) -> Path:
    q = p if isinstance(p, Path) else get_path(p)
    return q.with_options(**options) if options else q


def _check_keep(keep: Iterable[str]) -> tuple[str, ...]:
    if isinstance(keep, str):
        keep = (keep,)
    keep = tuple(keep)
    bad = [k for k in keep if k not in WORKLOAD_SYMBOLS]
    if bad:
        raise ParameterError(f"keep names {', '.join(map(repr, bad))}; only workload fields "
                             f"{', '.join(WORKLOAD_SYMBOLS)} can be kept symbolic")
    return keep


def _check_workload(workload: Workload | None) -> Workload | None:
    if workload is not None and not isinstance(workload, Workload):
        raise ParameterError(f"workload must be a Workload or None, got {type(workload).__name__}")
    return workload


def _workload_values(workload: Workload | None, keep: tuple[str, ...]) -> dict[str, Any]:
    """Numbers (or symbols, when kept) of the workload fields the formulas use."""
    w = workload
    vals: dict[str, Any] = {
        "rate_per_s": (_number(w.rate_per_s) if w is not None and w.is_open
                       else symbol("rate_per_s")),
        "batch": _number(w.batch if w is not None else 1),  # a mean: 2.5 stays 5/2
        "size_bytes": sp.Integer(w.size_bytes if w is not None else 4096),
        "think_us": (_number(w.think_us) if w is not None and not w.is_open else sp.Integer(0)),
    }
    for k in keep:
        vals[k] = symbol(k)
    return vals


_CACHE: dict[tuple, tuple[SymStation, ...]] = {}


def _cache_key(p: Path, wv: Mapping[str, Any]) -> tuple:
    res = tuple(sorted((k, r.servers, r.cpu, r.polling) for k, r in p.resources.items()))
    opts = tuple(sorted((k, repr(v)) for k, v in p.options.items()))
    return (p.name, p.hop_list, res, opts, str(wv["batch"]), str(wv["size_bytes"]))


def stations(path: str | Path, workload: Workload | None = None, keep: Iterable[str] = (),
             **options: Any) -> tuple[SymStation, ...]:
    """The path's stations with symbolic demand, visits and second moment.

    Stations appear in the order their resource is first used (as in
    :func:`iovmodel.network.build`).  See the module docstring for which names
    stay symbolic.
    """
    p = _as_path(path, options)
    wv = _workload_values(_check_workload(workload), _check_keep(keep))
    key = _cache_key(p, wv)
    if key in _CACHE:
        return _CACHE[key]
    env: dict[str, Any] = {name: CostSymbol(name) for name in parameters()}
    env.update(p.options)
    env["size_bytes"] = wv["size_bytes"]
    order: list[str] = []
    acc: dict[str, dict[str, Any]] = {}
    for h in p.active_hops():
        if isinstance(h.cost, str):
            cost = sp.sympify(evaluate(h.cost, env, funcs=_SYM_FUNCS))
        else:
            cost = sp.sympify(h.cost)
        cost = _rationalize(cost)
        n = _number(h.count) / wv["batch"] if h.per == "batch" else _number(h.count)
        r = station_of(p, h)
        if r not in acc:
            order.append(r)
            acc[r] = {"D": sp.Integer(0), "V": sp.Integer(0), "M": sp.Integer(0), "hops": []}
        a = acc[r]
        a["D"] += n * cost
        a["V"] += n
        a["M"] += n * cost**2 * (1 + _number(h.scv))
        a["hops"].append(h.name)
    out = []
    for r in order:
        if r == POLL_STATION:  # a delay station of host CPU (as network.build)
            a = acc[r]
            out.append(SymStation(r, math.inf, a["D"], a["V"], a["M"], True, tuple(a["hops"])))
            continue
        res = p.resources[r]
        s = res.servers
        if isinstance(s, str) and s != "inf" and s not in p.options:
            servers: Any = symbol(s)  # a host cost (device_blk_slots): stays symbolic
        else:
            num = p.servers_of(r, HostProfile.default())  # a number, an option or inf
            servers = math.inf if math.isinf(num) else _number(check_servers(r, num))
        a = acc[r]
        out.append(SymStation(r, servers, a["D"], a["V"], a["M"], res.cpu == "host",
                              tuple(a["hops"])))
    result = tuple(out)
    if len(_CACHE) > 512:
        _CACHE.clear()
    _CACHE[key] = result
    return result


def _station_latency(st: SymStation, lam_us: sp.Expr) -> sp.Expr:
    """Per-I/O latency (service + queueing) at one station under Poisson rate lam_us per µs."""
    D, V, M = st.demand, st.visits, st.m2
    if st.is_empty:
        return sp.Integer(0)
    if st.is_delay:
        return D
    if st.servers == 1:
        # Pollaczek-Khinchine, V (s + lam V s^2 (1 + scv) / (2 (1 - rho))), with
        # V s^2 (1 + scv) = M: no division by D, so a station whose costs are all 0 gives 0
        return D + lam_us * V * M / (2 * (1 - lam_us * D))
    s = D / V
    one_plus_scv = M * V / D**2  # 1 + scv of the visit mix: E[S^2] / E[S]^2
    c = st.servers if st.servers.is_Number else sp.floor(st.servers)
    a = lam_us * D  # offered load (Erlangs)
    # a station whose costs are all 0 at some profile adds 0 (as in analyze), not 0/0
    return sp.Piecewise((sp.Integer(0), sp.Eq(D, 0)),
                        (V * (s + _erlang_c(c, a) * s / (c - a) * one_plus_scv / 2), True))


# -- public expressions -------------------------------------------------------------------------
def zero_load_latency(path: str | Path, workload: Workload | None = None,
                      keep: Iterable[str] = (), **options: Any) -> sp.Expr:
    r"""Zero-load latency :math:`T_0 = \sum_k D_k` of a path, µs (sympy).

    The latency of an I/O that never waits; ``analyze(...).zero_load_latency_us``.
    """
    return sp.Add(*(st.demand for st in stations(path, workload, keep, **options)))


def latency(path: str | Path, workload: Workload | None = None, keep: Iterable[str] = (),
            **options: Any) -> sp.Expr:
    r"""Mean latency of one I/O, µs, as a sympy expression in the host costs.

    Parameters
    ----------
    path : str or Path
        A catalog name or a Path.
    workload : Workload, optional
        ``None`` or a closed workload: the zero-load latency :math:`\sum_k D_k`
        (a closed network has no closed form: ``analyze`` runs MVA).  An open
        workload: the open-network latency (M/G/1 per one-server station,
        Allen-Cunneen M/G/c per multi-server station, delay stations add their
        demand), exactly ``analyze(path, host, workload).latency_us`` once the
        host is substituted.
    keep : sequence of str
        Workload fields to keep as symbols (``"rate_per_s"`` -> :math:`\lambda`
        in I/O per second, ``"batch"``, ``"size_bytes"``).
    **options
        Path options (``workers=4``).

    Examples
    --------
    >>> import iovmodel as iov
    >>> T0 = latency("virtio-blk")
    >>> round(float(T0.subs(iov.HostProfile.default())), 4)
    55.32
    """
    w = _check_workload(workload)
    keep = _check_keep(keep)
    if w is None or not w.is_open:
        if "rate_per_s" in keep:
            raise ParameterError("keep='rate_per_s' needs an open workload "
                                 "(Workload.open(...)); a closed workload has no rate")
        return zero_load_latency(path, w, keep, **options)
    lam_us = _workload_values(w, keep)["rate_per_s"] / _US_PER_S
    return sp.Add(*(_station_latency(st, lam_us) for st in stations(path, w, keep, **options)))


def _bottleneck_terms(sts: Sequence[SymStation]) -> dict[str, sp.Expr]:
    """Per-server demand D_k / c_k of every station that can saturate."""
    return {st.name: st.demand / st.servers for st in sts
            if not st.is_delay and not st.is_empty}


def throughput_bound(path: str | Path, workload: Workload | None = None,
                     keep: Iterable[str] = (), **options: Any) -> sp.Expr:
    r"""Saturation throughput :math:`X^* = 10^6 / \max_k (D_k/c_k)`, I/O per second (sympy).

    The max runs over stations with finitely many servers (``sympy.oo`` when
    there are none); ``analyze(...).saturation_per_s``.
    """
    terms = _bottleneck_terms(stations(path, workload, keep, **options))
    if not terms:
        return sp.oo
    return _US_PER_S / sp.Max(*terms.values())


def utilization(path: str | Path, workload: Workload | None = None, keep: Iterable[str] = (),
                **options: Any) -> dict[str, sp.Expr]:
    r"""Utilisation per resource :math:`\rho_k = \lambda D_k / (10^6 c_k)` (sympy).

    :math:`\lambda` is the open workload's rate, or the symbol ``rate_per_s``
    (the throughput, by the utilisation law) when the workload is None or closed
    or ``keep`` names it.  Delay stations give their mean number of busy servers,
    as ``analyze(...).utilization`` does.
    """
    w = _check_workload(workload)
    lam_us = _workload_values(w, _check_keep(keep))["rate_per_s"] / _US_PER_S
    out = {}
    for st in stations(path, w, keep, **options):
        out[st.name] = lam_us * st.demand if st.is_delay else lam_us * st.demand / st.servers
    return out


# -- numeric helpers ------------------------------------------------------------------------------
#: ``modules`` for :func:`sympy.lambdify` of these expressions (numpy, plus Erlang B)
NUMPY_MODULES = [{"ErlangB": _erlang_b_numeric, "floor": np.floor}, "numpy"]


def _values(host: Mapping[str, float] | None) -> dict[str, float]:
    h = host if host is not None else HostProfile.default()
    return {k: float(h[k]) for k in parameters()}


def _num_at(expr: sp.Expr, vals: Mapping[str, float]) -> float:
    syms = sorted(expr.free_symbols, key=lambda s: s.name)
    missing = [s.name for s in syms if s.name not in vals]
    if missing:
        raise ParameterError(f"no value for {', '.join(missing)}")
    f = sp.lambdify(syms, expr, modules=NUMPY_MODULES)
    return float(f(*(vals[s.name] for s in syms)))


# -- vectorised evaluation --------------------------------------------------------------------------
_METRICS = ("latency", "zero_load_latency", "throughput_bound")


class Evaluator:
    """A lambdify-compiled metric of one path: numpy in, numpy out.

    Call with arrays (broadcast together): ``rate_per_s`` (open latency and
    utilisation metrics) and any host cost by name; costs not given take the
    ``host`` profile's values.  Unstable open points (any finite-server
    station at :math:`\\rho \\ge 1`) give NaN.

    Attributes
    ----------
    expr : sympy expression
    args : tuple of str
        Names the compiled function takes, in order.
    """

    def __init__(self, path: Path, metric: str, expr: sp.Expr, rho: Sequence[sp.Expr],
                 host: Mapping[str, float] | None) -> None:
        self.path = path.name
        self.metric = metric
        self.expr = expr
        free = set(expr.free_symbols)
        for r in rho:
            free |= r.free_symbols
        self.args = tuple(sorted((s.name for s in free), key=lambda n: (n != "rate_per_s", n)))
        syms = [CostSymbol(n) for n in self.args]
        self._f = sp.lambdify(syms, expr, modules=NUMPY_MODULES)
        self._rho = [sp.lambdify(syms, r, modules=NUMPY_MODULES) for r in rho]
        self._base = _values(host)

    def __call__(self, rate_per_s: Any = None, **costs: Any) -> np.ndarray:
        unknown = set(costs) - set(parameters())
        if unknown:
            raise ParameterError(f"unknown cost(s) {', '.join(sorted(unknown))}")
        vals: list[Any] = []
        for n in self.args:
            if n == "rate_per_s":
                if rate_per_s is None:
                    raise ParameterError(f"metric {self.metric!r} of {self.path!r} needs rate_per_s")
                vals.append(np.asarray(rate_per_s, dtype=float))
            else:
                vals.append(np.asarray(costs.get(n, self._base[n]), dtype=float))
        shapes = [np.shape(v) for v in vals]
        if rate_per_s is not None:  # a curve over rates even where the metric ignores the rate
            shapes.append(np.shape(rate_per_s))
        shape = np.broadcast_shapes(*shapes) if shapes else ()
        vals = [np.broadcast_to(v, shape) for v in vals]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            out = np.broadcast_to(np.asarray(self._f(*vals), dtype=float), shape).copy()
            for g in self._rho:
                out[np.broadcast_to(np.asarray(g(*vals), dtype=float), shape) >= 1] = np.nan
        return out if out.ndim else float(out)

    def __repr__(self) -> str:
        return f"<Evaluator {self.path} {self.metric}({', '.join(self.args)})>"

    def _repr_latex_(self) -> str:
        return "$" + sp.latex(self.expr) + "$"


def evaluator(path: str | Path, metric: str = "latency", workload: Workload | None = None,
              host: Mapping[str, float] | None = None, **options: Any) -> Evaluator:
    """A vectorised numpy evaluator of a path's metric, compiled from its sympy form.

    Parameters
    ----------
    path : str or Path
    metric : str
        ``"latency"`` (open-load mean latency, µs, as a function of
        ``rate_per_s``), ``"zero_load_latency"`` (µs), ``"throughput_bound"``
        (I/O per second) or ``"utilization:<resource>"``.
    workload : Workload, optional
        Supplies ``batch`` and ``size_bytes`` (its rate is ignored: the rate is
        an argument).
    host : HostProfile, optional
        Values of the costs not passed at call time (default profile).

    Examples
    --------
    >>> import numpy as np
    >>> f = evaluator("virtio-blk")
    >>> lat = f(rate_per_s=np.linspace(1e4, 1e5, 4))  # µs, one per rate
    """
    p = _as_path(path, options)
    w = _check_workload(workload)
    size = w.size_bytes if w is not None else 4096
    batch = w.batch if w is not None else 1
    w_open = Workload.open(1.0, size_bytes=size, batch=batch)
    rho: list[sp.Expr] = []
    if metric == "latency":
        expr = latency(p, w_open, keep=("rate_per_s",))
        rho = [u for name, u in utilization(p, w_open, keep=("rate_per_s",)).items()
               if not next(s for s in stations(p, w_open) if s.name == name).is_delay]
    elif metric == "zero_load_latency":
        expr = zero_load_latency(p, w_open)
    elif metric == "throughput_bound":
        expr = throughput_bound(p, w_open)
    elif metric.startswith("utilization:"):
        res = metric.split(":", 1)[1]
        u = utilization(p, w_open, keep=("rate_per_s",))
        if res not in u:
            raise ParameterError(f"path {p.name!r} has no resource {res!r}; its resources: "
                                 f"{', '.join(u)}")
        expr = u[res]
    else:
        raise ParameterError(f"metric must be one of {', '.join(_METRICS)} or "
                             f"'utilization:<resource>', got {metric!r}")
    if expr is sp.oo:
        expr = sp.Float(math.inf)
    return Evaluator(p, metric, expr, rho, host)


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


def _bottleneck_at(sts: Sequence[SymStation], vals: Mapping[str, float]) -> tuple[str, sp.Expr] | None:
    terms = _bottleneck_terms(sts)
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
        for res, u in utilization(p, w).items():
            st = next(x for x in sts if x.name == res)
            rho = _num_at(u, vals)
            if not st.is_delay and rho >= 1:
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


# -- derivations ----------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class Derivation:
    """A derived formula with its value for one host.

    Attributes
    ----------
    name : str
        What it is (``"N*"``, ``"b*"``).
    formula : sympy expression
        General form in named quantities (``(D + Z)/D_max``).
    expr : sympy expression
        The formula in the host costs of the path(s).
    value : float
        ``expr`` at ``host``.
    unit : str
    detail : dict
        The named quantities' values (``D``, ``Z``, ``D_max``, ...).
    """

    name: str
    formula: sp.Expr
    expr: sp.Expr
    value: float
    unit: str
    description: str
    detail: Mapping[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"<Derivation {self.name} = {sp.sstr(self.formula)} = {self.value:.4g} {self.unit}>"

    def __str__(self) -> str:
        parts = ", ".join(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}"
                          for k, v in self.detail.items())
        return (f"{self.description}\n  {self.name} = {sp.sstr(self.formula)}\n"
                f"  = {sp.sstr(self.expr)}\n  = {self.value:.4g} {self.unit} ({parts})")

    def summary(self) -> str:
        return str(self)

    def _repr_latex_(self) -> str:
        return ("$" + self.name_latex + " = " + sp.latex(self.formula) + " = "
                + sp.latex(self.expr) + rf" \approx {self.value:.4g}$")

    def _repr_html_(self) -> str:
        return (f"<div>{html.escape(self.description)}<br><code>{html.escape(self.name)} = "
                f"{html.escape(sp.sstr(self.formula))}</code> = <b>{self.value:.4g}</b> "
                f"{html.escape(self.unit)}</div>")

    @property
    def name_latex(self) -> str:
        return {"N*": "N^*", "b*": "b^*"}.get(self.name, self.name)

    def to_frame(self) -> pd.DataFrame:
        """One tidy row: name, formula, value, unit and the named quantities."""
        row = {"name": self.name, "formula": sp.sstr(self.formula), "value": self.value,
               "unit": self.unit}
        row.update({k: v for k, v in self.detail.items()})
        return pd.DataFrame([row])


def saturation_population(path: str | Path, host: Mapping[str, float] | None = None,
                          workload: Workload | None = None, resource: str | None = None,
                          **options: Any) -> Derivation:
    r"""Requests in flight at which a resource saturates: :math:`N^* = (D + Z)/D_{\max}`.

    :math:`D = \sum_k D_k` is the zero-load latency (µs), :math:`Z` the think time
    (µs, the closed workload's ``think_us``; 0 otherwise) and :math:`D_{\max}` the
    largest per-server demand :math:`D_k/c_k` (or that of ``resource``, e.g.
    ``"bql"`` for QEMU's global mutex).  Below :math:`N^*` requests in flight
    (``jobs x iodepth``) latency stays near :math:`D`; above it throughput is
    pinned at :math:`1/D_{\max}` and every extra request adds :math:`D_{\max}` of
    waiting.  Asymptotic bounds of a closed network: Lazowska, Zahorjan, Graham &
    Sevcik, *Quantitative System Performance* (1984), section 5.2, eq. for
    :math:`N^*`.

    Returns
    -------
    Derivation
        ``value`` in requests (jobs x iodepth); ``detail`` has D, Z, D_max and
        the resource.
    """
    p = _as_path(path, options)
    w = _check_workload(workload)
    vals = _values(host)
    sts = stations(p, w)
    terms = _bottleneck_terms(sts)
    if not terms:
        raise ParameterError(f"path {p.name!r} has only delay stations: nothing saturates")
    if resource is None:
        resource, dmax = _bottleneck_at(sts, vals)
    elif resource not in terms:
        raise ParameterError(f"resource {resource!r} of {p.name!r} cannot saturate or does not "
                             f"exist; candidates: {', '.join(terms)}")
    else:
        dmax = terms[resource]
    D = zero_load_latency(p, w)
    Z = _workload_values(w, ())["think_us"]
    Ds, Zs, Dm = sp.symbols("D Z D_max")
    expr = (D + Z) / dmax
    value = _num_at(expr, vals)
    return Derivation(
        name="N*", formula=(Ds + Zs) / Dm, expr=expr, value=value, unit="requests in flight",
        description=(f"{p.name}: requests in flight at which {resource!r} saturates "
                     "(N* = (D + Z)/D_max)"),
        detail={"path": p.name, "resource": resource, "D_us": _num_at(D, vals),
                "Z_us": float(Z), "D_max_us": _num_at(dmax, vals)})


def _split_batch(expr: sp.Expr, b: sp.Symbol) -> tuple[sp.Expr, sp.Expr]:
    """Write expr = alpha + beta / b; return (alpha, beta)."""
    e = sp.expand(expr)
    beta = sp.expand(e.coeff(b, -1))
    alpha = sp.expand(e - beta / b)
    if alpha.has(b):
        raise ParameterError(f"metric is not of the form alpha + beta/b: {expr}")
    return alpha, beta


_BATCH_METRICS = ("zero_load_latency", "host_cpu", "demand")


def _batch_metric(p: Path, metric: str, resource: str | None, size_bytes: int) -> sp.Expr:
    w = Workload.open(1.0, size_bytes=size_bytes)
    sts = stations(p, w, keep=("batch",))
    if metric == "zero_load_latency":
        return sp.Add(*(st.demand for st in sts))
    if metric == "host_cpu":
        # host CPU per I/O of event-driven hops: host-CPU hops on host resources or exits taken
        # on a vCPU; a busy-polling backend's core is load dependent, so polling paths are refused
        b = symbol("batch")
        env = {name: CostSymbol(name) for name in parameters()}
        env.update(p.options)
        env["size_bytes"] = sp.Integer(size_bytes)
        if any(p.resources[r].polling for r in p.resources):
            raise ParameterError(f"path {p.name!r} busy-polls: its host CPU per I/O depends on the "
                                 "load, not only on the batch size; use metric='zero_load_latency' "
                                 "or 'demand'")
        total = sp.Integer(0)
        for h in p.active_hops():
            if p.cpu_of(h) != "host":
                continue
            cost = sp.sympify(evaluate(h.cost, env, funcs=_SYM_FUNCS)
                              if isinstance(h.cost, str) else h.cost)
            n = _number(h.count) / b if h.per == "batch" else _number(h.count)
            total += n * _rationalize(cost)
        return total
    if metric == "demand":
        names = [st.name for st in sts]
        if resource not in names:
            raise ParameterError(f"metric='demand' needs resource= one of {', '.join(names)} "
                                 f"for path {p.name!r}, got {resource!r}")
        st = next(s for s in sts if s.name == resource)
        return st.demand if st.is_delay else st.demand / st.servers
    raise ParameterError(f"metric must be one of {', '.join(_BATCH_METRICS)}, got {metric!r}")


def break_even_batch(path_a: str | Path = "virtio-blk", path_b: str | Path = "emulated-ide",
                     host: Mapping[str, float] | None = None, metric: str = "host_cpu",
                     resource: str | None = None, size_bytes: int = 4096) -> Derivation:
    r"""Batch size at which path A (one kick per batch) costs as much per I/O as path B.

    Each path's per-I/O metric is :math:`\alpha + \beta/b` in the batch size
    :math:`b` (per-batch hops, a kick and an interrupt, count :math:`1/b`; per-request
    hops, such as the register-access exits of an emulated device, do not
    amortise).  Setting them equal gives

    .. math:: b^* = \frac{\beta_A - \beta_B}{\alpha_B - \alpha_A}.

    For :math:`b > b^*` path A is cheaper when :math:`\alpha_A < \alpha_B`.  A
    value :math:`b^* \le 1` means A is already cheaper without batching (or
    never, when :math:`\alpha_A \ge \alpha_B` and :math:`\beta_A \ge \beta_B`); no
    crossing gives ``inf``/``nan`` with the reason in the description.

    Parameters
    ----------
    path_a, path_b : str or Path
        Default: virtio-blk (a kick per batch via ioeventfd) against emulated-ide
        (13 register-access exits to QEMU per request, 7 more per interrupt).
    metric : {"host_cpu", "zero_load_latency", "demand"}
        ``host_cpu``: host CPU µs per I/O of the hops that run on a host CPU
        (exits, KVM, QEMU, vhost, host kernel; not the guest's own stack);
        ``zero_load_latency``: µs; ``demand``: per-server demand of ``resource``
        in both paths (e.g. ``"bql"``: the global mutex, whose inverse is the
        throughput it allows).
    size_bytes : int
        Request size for size-dependent costs (copies).

    Returns
    -------
    Derivation
        ``value`` = :math:`b^*` (requests per kick); ``detail`` has alpha and beta
        of both paths at ``host``.
    """
    pa = _as_path(path_a, {})
    pb = _as_path(path_b, {})
    b = symbol("batch")
    vals = _values(host)
    ma = _batch_metric(pa, metric, resource, size_bytes)
    mb = _batch_metric(pb, metric, resource, size_bytes)
    aa, ba = _split_batch(ma, b)
    ab, bb = _split_batch(mb, b)
    expr = (ba - bb) / (ab - aa)
    A_a, B_a, A_b, B_b = sp.symbols(r"alpha_A beta_A alpha_B beta_B")
    nums = {k: _num_at(e, vals) for k, e in
            (("alpha_A_us", aa), ("beta_A_us", ba), ("alpha_B_us", ab), ("beta_B_us", bb))}
    da = nums["alpha_B_us"] - nums["alpha_A_us"]
    db = nums["beta_A_us"] - nums["beta_B_us"]
    if da == 0:
        value = math.inf if db != 0 else math.nan
        verdict = "no crossing: equal per-request costs"
    else:
        value = db / da
        if da > 0:
            verdict = (f"{pa.name} is cheaper for every batch size" if value <= 1 else
                       f"{pa.name} is cheaper from b > {value:.3g} requests per kick")
        else:
            verdict = (f"{pb.name} is cheaper for every batch size" if value <= 1 else
                       f"{pa.name} is cheaper only below b = {value:.3g}")
    return Derivation(
        name="b*", formula=(B_a - B_b) / (A_b - A_a), expr=expr, value=value,
        unit="requests per kick",
        description=(f"break-even batch size, {metric} per I/O of {pa.name} (A) vs {pb.name} (B): "
                     f"{verdict}"),
        detail={"metric": metric, **nums, "path_a": pa.name, "path_b": pb.name})


# -- figure -----------------------------------------------------------------------------------------
def tornado(table: pd.DataFrame, ax=None, top: int = 8):
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
        from .plot import PALETTE
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


# -- the derivations for the paper -------------------------------------------------------------------
#: (path A with one kick per batch, path B, metric, resource) compared by :func:`derivations`
BREAK_EVEN_CASES = (
    ("virtio-blk", "emulated-ide", "host_cpu", None),
    ("virtio-blk", "emulated-ide", "demand", "bql"),
    ("virtio-net", "emulated-e1000", "host_cpu", None),
    ("vhost-scsi", "virtio-scsi-iothread", "host_cpu", None),
    ("vhost-net", "virtio-net", "host_cpu", None),
)


def derivations(host: Mapping[str, float] | None = None) -> str:
    """The derived formulas of the paper, printed and evaluated for ``host`` (default profile).

    N* of every catalog path whose global mutex (``bql``) can saturate, and the
    break-even batch sizes of :data:`BREAK_EVEN_CASES`.  ``python -m
    iovmodel.symbolic`` prints it.
    """
    from .spec.catalog import paths

    lines = ["Requests in flight at which QEMU's global mutex saturates, N* = (D + Z)/D_bql "
             "(Z = 0):"]
    for name in paths()["name"]:
        p = get_path(name)
        if "bql" not in p.resources or not any(h.resource == "bql" for h in p.active_hops()):
            continue
        d = saturation_population(p, host, resource="bql")
        lines.append(f"  {name:<16} N* = {d.value:6.2f}   D = {d.detail['D_us']:7.2f} µs, "
                     f"D_bql = {d.detail['D_max_us']:6.2f} µs;  N* = {sp.sstr(d.expr)}")
    lines.append("")
    lines.append("Break-even batch size b* = (beta_A - beta_B)/(alpha_B - alpha_A), "
                 "metric alpha + beta/b per I/O:")
    for a, b, metric, res in BREAK_EVEN_CASES:
        d = break_even_batch(a, b, host, metric=metric, resource=res)
        det = d.detail
        lines.append(f"  {a} vs {b}, {metric}{'(' + res + ')' if res else ''}: b* = {d.value:.3g}  "
                     f"[A: {det['alpha_A_us']:.3g} + {det['beta_A_us']:.3g}/b, "
                     f"B: {det['alpha_B_us']:.3g} + {det['beta_B_us']:.3g}/b µs]  "
                     f"{d.description.split(': ', 1)[1]}")
        lines.append(f"      b* = {sp.sstr(d.expr)}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(derivations())
