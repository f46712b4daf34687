"""Load-dependent batching: with notification suppression the batch grows with the load.

With notification suppression (virtio EVENT_IDX, a backend that drains its ring on each
wake-up) a request that arrives while the notified backend is busy rides on the current
pass; arrivals see time averages, so a fraction :math:`1-\\rho` of them find it idle and
the batch is :math:`b = 1/(1-\\rho)` (at most the requests in flight), :math:`\\rho` the
utilisation of the busiest notified station (the backend thread, not the vCPUs) at batch
b: a fixed point, found by Brent's method in log b.

**Inside the pass.** Only the back-end's time inside its pass over the ring suppresses
kicks: once a pass finds the ring empty it re-arms notifications, and work it does after
that (the io_uring submission of Firecracker's Async engine, once
``pop_or_enable_notification`` returned nothing, and its completion passes: catalog hops
with ``after_pass = true``) lets the next request kick. :math:`\\rho` counts the station's utilisation times its share
of demand inside passes (:meth:`~iovmodel.network.Network.pass_share`), so a back-end that
moves work out of its pass (Firecracker's Async engine) batches less than one that does the
same work inside it (the Sync engine's pread), however busy each is.

**Interrupt throttling.** A device model that holds its interrupts to a rate r (e1000's
mitigation timers at the guest driver's throttle rate, :attr:`Network.irq_max_per_s`) covers
at least the X / r units of one interval with each, X the throughput: the target batch is
then max(1/(1 - rho), X/r), still a fixed point in b (X grows with b).

**Whose default.** A back-end that drains its ring and raises one interrupt per pass
(Firecracker's block device, Cloud Hypervisor's virtio-blk worker) has this batch when
the caller asks for none: its catalog entry says ``batching = "load"`` (:attr:`Path.batching`,
read by :func:`resolve`), and a pass finds at most the requests the device lets in flight
(:func:`in_flight`). Near the back-end's saturation the fixed point runs to that cap (a pass
then finds every request), so a back-end priced slower than the vCPU becomes the bound.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..network import Network

#: Largest batch (requests per notification) a load-dependent or fitted batch may reach.
BATCH_MAX = 256.0
#: ``batching=`` values: the workload's batch, or the load-dependent fixed point.
BATCHING = ("amortised", "load")


def notified(net: Network) -> list[int]:
    """Stations a notification wakes: queueing stations other than the vCPUs that
    serve per-batch hops (the backend thread that drains the ring)."""
    idx = {v.station for v in net.route if v.per == "batch"}
    return [i for i in sorted(idx) if not net.stations[i].is_delay
            and net.stations[i].name != "vcpu" and net.stations[i].demand_us > 0]


def pass_rho(net: Network, util: Any) -> float:
    """The utilisation that sizes the batch: the busiest notified station's, counting only
    its time inside its passes over the ring (:meth:`Network.pass_share`; work it does after
    re-arming notifications, :attr:`Visit.after_pass`, lets the next request kick)."""
    return max((min(float(util[i]), 1.0) * net.pass_share(i) for i in notified(net)),
               default=0.0)


def resolve(batching: str | None, path: Any) -> str:
    """``batching`` as asked, or the path's own (:attr:`Path.batching`) where it is None:
    ``"load"`` on a path whose back-end signals once per pass of its ring."""
    return getattr(path, "batching", "amortised") if batching is None else batching


def in_flight(net: Network, population: int) -> int:
    """The requests a pass of the back-end can find: the closed population, or fewer where
    the device model holds fewer in flight (:attr:`Network.inflight`: a ring without
    indirect descriptors, IDE's one command), and, where the requests are spread over
    several queues each drained and notified on its own (:attr:`Network.queues`: NVMe's
    queue pair per vCPU, virtio's virtqueue per vCPU), those of one queue."""
    n = int(min(population, net.inflight)) if math.isfinite(net.inflight) else population
    if math.isfinite(net.queues) and net.queues > 1:
        n = min(n, max(1, math.ceil(population / net.queues)))
    return n


def load_batched(solve_at: Callable[[float], tuple[Network, float, float, Any, Any]],
                 population: int, tol: float = 1e-10,
                 gap: Callable[[float], float] | None = None, start: float | None = None,
                 slope: float | None = None, found: dict | None = None
                 ) -> tuple[Network, float, float, Any, Any]:
    """Closed solution with a load-dependent batch: b = 1 / (1 - rho).

    By PASTA a fraction 1 - rho of requests find the notified backend idle, so kicks
    and interrupts per I/O are 1 - rho and the batch is 1/(1 - rho), capped at the
    requests in flight.  rho is the utilisation of the busiest notified station, itself
    a function of b: the root in log b of ``log b - log target(b)`` by Brent's method
    (the bracket [1, cap] always holds one).

    Parameters
    ----------
    solve_at : callable
        ``solve_at(batch)`` -> (network at that batch, X per s, R µs, waits per visit µs,
        utilisation per station): the closed solver at the workload's population.
    population : int
        Requests in flight (caps the batch).
    tol : float
        Absolute tolerance on log b.
    gap : callable, optional
        ``log b -> log b - log target(b)`` computed without ``solve_at`` (the same map,
        equal to rounding: :func:`stream_gap`); the root is searched on it and only the
        solution at the root is ``solve_at``'s.
    start : float, optional
        A log batch near the root (a fit's previous point, whose costs differ by a
        finite-difference step): secant steps from there, a few solutions where Brent's
        method takes a dozen; Brent's over the whole bracket if they do not settle.
    slope : float, optional
        The slope of the gap near ``start`` (the previous point's last secant): the first
        step from ``start`` takes it instead of 1, so a point a finite-difference step away
        settles in two solutions, not three or four.
    found : dict, optional
        Filled with ``slope``: the last secant slope of the search from ``start`` (absent
        when no secant ran), for the next point's ``slope``.

    Returns
    -------
    tuple
        ``solve_at`` at the fixed point; the network's ``batch`` is the batch found.
    """
    cap = float(min(population, BATCH_MAX))
    memo: dict[float, tuple] = {}

    def solve(logb: float) -> tuple:
        if logb not in memo:
            # exp(log 11) is 11.000000000000002: keep the batch inside [1, cap] exactly
            sol = solve_at(min(max(math.exp(logb), 1.0), cap))
            net, util = sol[0], sol[4]
            rho = pass_rho(net, util)
            target = min(max(1.0 / max(1.0 - rho, 1e-12), float(sol[1]) / net.irq_max_per_s,
                             1.0), cap)
            memo[logb] = (*sol, math.log(target))
        return memo[logb]

    # increasing in t, <= 0 at 0, >= 0 at log cap
    g = (lambda t: t - solve(t)[5]) if gap is None else gap  # noqa: E731
    hi = math.log(cap)
    if start is not None and cap > 1.0:
        t = _secant(g, min(max(start, 0.0), hi), hi, tol, slope=slope, found=found)
        if t is not None:
            return solve(t)[:5]
    if cap <= 1.0 or g(0.0) >= 0.0:
        t = 0.0
    elif g(hi) <= 0.0:
        t = hi
    else:
        from scipy import optimize

        t = optimize.brentq(g, 0.0, hi, xtol=tol, rtol=4 * np.finfo(float).eps)
    return solve(t)[:5]


def _secant(g: Callable[[float], float], t0: float, hi: float, tol: float,
            steps: int = 8, slope: float | None = None,
            found: dict | None = None) -> float | None:
    """The root of the increasing ``g`` on [0, hi] by secant steps from ``t0`` (the first
    with ``slope``, else 1: ``g``'s own where the load does not move the target), ends
    included as :func:`load_batched` takes them; None if ``steps`` do not settle it within
    ``tol``. A point is the root when the step to it was below ``tol``, or when the next
    step would be below ``tol / 100`` (the secant's own estimate of the distance left, a
    hundredth of the tolerance so the answer is as close as a further step would bring
    it); ``found`` gets the last secant slope."""
    g0 = g(t0)
    if g0 == 0.0:
        return t0
    s = slope if slope is not None and math.isfinite(slope) and slope > 0 else 1.0
    t1 = min(max(t0 - g0 / s, 0.0), hi)
    for _ in range(steps):
        if t1 == t0:  # clamped at an end the root lies beyond
            return t1 if (t1 == 0.0 and g0 > 0) or (t1 == hi and g0 < 0) else None
        g1 = g(t1)
        if abs(t1 - t0) < tol or g1 == 0.0:
            return t1
        s = (g1 - g0) / (t1 - t0)
        if not s > 0:  # g increases: a flat or falling secant is rounding
            return None
        if found is not None:
            found["slope"] = s
        if abs(g1) / s < 0.01 * tol and 0.0 < t1 < hi:
            return t1
        t0, g0, t1 = t1, g1, min(max(t1 - g1 / s, 0.0), hi)
    return None


def open_gap(build_at: Callable[[float], Network], rate_per_s: float,
             cap: float = BATCH_MAX) -> Callable[[float], float]:
    r"""``log b -> log b - log target(b)`` of :func:`load_batched` for an open workload.

    At an offered rate the notified station's utilisation needs no solution:
    :math:`\rho(b) = \lambda D(b) / c`, its demand at batch b over its servers. Where
    :math:`\rho(b) \ge 1` the batch can only grow (the target is ``cap``), so the root is
    the smallest batch that keeps the back-end up with the rate, if any
    (``build_at(batch)``: the network at that batch)."""
    def gap(t: float) -> float:
        net = build_at(min(max(math.exp(t), 1.0), cap))
        busy = [(rate_per_s * net.stations[i].demand_us / 1e6 / net.stations[i].servers, i)
                for i in notified(net)]
        # a back-end short of the rate can only take larger batches; one that keeps up
        # suppresses kicks while inside its passes only (Visit.after_pass)
        rho = max((u * net.pass_share(i) for u, i in busy), default=0.0)
        throttled = rate_per_s / net.irq_max_per_s
        target = cap if any(u >= 1.0 for u, _ in busy) else \
            min(max(1.0 / (1.0 - rho), throttled, 1.0), cap)
        return t - math.log(target)

    return gap


def stream_gap(net: Network, cap: float) -> Callable[[float], float]:
    """``log b -> log b - log target(b)`` of :func:`load_batched` for a stream at its bound
    (:func:`~iovmodel.solve.streams.stream_bound`), from per-station demand arrays.

    At batch b a station's demand is ``a + d / b`` (its per-I/O and per-batch visits), so
    the bound ``min_k c_k / D_k`` over the stations, the host cores and the in-flight
    limit (:attr:`Network.saturation_per_s`) and the notified utilisation need no network
    at each b: the same numbers up to rounding (sums grouped otherwise), some ten times
    faster. ``net`` is the stream's network at any batch.
    """
    n = len(net.stations)
    per_io = [0.0] * n
    per_batch = [0.0] * n
    held_io = [0.0] * n  # visits elsewhere that hold the station (Station.held_us)
    held_batch = [0.0] * n
    for v in net.route:
        if v.per == "batch":
            per_batch[v.station] += v.count * v.mean_us
        else:
            per_io[v.station] += v.count * v.mean_us
        if v.holds >= 0:
            (held_batch if v.per == "batch" else held_io)[v.holds] += v.count * v.mean_us
    st = net.stations
    # each limit: (per-I/O demand, per-batch demand, servers); plain floats, as few as the
    # stations: Python's arithmetic beats numpy's per-call overhead at this size. A held
    # server is occupied by its holders' visits too (Network.saturation_per_s)
    limits = [(per_io[i] + held_io[i], per_batch[i] + held_batch[i], net.effective_servers(s))
              for i, s in enumerate(st)
              if not s.is_delay and (per_io[i] + held_io[i] > 0 or per_batch[i] + held_batch[i] > 0)]
    polling = set(net.polling)
    threads = [i for i, s in enumerate(st) if s.thread and s.name not in polling]
    if math.isfinite(net.cores) and sum(per_io[i] + per_batch[i] for i in threads) > 0:
        limits.append((sum(per_io[i] for i in threads), sum(per_batch[i] for i in threads),
                       net.cores - net.polling_cores))
    if math.isfinite(net.inflight):
        limits.append((sum(per_io), sum(per_batch), net.inflight))
    # the notified stations' time inside their passes (Visit.after_pass: not in it)
    pass_io, pass_batch = per_io, per_batch
    if any(v.after_pass for v in net.route):
        pass_io, pass_batch = [0.0] * n, [0.0] * n
        for v in net.route:
            if not v.after_pass:
                (pass_batch if v.per == "batch" else pass_io)[v.station] += v.count * v.mean_us
    note = [(pass_io[i], pass_batch[i], net.effective_servers(st[i])) for i in notified(net)]
    irq = net.irq_max_per_s

    def gap(t: float) -> float:
        b = min(max(math.exp(t), 1.0), cap)
        worst = max(((a + d / b) / c for a, d, c in limits), default=0.0)
        x = 1.0 / worst if worst > 0 else 0.0  # throughput per µs (0: nothing bounds it)
        rho = max((x * (a + d / b) / c for a, d, c in note), default=0.0)
        throttled = x * 1e6 / irq
        return t - math.log(min(max(1.0 / max(1.0 - rho, 1e-12), throttled, 1.0), cap))

    return gap
