"""Network workloads in the solvers: streams at their bound, floods with drops, notification
amortisation under load.

**Notification amortisation.** NAPI polls up to a budget of 64 packets per interrupt
(``NAPI_POLL_WEIGHT``), virtio's EVENT_IDX suppresses kicks while the back-end is draining the
ring, vhost-net handles ``VHOST_NET_BATCH`` packets per wake-up: a packet that arrives while
the notified thread is busy rides on the current pass. As in :mod:`iovmodel.solve.batching`,
by PASTA a fraction 1 - rho of the packets find it idle, so the packets per notification are
b = 1/(1 - rho), rho the utilisation of the busiest notified station *at batch b*: a fixed
point, here capped at the NAPI budget (and at the packets in flight), where it stops growing.

**Streams** (and floods as fast as they go) keep their bottleneck busy: the throughput is the
asymptotic bound min c_k / D_k (Lazowska et al. 1984, section 5.2) at the fixed-point batch.

**Floods and UDP at an offered rate** can drop: the ring in front of the bottleneck holds K
packets (``packets.toml``: a virtqueue's 256 slots, tap's 500-packet ptr_ring, ...), so the
bottleneck is an M/M/1/K station (servers pooled into one of c times the rate): it delivers
lambda (1 - p_K) and drops lambda p_K (Gross, Shortle, Thompson & Harris, *Fundamentals of
Queueing Theory*, 4th ed., section 2.5; Kleinrock, *Queueing Systems* vol. 1, section 3.6).
The other stations see the delivered rate and are solved open as usual. Where nothing can drop
(TCP, exchanges, block I/O) an open load beyond capacity still raises
:class:`~iovmodel.errors.UnstableError`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ..network import Network, build
from ..spec.catalog import Path
from ..spec.profile import HostProfile
from ..spec.traffic import constants
from ..spec.workload import Workload
from .analytic.single import mm1k
from .batching import BATCH_MAX, load_batched, stream_gap
from .open import solve_open
from .streams import stream_bound


def batch_cap(w: Workload) -> int:
    """Most packets one notification can cover: the NAPI budget, at most the packets in
    flight of a closed workload."""
    budget = int(constants()["napi_budget"])
    return budget if w.is_open else int(min(budget, w.population))


def _at_batch(p: Path, h: HostProfile, w: Workload, net: Network | None):
    """``b -> build(p, h, w at batch b)``: from ``net`` (``build(p, h, w)``, given or built
    here) only the per-batch visits change (:meth:`Network.with_batch`), no cost is evaluated
    again."""
    base = build(p, h, w) if net is None else net
    return base.with_batch


def solve_stream(p: Path, h: HostProfile, w: Workload, net: Network | None = None
                 ) -> tuple[Network, float, float, np.ndarray, np.ndarray]:
    """A saturating stream: (network at the fixed-point batch, X per s, R µs, waits, util).

    ``net``, if given, is ``build(p, h, w)`` (a caller that keeps networks, the fit's memo).
    """
    pop = w.population
    base = build(p, h, w) if net is None else net

    def solve_at(b: float) -> tuple:
        net = base.with_batch(b)
        X, util = stream_bound(net)
        R = pop / X * 1e6 if X > 0 else math.inf
        return net, X, R, np.zeros(len(net.stations)), util

    cap = batch_cap(w)
    # the root is searched on the demand arrays (stream_gap), the solution made once there
    return load_batched(solve_at, cap, gap=stream_gap(base, float(min(cap, BATCH_MAX))))


@dataclass(frozen=True)
class Flood:
    """An open network workload solved with its finite ring."""

    net: Network
    delivered_per_s: float
    latency_us: float
    waits: np.ndarray
    util: np.ndarray
    dropped_per_s: float
    drops_at: str


def _lossy_at(net: Network, rate: float) -> Flood:
    """The open solution of ``net`` at an offered ``rate`` with its bottleneck's finite ring."""
    lim = [s for s in net.stations if not s.is_delay and s.demand_us > 0]
    if not lim or net.ring is None:
        R, waits, util = solve_open(net, rate)
        return Flood(net, rate, R, waits, util, 0.0, "")
    k = max(range(len(net.stations)), key=lambda i: (
        -1.0 if net.stations[i].is_delay else
        net.stations[i].demand_us / net.effective_servers(net.stations[i])))
    s = net.stations[k]
    mu = net.effective_servers(s) / s.demand_us * 1e6  # units per s, servers pooled
    _, slots, _ = net.ring
    q = mm1k(rate, mu, slots)
    delivered = float(q.throughput)
    # every other station sees the delivered rate; solve the network just below the
    # bottleneck's capacity there, then put the bottleneck's own M/M/1/K wait in its place
    at = min(delivered, mu * (1 - 1e-9))
    bottleneck_only = replace(net, stations=tuple(
        replace(x, demand_us=0.0) if i == k else x for i, x in enumerate(net.stations)))
    R, waits, util = solve_open(bottleneck_only, at)
    waits = np.array(waits, dtype=float)
    util = np.array(util, dtype=float)
    waits[k] = float(q.Wq) * 1e6 / max(s.visits, 1e-300)  # per visit
    util[k] = float(q.utilization)
    R = float(R) + float(q.W) * 1e6  # the bottleneck's wait and service per unit
    return Flood(net, delivered, R, waits, util, rate - delivered, s.name)


def solve_flood(p: Path, h: HostProfile, w: Workload, net: Network | None = None) -> Flood:
    """An open network workload: the load-dependent batch b = 1/(1 - rho) (capped at the NAPI
    budget) and, if its traffic can drop, the finite ring at the bottleneck. ``net``, if
    given, is ``build(p, h, w)``."""
    rate = w.rate_per_s
    cap = batch_cap(w)
    memo: dict[float, Flood] = {}
    at_batch = _at_batch(p, h, w, net)

    def at(b: float) -> Flood:
        if b not in memo:
            net = at_batch(b)
            memo[b] = _lossy_at(net, rate) if net.ring is not None else \
                Flood(net, rate, *solve_open(net, rate), 0.0, "")
        return memo[b]

    def target(b: float) -> float:
        f = at(b)
        from .batching import pass_rho

        rho = pass_rho(f.net, f.util)
        # an interrupt throttle (e1000's mitigation) covers the packets of one interval
        throttled = f.delivered_per_s / f.net.irq_max_per_s
        return min(max(1.0 / max(1.0 - rho, 1e-12), throttled, 1.0), cap)

    # 1/(1 - rho) is non-increasing in b (a larger batch lowers the notified station's
    # demand) and the throttle's delivered / r, bounded by the rate, grows slower than b
    # (fewer drops at most make up the rate): log target - log b falls through zero once, so
    # bisection in log b finds the fixed point
    lo, hi = 0.0, math.log(cap)
    if cap <= 1 or target(1.0) <= 1.0:
        return at(1.0)
    if target(float(cap)) >= cap:
        return at(float(cap))
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if math.log(target(math.exp(mid))) > mid:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-9:
            break
    return at(math.exp(hi))
