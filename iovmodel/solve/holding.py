r"""Simultaneous resource possession: a vCPU held while QEMU emulates its exit under the BQL.

When a guest's register access traps to QEMU (full emulation: IDE, AHCI, e1000, an NVMe
doorbell without ioeventfd), ``KVM_RUN`` returns on the vCPU's own thread, which takes
QEMU's global mutex and runs the device model there (QEMU ``accel/kvm/kvm-all.c``
``kvm_cpu_exec``; ``system/physmem.c`` ``prepare_mmio_access``). The vCPU runs no guest
code from the moment it asks for the mutex until the emulation ends: the hop is served at
the mutex while it *holds* the vCPU (:attr:`iovmodel.network.Visit.holds`). A vCPU that
waits for a busy main loop is a vCPU lost to the guest, which a network of independent
stations cannot say: there the vCPU is free as soon as the exit is handed over.

The analytic solvers treat it as the method of layers treats a thread that needs a core
(Rolia & Sevcik, "The Method of Layers", IEEE TSE 21(8), 1995; the surrogate-delay view of
Jacobson & Lazowska, "Analyzing queueing networks with simultaneous resource
possession", CACM 25(2), 1982), with the mutex in the place of the processor:

* upper layer: the path's network with each held visit moved from the mutex's station
  ``b`` to the station it holds ``j`` (the vCPU), its service stretched by :math:`g_j`,
  and the mutex station keeping the main loop's own visits, stretched by :math:`g_b`.
  The vCPU's demand per I/O becomes :math:`D_j + g_j D_H` (its guest work and exits, and
  the held time: waiting for the mutex and emulating under it);
* lower layer: the mutex, one server, visited by its threads -- the main loop's (its
  own visits, service :math:`s_b`) and every vCPU instance in use (the held visits,
  service :math:`s_H = D_H / V_H`) -- each a customer that needs the mutex for one service
  and is away for :math:`1/\lambda - R` (its rate per thread from the upper layer's
  throughput), solved by multiclass MVA (a finite-source queue). :math:`g = R / s`.

The layers are iterated to a fixed point (:func:`iovmodel.solve.layered._step`'s
damping). With one vCPU and nothing else taking the mutex the answer is exact: the
held time is the service, :math:`g = 1`, and the vCPU's demand is :math:`D_j + D_H`.
The simulator (:mod:`iovmodel.solve.sim`) holds the vCPU itself: a held step first takes
its vCPU (FIFO), then queues at the mutex while holding it, and frees both when its
service ends. ``tests/solve/test_holding.py`` measures the layers against it.

Two corrections keep the layers honest where their independence assumption is not: a
request never contends with itself (it is at its vCPU or at the main loop, not both), so
the lower layer discounts the tagged request's own rate, :math:`(N - 1) / N` (one request
in flight is then exact); and a closed solution is capped at the mutex's asymptotic bound,
which the layers can pass when the mutex is the bottleneck (:func:`mutex_bound`).
Accuracy, against the simulator (``benchmarks/bench_holding.py``): closed throughput within
-3.4 to +4.2 % over 30 points (AHCI, e1000, NVMe; 1, 2 and 4 vCPUs; the main loop 1x and 4x
as busy), median 0.5 %; open loads add at most 4 points to the open decomposition's own
error (``tests/solve/test_holding.py``). A :class:`~iovmodel.Scenario` does not hold the
vCPU (:func:`iovmodel.solve.consolidation.solve` says why).

What is reported: the held station's utilisation is its occupancy (guest work, exits,
and the held time including the wait for the mutex: the vCPU is not running the guest);
the mutex's is the time it is held (every visit's service, as the simulator counts it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError
from ..network import Network, Station
from .analytic.multiclass import mva_multiclass

#: iterations of the layers' fixed point and the relative change of the stretches that
#: ends it (as the method of layers for cores, :mod:`.layered`)
MAX_ITER = 400
TOL = 1e-4
#: population vectors of the lower layer up to which it is solved exactly
EXACT_STATES = 2_000


def held(net: Network) -> bool:
    """Whether some visit holds a station with finite servers (a vCPU that can be lost)."""
    return any(s.held_us > 0 and not s.is_delay for s in net.stations)


@dataclass(frozen=True)
class _Pairs:
    """The held visits of a network summed per (mutex station b, held station j)."""

    locks: tuple[int, ...]  # the stations held visits are served at
    holders: dict  # b -> tuple of held stations j
    DH: dict  # (b, j) -> held demand per I/O, µs
    VH: dict  # (b, j) -> held visits per I/O


#: the last networks' pairs: a solution asks them of one network four times (the layers,
#: the waits, the mutex's bound, its utilisation); the network is kept with them, so an id
#: is never another network's
_LAST: tuple[tuple[Network, _Pairs], ...] = ()


def _pairs(net: Network) -> _Pairs:
    global _LAST
    for n, p in _LAST:
        if n is net:
            return p
    p = _pairs_of(net)
    _LAST = ((net, p),) + _LAST[:3]  # one assignment: another thread sees old or new
    return p


def _pairs_of(net: Network) -> _Pairs:
    DH: dict = {}
    VH: dict = {}
    for v in net.route:
        if v.holds < 0 or net.stations[v.holds].is_delay:
            continue
        k = v.per_io(net.batch)
        key = (v.station, v.holds)
        DH[key] = DH.get(key, 0.0) + k * v.mean_us
        VH[key] = VH.get(key, 0.0) + k
    keys = [key for key in DH if DH[key] > 0 and VH[key] > 0]
    locks = tuple(sorted({b for b, _ in keys}))
    holders = {b: tuple(sorted(j for bb, j in keys if bb == b)) for b in locks}
    return _Pairs(locks, holders, {k: DH[k] for k in keys}, {k: VH[k] for k in keys})


def _station(s: Station, **changes) -> Station:
    ns = object.__new__(Station)
    object.__setattr__(ns, "__dict__", {**s.__dict__, **changes})
    return ns


def transformed(net: Network, pairs: _Pairs, g_own: dict, g_held: dict) -> Network:
    """The upper layer: held visits moved to the station they hold, stretched by
    ``g_held[(b, j)]``; each mutex station's own visits stretched by ``g_own[b]``."""
    st = list(net.stations)
    for b in pairs.locks:
        s = st[b]
        d_h = sum(pairs.DH[(b, j)] for j in pairs.holders[b])
        v_h = sum(pairs.VH[(b, j)] for j in pairs.holders[b])
        st[b] = _station(s, demand_us=max(s.demand_us - d_h, 0.0) * g_own[b],
                         visits=max(s.visits - v_h, 0.0))
        for j in pairs.holders[b]:
            h = st[j]
            st[j] = _station(h, demand_us=h.demand_us + pairs.DH[(b, j)] * g_held[(b, j)],
                             visits=h.visits + pairs.VH[(b, j)])
    st = [_station(s, held_us=0.0) if s.held_us else s for s in st]
    new = object.__new__(Network)  # the route and every other field are the same
    new.__dict__.update(net.__dict__, stations=tuple(st))
    return new


def _lock_layer(net: Network, pairs: _Pairs, X_per_us: float, g_own: dict, g_held: dict,
                others: float = 1.0) -> tuple[dict, dict]:
    """The lower layer at throughput X (per µs): the stretches each thread's mutex
    response gives (the previous ones set the threads' times away).

    ``others`` (in [0, 1]) is the share of a thread's rate that is not the tagged
    request's own: a held visit and the main loop's work for the same request never
    overlap, so a held visit sees the main loop at ``others`` of its rate (the other vCPU
    threads in full: they serve other requests), and the main loop sees the vCPUs' held
    visits at ``others`` of theirs.
    """
    new_own, new_held = dict(g_own), dict(g_held)
    if others <= 0.0:  # one request in flight: nothing else is ever at the mutex
        return {k: 1.0 for k in g_own}, {k: 1.0 for k in g_held}
    for b in pairs.locks:
        s_b = net.stations[b]
        d_h = sum(pairs.DH[(b, j)] for j in pairs.holders[b])
        v_h = sum(pairs.VH[(b, j)] for j in pairs.holders[b])
        kinds: list[tuple] = []  # (key, threads, service µs, visits per I/O, previous g)
        d_own, v_own = s_b.demand_us - d_h, s_b.visits - v_h
        if d_own > 1e-12 * max(s_b.demand_us, 1e-300) and v_own > 0:
            kinds.append((("own", b), int(net.effective_servers(s_b)), d_own / v_own, v_own,
                          g_own[b]))
        for j in pairs.holders[b]:
            T = net.effective_servers(net.stations[j])
            kinds.append((("held", b, j), int(T), pairs.DH[(b, j)] / pairs.VH[(b, j)],
                          pairs.VH[(b, j)], g_held[(b, j)]))
        T = np.array([k[1] for k in kinds], dtype=np.int64)
        s = np.array([k[2] for k in kinds])
        lam = np.array([X_per_us * k[3] / t for k, t in zip(kinds, T, strict=True)])
        resp = s * np.array([k[4] for k in kinds])
        is_own = np.array([k[0][0] == "own" for k in kinds])
        # one view per kind of thread (one solve when nothing is the tagged request's own)
        views = [(None, 1.0)] if others >= 1.0 else [(True, others), (False, others)]
        for view, f in views:
            # the view of an own visit (True) discounts the held threads, and vice versa
            scale = np.ones(len(kinds)) if view is None else np.where(is_own != view, f, 1.0)
            lam_v = lam * scale
            live = lam_v > 0
            g = np.ones(len(kinds))
            if live.sum() <= 2 and (T[live] == 1).all() and s_b.servers == 1:
                # one thread of each kind (a vCPU and the main loop): exact MVA at (1, 1)
                # in closed form, R_i = s_i (1 + s_j / (Z_j + s_j)), the other alone
                idx = np.flatnonzero(live)
                for i in idx:
                    for j in idx:
                        if j != i:
                            z = max(1.0 / lam_v[j] - resp[j], 0.0)
                            g[i] = 1.0 + s[j] / (z + s[j])
            elif live.any():
                think = np.maximum(1.0 / np.where(live, lam_v, 1.0) - resp, 0.0)[live]
                Tl = T[live]
                exact = float(np.prod(Tl.astype(float) + 1)) <= EXACT_STATES
                r = mva_multiclass(s[live][:, None], Tl.tolist(), think, [s_b.servers],
                                   method="exact" if exact else "schweitzer")
                g[live] = np.maximum(np.asarray(r.Rk, dtype=float)[:, 0] / s[live], 1.0)
            for i, (key, *_) in enumerate(kinds):  # a thread that never comes: g stays 1
                if view is not None and is_own[i] != view:
                    continue  # this kind's stretch comes from its own view
                if key[0] == "own":
                    new_own[b] = float(g[i])
                else:
                    new_held[(b, key[2])] = float(g[i])
    return new_own, new_held


def _diff(a: dict, b: dict) -> float:
    return max((abs(a[k] - b[k]) for k in a), default=0.0)


def solve_held(net: Network, solve: Callable[[Network], tuple], X_of: Callable[[tuple], float],
               population: int, start: dict | None = None) -> tuple[Network, tuple, dict]:
    """Iterate ``solve`` (a network -> its solution at ``population`` requests in flight;
    ``X_of`` reads the throughput, I/O per s, from it) over the layers to their fixed point.

    A request's own visits never contend with each other (it is at its vCPU or at the main
    loop, not both): in the lower layer a held visit sees the main loop's rate, and the
    main loop sees the held visits', at :math:`(N - 1) / N` of it, N the requests in flight
    (at most the in-flight limit; the arrival theorem's population N - 1 in Schweitzer's
    proportional form), while vCPU threads see each other in full (each serves other
    requests). At one request in flight nothing waits and the answer is exact.

    Returns the upper layer at the fixed point, its solution and the stretches
    (``{"own": {b: g}, "held": {(b, j): g}, "iterations": n}``). ``start``: stretches to
    start from (a sweep's previous point's; the same tolerance ends the iteration).
    """
    from .layered import _step

    pairs = _pairs(net)
    g_own = {b: 1.0 for b in pairs.locks}
    g_held = {key: 1.0 for key in pairs.DH}
    if start is not None and set(start["own"]) == set(g_own) \
            and set(start["held"]) == set(g_held):
        g_own, g_held = dict(start["own"]), dict(start["held"])
    n = min(float(population), net.inflight)
    others = (n - 1.0) / n
    prev = -1.0
    for it in range(1, MAX_ITER + 1):
        up = transformed(net, pairs, g_own, g_held)
        sol = solve(up)
        X = X_of(sol) / 1e6
        n_own, n_held = _lock_layer(net, pairs, X, g_own, g_held, others)
        diff = max(_diff(n_own, g_own), _diff(n_held, g_held))
        top = max(list(n_own.values()) + list(n_held.values()) + [1.0])
        if diff <= TOL * top:  # the stretches solved with are the fixed point's within TOL
            return up, sol, {"own": g_own, "held": g_held, "iterations": it}
        a = _step(it, diff, prev)
        prev = diff
        g_own = {k: (1 - a) * g_own[k] + a * n_own[k] for k in g_own}
        g_held = {k: (1 - a) * g_held[k] + a * n_held[k] for k in g_held}
    raise ParameterError(f"{net.name!r}: the layers of its held vCPU and the global mutex "
                         f"did not converge in {MAX_ITER} iterations")


def next_start(seen: list[tuple[float, dict]], population: float) -> dict | None:
    """Where the layers of the next point of a sweep start: its stretches extrapolated
    linearly in the population from the last two points' (``seen``: (population,
    stretches) of the points solved, in order), or the last point's where two are not
    there or share a population; never below 1 (a stretch is a response over a service).
    A start only saves iterations: the fixed point and its tolerance are the same."""
    if not seen:
        return None
    k1, g1 = seen[-1]
    if len(seen) < 2 or seen[-2][0] == k1:
        return g1
    k0, g0 = seen[-2]
    if set(g0["own"]) != set(g1["own"]) or set(g0["held"]) != set(g1["held"]):
        return g1
    f = (population - k1) / (k1 - k0)
    return {part: {k: max(1.0, g1[part][k] + f * (g1[part][k] - g0[part][k]))
                   for k in g1[part]} for part in ("own", "held")}


def solve_held_open(net: Network, rate_per_s: float, solve: Callable[[Network], tuple]
                    ) -> tuple[Network, tuple, dict]:
    """The open load's fixed point: the throughput is the rate, so the lower layer alone is
    iterated, and the upper layer solved once at its stretches. Under an in-flight limit L
    the others' rate is :math:`X (L - 1) / L` (:func:`solve_held`'s correction at L
    requests; one command in flight, as PIIX3 IDE has, never waits for itself)."""
    from .layered import _step

    pairs = _pairs(net)
    g_own = {b: 1.0 for b in pairs.locks}
    g_held = {key: 1.0 for key in pairs.DH}
    L = net.inflight
    others = (L - 1.0) / L if L < float("inf") else 1.0
    X = rate_per_s / 1e6
    prev = -1.0
    for it in range(1, MAX_ITER + 1):
        n_own, n_held = _lock_layer(net, pairs, X, g_own, g_held, others)
        diff = max(_diff(n_own, g_own), _diff(n_held, g_held))
        top = max(list(n_own.values()) + list(n_held.values()) + [1.0])
        a = 1.0 if diff <= TOL * top else _step(it, diff, prev)
        prev = diff
        g_own = {k: (1 - a) * g_own[k] + a * n_own[k] for k in g_own}
        g_held = {k: (1 - a) * g_held[k] + a * n_held[k] for k in g_held}
        if diff <= TOL * top:
            up = transformed(net, pairs, g_own, g_held)
            return up, solve(up), {"own": g_own, "held": g_held, "iterations": it}
    raise ParameterError(f"{net.name!r}: the layers of its held vCPU and the global mutex "
                         f"did not converge in {MAX_ITER} iterations at {rate_per_s:g}/s")


def route_waits(net: Network, g: dict, waits: np.ndarray) -> np.ndarray:
    """Per-visit waits of ``net``'s own stations (µs; the last axis over stations) from the
    upper layer's ``waits``, so that a route's visits add up to the latency as everywhere
    else (``count x (cost + wait at its station)``, :func:`iovmodel.solve.analyze._breakdown`).

    A held station's visits wait as in the upper layer. A mutex station's wait is the
    mean over its visits: the main loop's own wait for its thread and for the mutex
    (its stretch), and each held visit's wait for its vCPU and then for the mutex.
    """
    pairs = _pairs(net)
    out = np.array(waits, dtype=float, copy=True)
    for b in pairs.locks:
        s_b = net.stations[b]
        v_h = sum(pairs.VH[(b, j)] for j in pairs.holders[b])
        d_own, v_own = s_b.demand_us - sum(pairs.DH[(b, j)] for j in pairs.holders[b]), \
            s_b.visits - v_h
        total = np.zeros(out.shape[:-1])
        if v_own > 0:
            total = total + v_own * (waits[..., b] + d_own / v_own * (g["own"][b] - 1.0))
        for j in pairs.holders[b]:
            s_h = pairs.DH[(b, j)] / pairs.VH[(b, j)]
            total = total + pairs.VH[(b, j)] * (waits[..., j] + s_h * (g["held"][(b, j)] - 1.0))
        out[..., b] = total / s_b.visits if s_b.visits > 0 else 0.0
    return out


def mutex_bound(net: Network, X_per_s: float, R_us: float, waits: np.ndarray,
                util: np.ndarray, population: int) -> tuple[float, float, np.ndarray, np.ndarray]:
    r"""A closed solution capped at the mutex's capacity, the asymptotic bound
    :math:`X \le c_b / D_b` over every visit it serves, the held ones included (Lazowska et
    al. 1984, section 5.2). The layers can pass it when the mutex is the bottleneck: a
    thread that always wants the mutex has no time away to give back (its think time is
    clipped at zero), so the upper layer's rate outruns the lower layer's. Capped, the
    latency follows from Little's law, the extra wait put at the mutex, where requests
    queue for it; utilisations scale with the throughput."""
    cap = min((net.effective_servers(net.stations[b]) / net.stations[b].demand_us * 1e6
               for b in _pairs(net).locks), default=float("inf"))
    if not X_per_s > cap:
        return X_per_s, R_us, waits, util
    R_new = population / cap * 1e6 - net.think_us
    waits = np.array(waits, dtype=float, copy=True)
    b = min(_pairs(net).locks, key=lambda k: net.effective_servers(net.stations[k])
            / net.stations[k].demand_us)
    waits[..., b] += (R_new - R_us) / net.stations[b].visits
    return cap, R_new, waits, np.asarray(util, dtype=float) * (cap / X_per_s)


def lock_utilisation(net: Network, util: np.ndarray, X_per_s: float | np.ndarray) -> np.ndarray:
    """``util`` (per station, of the upper layer) with each mutex station's entry replaced
    by the time the mutex is held: every visit's service there, the held ones included."""
    out = np.array(util, dtype=float, copy=True)
    x = np.asarray(X_per_s, dtype=float)
    for b in _pairs(net).locks:
        s = net.stations[b]
        c = 1.0 if s.is_delay else net.effective_servers(s)
        out[..., b] = x / 1e6 * s.demand_us / c
    return out


__all__ = ["held", "lock_utilisation", "mutex_bound", "route_waits", "solve_held",
           "solve_held_open", "transformed"]
