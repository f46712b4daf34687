r"""Locks whose hand-off slows as waiters pile up: load-dependent service at a lock.

A guest spinlock taken by every vCPU (xen-blkfront's ``io_lock``) is passed from holder to
waiter through its cache line; with W threads spinning on it each release must move the
line past all of them, so the time to pass the lock grows linearly with W (Boyd-Wickizer,
Kaashoek, Morris & Zeldovich, "Non-scalable locks are dangerous", Linux Symposium 2012,
section 3: their Markov model of a ticket spinlock has the same linear hand-off). A path
states it declaratively: a resource with ``lock = true`` (its servers: the lock's
instances, one per ring or one per device) and a hop there with ``per = "waiter"``, whose
cost (``lock_waiter_us``) is paid ``count`` times per I/O *per waiting thread*.

The number waiting is the solution's own: at a lock station k with :math:`m_k` instances,
visits :math:`V_k` per I/O and mean wait :math:`w_k` per visit, Little's law gives the
threads waiting :math:`W_k = X V_k w_k`, at most the station's ``lock_waiters`` (the vCPUs
in use beyond one holder per instance: a spinning vCPU runs nothing else). Each I/O then
pays :math:`c_k\,t\,W_k/m_k` more at the lock (the waiters at its own instance), with t
the hop's cost and :math:`c_k` its count. The demands and the solution are iterated from
W = 0: the map W -> W' is non-decreasing (more hand-off time, more queueing), so the
iterates rise monotonically to the smallest fixed point (the state reached from an idle
system; a collapse from which the lock never recovers is a larger one, not chosen).

Throughput can then fall as load rises: past the load where the lock saturates, each
added thread adds waiters and lengthens every hand-off. With one contender per lock
instance (one vCPU, or a lock per vCPU's ring) nothing waits and nothing changes.

Every solver of :mod:`iovmodel.solve` that returns per-visit waits applies this (closed:
exact MVA and the method of layers; open; a scenario's multiclass solution,
:mod:`.consolidation`). The simulator (:mod:`.sim`) models the mechanism itself rather
than its mean: a visit that takes the lock from a releasing holder pays the hand-off once
per thread then in line (at most ``lock_waiters``), a visit finding it free pays nothing;
the two agree within the simulator's confidence interval at saturation and within a few
per cent between (``tests/solve/test_locks.py``). The stream bound (:mod:`.streams`)
serves the lock at its zero-load time.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import ParameterError
from ..network import Network, Station

#: iterations of the waiters' fixed point, and its tolerance (waiting threads)
MAX_ITER = 500
TOL = 1e-6


def handoff_us(net: Network) -> np.ndarray:
    """Per station: the hand-off demand per I/O per waiting thread (µs; 0: not a lock with
    anyone to contend)."""
    h = np.zeros(len(net.stations))
    for v in net.route:
        if v.per == "waiter":
            h[v.station] += v.count * v.mean_us
    waiters = np.array([s.lock_waiters for s in net.stations])
    return np.where(waiters > 0, h, 0.0)


def contended(net: Network) -> bool:
    """Whether the network has a lock that someone can wait at with a hand-off cost."""
    return bool(np.any(handoff_us(net) > 0))


def with_waiters(net: Network, W: np.ndarray) -> Network:
    """``net`` with W threads waiting at its locks: each I/O pays t W / m more there."""
    h = handoff_us(net)
    stations = []
    for k, s in enumerate(net.stations):
        if h[k] > 0 and W[k] > 0:
            ns = object.__new__(Station)
            object.__setattr__(ns, "__dict__", {**s.__dict__,
                                                "demand_us": s.demand_us + h[k] * W[k] / s.servers})
            stations.append(ns)
        else:
            stations.append(s)
    new = object.__new__(Network)  # the route and every other field are the same
    new.__dict__.update(net.__dict__, stations=tuple(stations))
    return new


def solve_with_waiters(net: Network, solve: Callable[[Network], tuple]) -> tuple[Network, tuple]:
    """Iterate ``solve`` (a network -> (X per s, R, waits, util, ...)) over the waiters at
    the network's locks to their smallest fixed point; returns the network with those
    waiters' hand-off in its demands, and its solution."""
    h = handoff_us(net)
    locks = np.flatnonzero(h > 0)
    cap = np.array([s.lock_waiters for s in net.stations])
    V = np.array([s.visits for s in net.stations])
    W = np.zeros(len(net.stations))
    for _ in range(MAX_ITER):
        cur = with_waiters(net, W)
        sol = solve(cur)
        X = float(np.asarray(sol[0]).reshape(-1)[0]) / 1e6  # per µs
        waits = np.asarray(sol[2], dtype=float).reshape(-1)
        new = np.zeros_like(W)
        new[locks] = np.minimum(X * V[locks] * waits[locks], cap[locks])
        if np.all(np.abs(new - W) <= TOL * np.maximum(1.0, W)):
            return cur, sol
        W = np.maximum(new, W)  # monotone from below (guards rounding in the inner solvers)
    raise ParameterError(f"{net.name!r}: the waiters at its lock(s) "
                         f"{', '.join(net.stations[k].name for k in locks)} did not settle in "
                         f"{MAX_ITER} iterations (W = {np.round(W[locks], 3).tolist()})")
