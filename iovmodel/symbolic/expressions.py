"""The symbolic solver: a path's stations and its latency, bound and utilisations in sympy.

One sympy symbol per host cost (:func:`symbol`); the same model as :func:`iovmodel.analyze`
(see the package docstring of :mod:`iovmodel.symbolic` for what is exact and how).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from .._expr import evaluate
from ..errors import ParameterError
from ..network import POLL_STATION, check_servers, host_stack_expr, station_of, vcpu_groups
from ..spec.catalog import WORKLOAD_NAMES as WORKLOAD_COST_NAMES
from ..spec.catalog import Path
from ..spec.catalog import path as get_path
from ..spec.profile import HostProfile, as_host, parameters
from ..spec.workload import Workload

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
    """Erlang B for whole ``c`` (array-friendly); the same routine as iovmodel.solve.analytic."""
    from ..solve.analytic.single import _erlang_b

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
    #: instances of a per-vCPU station (each serves 1/instances of the rate)
    instances: int = 1
    #: demand per I/O of the visits elsewhere that hold this station (network.Station.held_us)
    held: sp.Expr = sp.Integer(0)

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


def _count(h: Any, env: Mapping[str, Any]) -> sp.Expr:
    """A hop's count as an exact sympy number: its constant, or its expression of the
    options and the workload (:attr:`~iovmodel.spec.catalog.Hop.count`) evaluated in
    ``env``."""
    if isinstance(h.count, str):
        return _rationalize(sp.sympify(evaluate(h.count, env, funcs=_SYM_FUNCS)))
    return _number(h.count)


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
        raise ParameterError(f"workload must be a Workload or None, got {type(workload).__name__} {workload!r:.80}")
    return workload


def _scv(h: Any, env: Mapping[str, Any]) -> sp.Expr:
    """A hop's scv: a number, or an expression of host names (``hop_scv``, ``device_scv``)."""
    if isinstance(h.scv, str):
        return _rationalize(sp.sympify(evaluate(h.scv, env, funcs=_SYM_FUNCS)))
    return _number(h.scv)


def _workload_values(workload: Workload | None, keep: tuple[str, ...]) -> dict[str, Any]:
    """Numbers (or symbols, when kept) of the workload fields the formulas use."""
    w = workload
    if w is not None and getattr(w, "traffic", None) is not None:
        raise ParameterError(f"symbolic expressions cover request/response and block "
                             f"workloads; {w.traffic!r} (its packet structure, NIC and "
                             "load-dependent notifications) is solved by analyze only: pass "
                             "the workload without traffic")
    vals: dict[str, Any] = {
        "rate_per_s": (_number(w.rate_per_s) if w is not None and w.is_open
                       else symbol("rate_per_s")),
        "batch": _number(w.batch if w is not None else 1),  # a mean: 2.5 stays 5/2
        "size_bytes": sp.Integer(w.size_bytes if w is not None else 4096),
        "think_us": (_number(w.think_us) if w is not None and not w.is_open else sp.Integer(0)),
    }
    io = (w if w is not None else Workload.open(1.0)).cost_names()
    vals.update({k: _number(io[k]) for k in ("read_frac", "write_frac", "fsync_per_io", "synced_write_frac")})
    for k in keep:
        vals[k] = symbol(k)
    return vals


_CACHE: dict[tuple, tuple[SymStation, ...]] = {}


def _cache_key(p: Path, wv: Mapping[str, Any]) -> tuple:
    res = tuple(sorted((k, r.servers, r.cpu, r.polling, r.per_group, r.per_queue)
                       for k, r in p.resources.items()))
    opts = tuple(sorted((k, repr(v)) for k, v in p.options.items()))
    return (p.name, p.hop_list, res, opts, str(wv["batch"]), str(wv["size_bytes"]),
            str(wv["read_frac"]), str(wv["fsync_per_io"]))


def _grouping(p: Path, workload: Workload | None) -> tuple:
    wl = workload if workload is not None else Workload.open(1.0)
    return (wl.is_open, len(vcpu_groups(p, wl)))


def stations(path: str | Path, workload: Workload | None = None, keep: Iterable[str] = (),
             **options: Any) -> tuple[SymStation, ...]:
    """The path's stations with symbolic demand, visits and second moment.

    Stations appear in the order their resource is first used (as in
    :func:`iovmodel.network.build`).  See the module docstring for which names
    stay symbolic.
    """
    p = _as_path(path, options)
    wv = _workload_values(_check_workload(workload), _check_keep(keep))
    key = _cache_key(p, wv) + (_grouping(p, workload),)
    if key in _CACHE:
        return _CACHE[key]
    env: dict[str, Any] = {name: CostSymbol(name) for name in parameters()}
    stack = host_stack_expr(p)
    if stack is not None:  # nat, macvtap: what host_net_us stands for, as network.build
        env["host_net_us"] = sp.sympify(evaluate(stack, dict(env), funcs=_SYM_FUNCS))
    env.update(p.options)
    env.update({k: wv[k] for k in WORKLOAD_COST_NAMES})
    order: list[str] = []
    acc: dict[str, dict[str, Any]] = {}
    held: dict[str, sp.Expr] = {}  # per held resource: its holders' demand per I/O
    for h in p.active_hops():
        if isinstance(h.cost, str):
            cost = sp.sympify(evaluate(h.cost, env, funcs=_SYM_FUNCS))
        else:
            cost = sp.sympify(h.cost)
        cost = _rationalize(cost)
        # a lock's hand-off (per="waiter") has no time at zero load, as in the network
        n = _count(h, env) / wv["batch"] if h.per == "batch" else \
            sp.Integer(0) if h.per == "waiter" else _count(h, env)
        r = station_of(p, h)
        if r not in acc:
            order.append(r)
            acc[r] = {"D": sp.Integer(0), "V": sp.Integer(0), "M": sp.Integer(0), "hops": []}
        a = acc[r]
        a["D"] += n * cost
        a["V"] += n
        a["M"] += n * cost**2 * (1 + _scv(h, env))
        a["hops"].append(h.name)
        if h.holds:
            held[h.holds] = held.get(h.holds, sp.Integer(0)) + n * cost
    # vCPU groups and virtqueues as network.build has them under an open load: the
    # arrivals spread over the vcpus (one instance of a per-group station each)
    wl = workload if workload is not None else Workload.open(1.0)
    groups = len(vcpu_groups(p, wl))
    queues = p.options.get("queues", math.inf)
    queues_used = (queues if math.isinf(p.options.get("vcpus", math.inf))
                   else min(queues, max(groups, 1)))
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
            if res.per_group and math.isinf(p.options.get("vcpus", math.inf)):
                num = math.inf  # unlimited vCPUs: every request has a CPU of its own
            elif res.per_queue:
                num = min(num, queues_used)
            servers = math.inf if math.isinf(num) else _number(check_servers(r, num))
        a = acc[r]
        inst = groups if res.per_group and groups and servers is not math.inf else 1
        out.append(SymStation(r, servers, a["D"], a["V"], a["M"], res.cpu == "host",
                              tuple(a["hops"]), inst,
                              held.get(r, sp.Integer(0)) if servers is not math.inf
                              else sp.Integer(0)))
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
    lam_us = lam_us / st.instances  # a per-vCPU station: each instance sees its share
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
        host is substituted, except at a lock that threads wait at (a path's
        ``per = "waiter"`` hops, :mod:`iovmodel.solve.locks`): its hand-off grows
        with the waiters, a fixed point with no closed form, so the expression
        leaves it out and is a lower bound there.
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
    p = _as_path(path, options)
    _no_closed_form(p, "latency")
    lam_us = _workload_values(w, keep)["rate_per_s"] / _US_PER_S
    sts = stations(path, w, keep, **options)
    if p.inflight == 1:
        # one request in flight: the whole path is one server whose service is the route's
        # time, fed by Poisson arrivals: M/G/1, R = T0 + lam E[S^2] / (2 (1 - lam T0))
        # (Pollaczek-Khinchine, as analyze solves it)
        T0 = sp.Add(*(st.demand for st in sts))
        return T0 + lam_us * _route_second_moment(p, w, keep, T0) / (2 * (1 - lam_us * T0))
    return sp.Add(*(_station_latency(st, lam_us) for st in sts))


def _route_second_moment(p: Path, w: Workload, keep: Iterable[str], T0: sp.Expr) -> sp.Expr:
    """E[S^2] of one request's time through the route, the sum of its independent visits'
    times (``iovmodel.solve.layered.route_moments``): a visit occurring c times per I/O is
    floor(c) certain occurrences and one with probability c - floor(c)."""
    wv = _workload_values(w, _check_keep(keep))
    if "batch" in keep and any(h.per == "batch" for h in p.active_hops()):
        raise ParameterError(f"symbolic latency of {p.name!r} with one command in flight "
                             "needs a numeric batch (its per-batch hops occur floor(count / "
                             "batch) times plus once with the fraction's probability)")
    env: dict[str, Any] = {name: CostSymbol(name) for name in parameters()}
    stack = host_stack_expr(p)
    if stack is not None:  # nat, macvtap: what host_net_us stands for, as network.build
        env["host_net_us"] = sp.sympify(evaluate(stack, dict(env), funcs=_SYM_FUNCS))
    env.update(p.options)
    env.update({k: wv[k] for k in WORKLOAD_COST_NAMES})
    var = sp.Integer(0)
    for h in p.active_hops():
        cost = _rationalize(sp.sympify(evaluate(h.cost, env, funcs=_SYM_FUNCS)
                                       if isinstance(h.cost, str) else h.cost))
        c = _count(h, env) / wv["batch"] if h.per == "batch" else \
            sp.Integer(0) if h.per == "waiter" else _count(h, env)
        whole = sp.floor(c)
        frac = c - whole
        scv = _scv(h, env)
        var += whole * cost**2 * scv + frac * cost**2 * (1 + scv) - frac**2 * cost**2
    return var + T0**2


def _rule_may_apply(p: Path) -> bool:
    """Whether the path's workload-dependent in-flight limit can apply under its options
    (its condition read from the options alone; one that needs the workload may)."""
    when = p.inflight_rule[1]
    try:
        return not when or bool(evaluate(when, p.options))
    except NameError:
        return True


def _no_closed_form(p: Path, what: str) -> None:
    """Host cores and in-flight limits have no closed form (a fixed point; a birth-death
    chain): say so instead of returning the expression of another model."""
    reasons = []
    if math.isfinite(p.options.get("cores", math.inf)):
        reasons.append(f"cores={p.options['cores']:g} (threads sharing host cores are solved "
                       "by the method of layers, a fixed point)")
    if math.isfinite(p.inflight) and p.inflight != 1:
        reasons.append(f"inflight={p.inflight:g} (an in-flight limit is a flow-equivalent "
                       "server, a birth-death chain)")
    if p.inflight != 1 and holds_a_vcpu(p):
        reasons.append("a vCPU held while QEMU emulates its exits under the global mutex "
                       "(hops with holds: iovmodel.solve.holding's layers, a fixed point)")
    if p.inflight_rule is not None and _rule_may_apply(p):
        reasons.append(f"an in-flight limit of {p.inflight_rule[0]!r} when "
                       f"{p.inflight_rule[1] or 'always'} (a birth-death chain whose size "
                       "depends on the workload)")
    if reasons:
        raise ParameterError(f"symbolic {what} of {p.name!r} has no closed form under "
                             f"{' and '.join(reasons)}; use iov.analyze")


def holds_a_vcpu(p: Path) -> bool:
    """Whether an active hop holds a resource with finitely many servers (a vCPU while
    QEMU emulates its exit: :mod:`iovmodel.solve.holding`); unlimited vCPUs lose nothing."""
    for h in p.active_hops():
        if h.holds:
            r = p.resources[h.holds]
            if r.per_group and math.isinf(p.options.get("vcpus", math.inf)):
                continue
            if isinstance(r.servers, str) and r.servers == "inf":
                continue
            if not isinstance(r.servers, str) and math.isinf(r.servers):
                continue
            return True
    return False


def _bottleneck_terms(sts: Sequence[SymStation], inflight: float = math.inf
                     ) -> dict[str, sp.Expr]:
    """Per-server occupancy (D_k + H_k) / c_k of every station that can saturate, H_k the
    demand of the visits elsewhere that hold it (and, with an in-flight limit L, the
    zero-load latency over L: network.Network.bottleneck's bound)."""
    out = {st.name: (st.demand + st.held) / (st.servers * st.instances) for st in sts
           if not st.is_delay and not (st.is_empty and st.held == 0)}
    if math.isfinite(inflight):
        out["inflight"] = sp.Add(*(st.demand for st in sts)) / _number(inflight)
    return out


def throughput_bound(path: str | Path, workload: Workload | None = None,
                     keep: Iterable[str] = (), **options: Any) -> sp.Expr:
    r"""Saturation throughput :math:`X^* = 10^6 / \max_k (D_k/c_k)`, I/O per second (sympy).

    The max runs over stations with finitely many servers (``sympy.oo`` when
    there are none); ``analyze(...).saturation_per_s``.
    """
    sts = stations(path, workload, keep, **options)
    terms = _bottleneck_terms(sts, _as_path(path, options).inflight)
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
    p = _as_path(path, options)
    if p.inflight != 1 and holds_a_vcpu(p):
        raise ParameterError(
            f"symbolic utilization of {p.name!r} has no closed form: its vCPU is held while "
            "QEMU emulates its exits under the global mutex, and the time it waits there "
            "is a fixed point (iovmodel.solve.holding); use iov.analyze")
    out = {}
    for st in stations(path, w, keep, **options):
        # a vCPU held by its exits' emulation (one command in flight: it never waits) is
        # occupied for those too, as analyze reports it
        out[st.name] = (lam_us * st.demand if st.is_delay
                        else lam_us * (st.demand + st.held) / (st.servers * st.instances))
    return out


# -- numeric helpers ------------------------------------------------------------------------------
#: ``modules`` for :func:`sympy.lambdify` of these expressions (numpy, plus Erlang B)
NUMPY_MODULES = [{"ErlangB": _erlang_b_numeric, "floor": np.floor}, "numpy"]


def _values(host: Mapping[str, float] | None) -> dict[str, float]:
    h = as_host(host)  # a dict is checked like a HostProfile
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
        if p.inflight == 1:  # one command in flight: the route is the server (M/G/1)
            lam_us = _workload_values(w_open, ("rate_per_s",))["rate_per_s"] / _US_PER_S
            rho.append(lam_us * zero_load_latency(p, w_open))
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
