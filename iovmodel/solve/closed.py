"""The closed solution: exact Mean Value Analysis with load-dependent multi-server stations.

Closed workloads (jobs x iodepth in flight) use exact MVA; MVA assumes product form, so it
uses the mean costs only (a hop's ``scv`` matters to the open solution and to the simulator).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import ParameterError
from ..network import Network
from .analytic.mva import mva_of_checked
from .holding import (
    held,
    lock_utilisation,
    mutex_bound,
    next_start,
    route_waits,
    solve_held,
)
from .layered import needs_layers, solve_closed_layered
from .locks import contended, solve_with_waiters


def solve_closed(net: Network, populations: Sequence[int] | None = None,
                 warm: dict | None = None, layers: dict | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Exact MVA of the closed network at the given populations (default: the network's).

    Returns arrays: throughput (I/O per s), latency (µs), per-visit waits (µs) and
    utilisation, one row per population. ``warm``: a dict of the waiters at contended
    locks to start from (:func:`~iovmodel.solve.locks.solve_with_waiters`; a fit's).
    ``layers``: where a vCPU is held (:mod:`.holding`), the last two points' (population,
    stretches) under key ``"held"`` (a sweep's previous points'): the layers start where
    they point (:func:`~iovmodel.solve.holding.next_start`); replaced by this solution's.
    """
    if held(net):  # a vCPU held while its exit is emulated under the mutex (.holding)
        if needs_layers(net) and populations is not None \
                and list(populations) != [net.population]:
            raise ParameterError(
                f"{net.name!r} has vCPU groups, host cores or an in-flight limit: its network "
                "depends on jobs and iodepth, so solve it at its own population only")
        pops = [net.population] if populations is None else list(populations)
        sols = []
        # each population starts where the previous ones' stretches point (the first from
        # the caller's previous networks', if given)
        seen = [] if layers is None else list(layers.get("held", []))
        for k in pops:
            _, (X, R, waits, util), g = solve_held(
                net, lambda n, k=k: _solve_closed(n, [k], warm), lambda sol: float(sol[0][0]), k,
                next_start(seen, k))
            seen = seen[-1:] + [(float(k), g)]
            x, r, wt, u = mutex_bound(net, float(X[0]), float(R[0]), route_waits(net, g, waits),
                                      lock_utilisation(net, util, X[:, None]), k)
            sols.append((np.array([x]), np.array([r]), wt, u))
        if layers is not None:
            layers["held"] = seen
        return tuple(np.concatenate([s[i] for s in sols]) for i in range(4))
    return _solve_closed(net, populations, warm)


def _solve_closed(net: Network, populations: Sequence[int] | None, warm: dict | None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`solve_closed` of a network in which nothing holds a second station."""
    if needs_layers(net):
        if populations is not None and list(populations) != [net.population]:
            raise ParameterError(
                f"{net.name!r} has vCPU groups, host cores or an in-flight limit: its network "
                "depends on jobs and iodepth, so solve it at its own population only")
        if contended(net):  # a lock's hand-off grows with its waiters (.locks)
            _, (X, R, waits, util, _) = solve_with_waiters(net, solve_closed_layered, warm)
        else:
            X, R, waits, util, _ = solve_closed_layered(net)
        return np.array([X]), np.array([R]), waits[None, :], util[None, :]
    if contended(net):  # each population its own waiters: one fixed point per population
        pops = [net.population] if populations is None else list(populations)
        sols = [solve_with_waiters(net, lambda n, k=k: _mva(n, [k]))[1] for k in pops]
        return tuple(np.concatenate([s[i] for s in sols]) for i in range(4))
    return _mva(net, populations)


def _mva(net: Network, populations: Sequence[int] | None
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Exact single-class MVA at the populations (a network without groups or limits)."""
    pops = np.asarray([net.population] if populations is None else list(populations), dtype=int)
    if pops.size and pops.min() < net.batch:
        raise ParameterError(f"batch {net.batch:g} > population {int(pops.min())} of {net.name!r}: "
                             "a batch larger than the requests in flight can never fill")
    dem = [s.demand_us for s in net.stations]
    srv = [s.servers for s in net.stations]
    res = mva_of_checked(dem, srv, net.think_us, int(pops.max()))
    X = np.asarray(res.X, dtype=float)[pops - 1]  # per µs
    R = np.asarray(res.R, dtype=float)[pops - 1]
    Q = np.asarray(res.Q, dtype=float)[pops - 1]
    D = np.asarray(dem, dtype=float)
    V = np.array([s.visits for s in net.stations])
    delay = np.array([s.is_delay for s in net.stations])
    c = np.where(delay, 1.0, np.asarray(srv, dtype=float))
    util = X[:, None] * D[None, :] / c[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        waits = np.where((V > 0) & ~delay & (X[:, None] > 0),
                         np.maximum(Q / X[:, None] - D[None, :], 0.0) / np.where(V > 0, V, 1.0), 0.0)
    return X * 1e6, R, waits, util
