r"""Finite vCPUs, shared host cores and in-flight limits: the structure that bounds real VM I/O.

Three things make a path's network more than one class of requests at independent stations:

vCPU groups (``Network.groups``, private stations)
    fio's jobs are threads spread over ``min(jobs, vcpus)`` vCPUs; a vCPU serialises the CPU
    work of the jobs pinned to it, while the host's stations (QEMU's main loop, iothreads,
    vhost workers, the device) are shared. Closed: one class per group, each with its own
    instance of every private station, solved by multiclass MVA
    (:func:`~iovmodel.solve.analytic.multiclass.mva_multiclass`: exact while the
    population vectors are few, Bard-Schweitzer beyond). Open: each instance of a private
    station sees its group's share of the rate.

Host cores (``Network.cores``)
    A thread station's busy time needs a host core; threads that outnumber the cores queue
    for them while holding their thread (simultaneous resource possession). Solved by the
    method of layers (Rolia & Sevcik, "The Method of Layers", IEEE TSE 21(8), 1995; the
    same fixed point as LQNS's surrogate delays, Franks et al. 2009): the upper layer is the
    path's network with each thread station's service stretched by a factor
    :math:`f_k`; the lower layer is the core pool, a :math:`(c - p)`-server station
    (``cores`` minus busy-polling threads, which hold their cores all the time) visited by
    every thread of every thread station, each a customer that needs a core for one
    service time :math:`s_k` and then is away for :math:`1/\lambda_k - R_k` (its visit rate
    per thread from the upper layer), solved by multiclass MVA (a finite-source,
    machine-repairman queue). :math:`f_k = R_k / s_k`; the two layers are iterated to a
    fixed point. With at least as many cores as threads it is exactly the network without
    cores.

In-flight limit (``Network.inflight``)
    At most L requests past the route's first hop (PIIX3 IDE: one command). The rest wait
    in the guest's block layer. Closed: the network is solved at ``min(N, L)`` requests in
    flight and the latency follows from Little's law over all N (the wait for a slot is
    put on the route's first station, where the request waits in reality). This treats
    the whole route as the limited span: exact when the span is the whole cycle, and off by
    the share of the cycle outside it otherwise. Open: the limited network is a
    flow-equivalent server with rate :math:`X(\min(j, L))` at j requests present
    (Chandy, Herzog & Woo 1975), fed by Poisson arrivals: a birth-death chain, exact for a
    product-form network.

All times are µs; throughputs returned in I/O per second.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..errors import ParameterError, UnstableError
from ..network import Network, unstable_message
from .analytic.multiclass import MAX_EXACT_SERVERS, mva_multiclass
from .analytic.mva import mva as _mva

#: fixed-point iterations of the method of layers, and the relative change of the core
#: stretch factors that ends them (the layers' fixed point; tighter buys nothing the
#: method's approximation error does not swamp)
MAX_LAYER_ITER = 400
LAYER_TOL = 1e-4
#: population vectors up to which a layer is solved by exact multiclass MVA (under a
#: millisecond); beyond it Bard-Schweitzer (tenths of a ms), whose error is worst at few
#: requests per class -- exactly the cases the exact solution covers (measured in
#: tests/solve/test_layered.py against the exact solution and the simulator)
EXACT_STATES = 2_000


def _step(it: int, diff: float, prev: float) -> float:
    """Damping of the fixed point: a full step while the change at least halves from one
    iteration to the next (the layers contract: half the iterations of always damping,
    measured on a grid of 128 layered networks, 5.4 against 10.5 on average), else 1/2,
    and from the 21st iteration on a decreasing step (averaging), so the iteration settles
    where the layers jitter against each other (a thread whose idle time is near zero
    switches the core pool between regimes). ``diff`` and ``prev``: the largest change of
    the stretch factors at this and the previous iteration (``prev < 0``: the first)."""
    if it > 20:
        return 1.0 / (it - 18)
    return 1.0 if prev < 0 or diff < 0.5 * prev else 0.5


def needs_layers(net: Network) -> bool:
    """Whether the network has groups, finite cores or an in-flight limit."""
    return len(net.groups) > 1 or math.isfinite(net.cores) or math.isfinite(net.inflight)


def _columns(net: Network, n_classes: int) -> tuple[list[int], np.ndarray, np.ndarray]:
    """Multiclass layout: for each column its station; per (class, column) a mask."""
    cols: list[int] = []
    owner: list[int] = []  # class owning a private column (-1: shared)
    for k, s in enumerate(net.stations):
        if s.private and n_classes > 1:
            for c in range(n_classes):
                cols.append(k)
                owner.append(c)
        else:
            cols.append(k)
            owner.append(-1)
    owner_a = np.array(owner)
    mask = np.array([[o < 0 or o == c for o in owner] for c in range(n_classes)], dtype=float)
    return cols, owner_a, mask


def _cap_groups(net: Network, pops: list[float]) -> list[float]:
    """Requests in flight per group under the in-flight limit (largest remainder)."""
    N = sum(pops)
    L = net.inflight
    if not math.isfinite(L) or N <= L:
        return pops
    share = [p * L / N for p in pops]
    base = [math.floor(x) for x in share]
    rest = int(L) - sum(base)
    order = sorted(range(len(pops)), key=lambda i: share[i] - base[i], reverse=True)
    for i in order[:rest]:
        base[i] += 1
    return [float(b) for b in base]


def _solve_upper(net: Network, pops: list[float], f: np.ndarray):
    """Closed multiclass solution with thread stations stretched by f.

    Returns per-station (residence per I/O over all classes weighted by throughput, µs),
    total throughput per µs, utilisation per server over instances.
    """
    active = [i for i, p in enumerate(pops) if p > 0]
    C = len(active)
    D = np.array([s.demand_us for s in net.stations]) * f
    m = np.array([s.servers for s in net.stations])
    if C == 1:
        # one class: exact single-class MVA (instances of a private station: just one)
        res = _mva(D, int(pops[active[0]]), think=net.think_us, servers=m)
        X = float(res.X[-1])
        Rk = np.asarray(res.Rk[-1], dtype=float)
        return Rk, X
    cols, owner, mask = _columns(net, C)
    Dm = D[cols][None, :] * mask
    mm = m[cols]
    n = [int(pops[i]) for i in active]
    exact = float(np.prod(np.array(n, dtype=float) + 1)) <= EXACT_STATES
    r = mva_multiclass(Dm, n, net.think_us, mm, method="exact" if exact else "schweitzer")
    X = float(r.X.sum())
    # residence per I/O at each station: sum over columns of X_c R_ck / X
    Rk = np.zeros(len(net.stations))
    for j, k in enumerate(cols):
        Rk[k] += float((r.X * r.Rk[:, j]).sum()) / X
    return Rk, X


def _core_factors(net: Network, X_per_us: float, f: np.ndarray) -> np.ndarray:
    """Lower layer: the core pool seen by every thread, at throughput X (per µs)."""
    thr = [k for k, s in enumerate(net.stations)
           if s.thread and s.name not in net.polling and s.demand_us > 0 and s.visits > 0
           and not s.is_delay]
    out = np.ones(len(net.stations))
    if not thr or not math.isfinite(net.cores):
        return out
    free = net.cores - net.polling_cores
    T = [int(net.effective_servers(net.stations[k])) for k in thr]
    if sum(T) <= free:
        return out  # a core for every thread: no waiting
    s = np.array([net.stations[k].service_us for k in thr])
    lam = np.array([X_per_us * net.stations[k].visits / t for k, t in zip(thr, T, strict=True)])
    resp = s * f[thr]  # the previous iteration's core response (surrogate delay)
    # each thread needs a core for s_k, lam_k times per µs: its time away from the pool is
    # 1/lam_k - R_k (one step of the layers' fixed point per outer iteration)
    think = np.maximum(1.0 / np.maximum(lam, 1e-300) - resp, 0.0)
    exact = float(np.prod(np.array(T, dtype=float) + 1)) <= EXACT_STATES
    r = mva_multiclass(s[:, None], T, think, [free], method="exact" if exact else "schweitzer")
    resp = np.maximum(r.Rk[:, 0], s)
    out[thr] = resp / s
    return out


@functools.lru_cache(maxsize=256)
def _shape(topology: tuple, polling: tuple[str, ...], cores: float, n_classes: int,
           n_groups: int) -> dict:
    """The cost-independent arrays of the compiled fixed point. They depend on the
    stations' topology (:func:`_topology`), the polling threads, the cores, the classes
    and the vCPU groups (instances of a private thread) only, so a sweep's points and a
    fit's steps, which move costs, build them once."""
    n_st = len(topology)
    private = [t[2] for t in topology]
    if n_classes == 1:
        cols, mask = list(range(n_st)), np.ones((1, n_st))
    else:
        cols, owner = [], []
        for k in range(n_st):  # as _columns: a private station has a column per class
            for c in (range(n_classes) if private[k] else (-1,)):
                cols.append(k)
                owner.append(c)
        mask = np.array([[o < 0 or o == c for o in owner] for c in range(n_classes)],
                        dtype=float)
    servers = [t[1] for t in topology]
    thr = [k for k, (name, srv, priv, thread, busy) in enumerate(topology)
           if thread and name not in polling and busy and not math.isinf(srv)]
    T = np.array([int(servers[k] * (n_groups if private[k] else 1)) for k in thr],
                 dtype=np.int64)
    pset = set(polling)
    free = cores - sum(t[1] for t in topology if t[0] in pset)
    if not thr or not math.isfinite(cores) or T.sum() <= free:
        thr, T = [], np.zeros(0, dtype=np.int64)  # a core for every thread: no lower layer
    delay = np.array([math.isinf(x) for x in servers])
    return {
        "cols": np.array(cols, dtype=np.int64), "mask": mask,
        "col_station": np.array(cols, dtype=np.int64),
        "m": np.array(servers, dtype=float)[cols],
        "thr": np.array(thr, dtype=np.int64), "T": T,
        "free": float(free) if math.isfinite(free) else 0.0,
        "code_free": int(free) if thr and free < T.sum() else 0,
        "exact_low": bool(thr) and float(np.prod(T.astype(float) + 1)) <= EXACT_STATES,
        "n_st": n_st,
        # Network.utilisation's divisor (servers over instances; 1 for a delay station)
        "util_div": np.array([1.0 if d else srv * (n_groups if priv else 1)
                              for d, srv, priv in zip(delay, servers, private, strict=True)]),
        "delay": delay,
    }


def _topology(stations: tuple) -> tuple:
    """What of the stations the fixed point's structure reads: name, servers, private,
    thread and whether the station is visited with a demand (a thread without work needs
    no core)."""
    return tuple((s.name, s.servers, s.private, s.thread, s.demand_us > 0 and s.visits > 0)
                 for s in stations)


@functools.lru_cache(maxsize=1024)
def _loaded(topology: tuple, polling: tuple[str, ...], cores: float, n_groups: int,
            N: tuple[int, ...], think_us: float) -> dict:
    """:func:`_shape` with the arrays of the populations (the requests in flight of each
    active class) and the think time added: cost-independent too, so a fit's steps, which
    move costs only, build them once per network shape and load."""
    C = len(N)
    st = dict(_shape(topology, polling, cores, C, n_groups))
    n = np.array(N, dtype=np.int64)
    mm = st["m"]
    code = np.where(np.isinf(mm) | (mm >= n.sum()), 0, mm).astype(np.int64)
    exact = C == 1 or float(np.prod(n.astype(float) + 1)) <= EXACT_STATES
    st.update(N=n, Z=np.full(C, float(think_us)), code=code, single=C == 1,
              exact_up=bool(exact and (code <= MAX_EXACT_SERVERS).all()))
    return st


def _structure(net: Network, pops: list[float]) -> dict:
    """The arrays the compiled fixed point needs: the cached shape and populations
    (:func:`_loaded`), and the costs."""
    stations = net.stations
    st = dict(_loaded(_topology(stations), net.polling, float(net.cores), net.n_groups,
                      tuple(int(p) for p in pops if p > 0), float(net.think_us)))
    D = np.array([s.demand_us for s in stations])
    thr = st["thr"]
    st["D"] = D
    st["Dm"] = np.ascontiguousarray(D[st["cols"]][None, :] * st["mask"])
    st["s"] = np.array([stations[k].service_us for k in thr], dtype=float)
    st["visits"] = np.array([stations[k].visits for k in thr], dtype=float)
    return st


def _fixed_point(net: Network, pops: list[float], st: dict | None = None,
                 f0: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, float, int]:
    """The layers' fixed point: (core stretch f per station, residence per I/O per station
    in µs, throughput per µs, iterations). Compiled (:mod:`.analytic._kernels_layers`)
    except for one class at a station of more than ``MAX_EXACT_SERVERS`` servers, which
    the single-class exact MVA solves in Python. ``st``: :func:`_structure`'s, if built;
    ``f0``: the stretches to start from (default none, ones)."""
    st = st if st is not None else _structure(net, pops)
    if st["single"] and not st["exact_up"]:
        return _fixed_point_python(net, pops, f0)
    from .analytic._kernels_layers import layered_fixed_point

    f, Rk, X, it = layered_fixed_point(
        st["Dm"], st["col_station"], st["N"], st["Z"], st["code"], st["exact_up"], st["thr"],
        st["T"], st["s"], st["visits"], st["free"], st["code_free"], st["exact_low"],
        st["n_st"], LAYER_TOL, MAX_LAYER_ITER, 1e-10, 100_000,
        np.ones(st["n_st"]) if f0 is None else np.asarray(f0, dtype=float))
    return f, Rk, float(X), int(it)


def _fixed_point_python(net: Network, pops: list[float], f0: np.ndarray | None = None
                        ) -> tuple[np.ndarray, np.ndarray, float, int]:
    """The same fixed point, iterated in Python (the reference the kernel follows)."""
    f = np.ones(len(net.stations)) if f0 is None else np.array(f0, dtype=float)
    it = 0
    prev = -1.0
    for it in range(1, MAX_LAYER_ITER + 1):
        Rk, X = _solve_upper(net, pops, f)
        f_new = _core_factors(net, X, f)
        diff = float(np.max(np.abs(f_new - f)))
        if diff <= LAYER_TOL * np.max(f_new):
            if np.any(f_new != f):
                f = f_new
                Rk, X = _solve_upper(net, pops, f)
            return f, Rk, X, it
        a = _step(it, diff, prev)  # damped when the layers pull in opposite directions
        prev = diff
        f = (1 - a) * f + a * f_new
    return f, Rk, X, MAX_LAYER_ITER + 1


def solve_closed_layered_xru(net: Network, f0: np.ndarray | None = None
                             ) -> tuple[float, float, np.ndarray, np.ndarray]:
    """Throughput (I/O per s), latency (µs) and utilisation per server of
    :func:`solve_closed_layered`, without the per-visit waits (a sweep's columns), and the
    core stretch per station the layers settled on.

    ``f0``: the stretches to start the layers from, one per station (default: ones). A
    sweep passes its previous point's: the next point's fixed point is close to it, and
    the iteration stops at the same tolerance (``LAYER_TOL`` on the stretch) from either
    start, so the answers agree with a cold start to within that tolerance (measured
    <= 5e-5 relative on throughput over a 64-job sweep with 4 host cores) in about a third
    of the layer iterations."""
    pops = list(net.groups) if len(net.groups) > 1 else [float(net.population)]
    pops = _cap_groups(net, pops)
    st = _structure(net, pops)
    if f0 is not None and len(f0) != st["n_st"]:
        f0 = None  # another network shape: nothing to carry over
    f, Rk, X, it = _fixed_point(net, pops, st, f0)
    if it > MAX_LAYER_ITER:
        raise ParameterError(f"{net.name!r}: the method of layers did not converge in "
                             f"{MAX_LAYER_ITER} iterations (cores={net.cores:g})")
    R = net.population / X - net.think_us if net.population > sum(pops) else float(Rk.sum())
    # Network.utilisation(X) with the shape's arrays (the same numbers, no per-point lists)
    util = X * st["D"] / st["util_div"] * np.where(st["delay"], 1.0, f)
    return X * 1e6, R, util, f


def solve_closed_layered(net: Network) -> tuple[float, float, np.ndarray, np.ndarray, dict]:
    """Closed solution with groups, host cores and an in-flight limit.

    Returns throughput (I/O per s), latency (µs), per-visit waits (µs), utilisation per
    server (over instances) and a dict of details (``core_stretch`` per station,
    ``slot_wait_us``, ``iterations``).
    """
    pops = list(net.groups) if len(net.groups) > 1 else [float(net.population)]
    pops = _cap_groups(net, pops)
    f, Rk, X, it = _fixed_point(net, pops)
    if it > MAX_LAYER_ITER:
        raise ParameterError(f"{net.name!r}: the method of layers did not converge in "
                             f"{MAX_LAYER_ITER} iterations (cores={net.cores:g})")
    N = net.population
    R_in = float(Rk.sum())
    R = N / X - net.think_us if N > sum(pops) else R_in
    slot_wait = max(R - R_in, 0.0)
    D = np.array([s.demand_us for s in net.stations])
    V = np.array([s.visits for s in net.stations])
    delay = np.array([s.is_delay for s in net.stations])
    with np.errstate(divide="ignore", invalid="ignore"):
        waits = np.where((V > 0) & ~delay, np.maximum(Rk - D, 0.0) / np.where(V > 0, V, 1.0), 0.0)
    if slot_wait > 0 and net.route:
        first = net.route[0].station
        waits[first] += slot_wait / max(V[first], 1e-300)
    util = net.utilisation(X * 1e6) * np.where(delay, 1.0, f)
    return X * 1e6, R, waits, util, {"core_stretch": f, "slot_wait_us": slot_wait,
                                     "iterations": it}


def solve_open_layered(net: Network, rate_per_s: float, solve_plain) -> tuple[float, np.ndarray,
                                                                             np.ndarray, dict]:
    """Open solution with host cores and an in-flight limit (groups are handled by the plain
    open solution through the private stations' instances).

    ``solve_plain(net, rate, f)`` is the open solution with thread stations stretched by f.
    """
    net.check_stable(rate_per_s)
    lam = rate_per_s / 1e6
    f = np.ones(len(net.stations))
    if math.isfinite(net.cores):
        prev = -1.0
        for it in range(1, MAX_LAYER_ITER + 1):
            f_new = _core_factors(net, lam, f)
            diff = float(np.max(np.abs(f_new - f)))
            if diff <= LAYER_TOL * np.max(f_new):
                f = f_new
                break
            a = _step(it, diff, prev)
            prev = diff
            f = (1 - a) * f + a * f_new
        util = net.utilisation(rate_per_s) * f
        bad = [(s, u) for s, u in zip(net.stations, util, strict=True)
               if not s.is_delay and u >= 1]
        if bad:
            s, u = bad[0]
            raise UnstableError(unstable_message(
                s.name, float(u), rate_per_s, rate_per_s / float(u), net.name)
                + f"; its threads wait for the {net.cores:g} host cores")
    R, waits, util = solve_plain(net, rate_per_s, f)
    details = {"core_stretch": f, "slot_wait_us": 0.0}
    if math.isfinite(net.inflight):
        R, extra = _flow_equivalent(net, rate_per_s, R)
        details["slot_wait_us"] = extra
        if net.route:
            first = net.route[0].station
            waits = waits.copy()
            waits[first] += extra / max(net.stations[first].visits, 1e-300)
    return R, waits, util, details


def route_moments(net: Network) -> tuple[float, float]:
    """Mean and second moment (µs, µs²) of one request's time through the whole route when it
    never waits: the sum of its visits' times, each independent. A visit occurring ``c``
    times per I/O is ``floor(c)`` certain occurrences and one with probability
    ``c - floor(c)`` (as the simulator expands it), so its variance is
    ``floor(c) m^2 scv + f m^2 (1 + scv) - f^2 m^2`` with ``f`` the fraction."""
    mean = var = 0.0
    for v in net.route:
        c = v.per_io(net.batch)
        whole = math.floor(c + 1e-12)
        frac = max(c - whole, 0.0)
        m2 = v.mean_us * v.mean_us
        mean += c * v.mean_us
        var += whole * m2 * v.scv + frac * m2 * (1.0 + v.scv) - frac * frac * m2
    return mean, var + mean * mean


def _flow_equivalent(net: Network, rate_per_s: float, R_open: float) -> tuple[float, float]:
    r"""Latency of the in-flight-limited network under Poisson arrivals.

    One command in flight (``L = 1``): the route is one server whose service is the route's
    time, fed by Poisson arrivals -- M/G/1, exact by Pollaczek-Khinchine,
    :math:`R = E[S] + \lambda E[S^2] / (2 (1 - \lambda E[S]))` (Kleinrock 1975, vol. 1,
    eq. 5.105), with :math:`E[S^2]` from the visits' own laws (:func:`route_moments`).
    Several (``L > 1``): a birth-death chain with rate X(min(j, L)) (closed throughput at j
    requests, no think time), exact for a product-form network (exponential costs); it
    ignores the costs' variability, as MVA does."""
    from dataclasses import replace

    L = int(net.inflight)
    lam = rate_per_s / 1e6
    if L == 1:
        ES, ES2 = route_moments(net)
        rho = lam * ES
        if rho >= 1:
            raise UnstableError(unstable_message("inflight", rho, rate_per_s, 1e6 / ES,
                                                 net.name))
        R = ES + lam * ES2 / (2.0 * (1.0 - rho))
        return R, max(R - R_open, 0.0)
    Xj = []
    for j in range(1, L + 1):
        cj = replace(net, rate_per_s=None, population=j, think_us=0.0, groups=(),
                     inflight=math.inf, batch=min(net.batch, j))
        _, X = _solve_upper(cj, [float(j)], np.ones(len(net.stations)))
        Xj.append(X)
    rho_L = lam / Xj[-1]
    if rho_L >= 1:
        raise UnstableError(unstable_message("inflight", rho_L, rate_per_s, Xj[-1] * 1e6,
                                             net.name))
    # p_j proportional to prod_{i<=j} lam / X(min(i, L)); geometric beyond L
    w = [1.0]
    for j in range(1, L + 1):
        w.append(w[-1] * lam / Xj[j - 1])
    head = sum(w[:L])
    tail = w[L] / (1 - rho_L)
    total = head + tail
    mean_n = (sum(j * w[j] for j in range(L)) + w[L] * (L / (1 - rho_L) + rho_L / (1 - rho_L) ** 2)
              ) / total
    R = mean_n / lam
    return R, max(R - R_open, 0.0)
