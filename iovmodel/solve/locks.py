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
#: iterations from a warm start before starting afresh from W = 0
WARM_ITER = 8


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
    # every solution asks: answer the common case (no lock at all) without the route
    if not any(s.lock_waiters > 0 for s in net.stations):
        return False
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


def _aitken(a: float, b: float, c: float) -> float | None:
    """Aitken's limit of three rising iterates that close in geometrically (ratio in
    (0, 1)), else None."""
    d1, d2 = b - a, c - b
    if not (d1 > 0 and d2 > 0 and d2 < d1):
        return None
    r = d2 / d1
    return c + d2 * r / (1.0 - r)


def _warm_key(net: Network) -> tuple:
    return (net.name, net.population, net.rate_per_s is None, net.groups,
            tuple(s.name for s in net.stations))


def solve_with_waiters(net: Network, solve: Callable[[Network], tuple],
                       warm: dict | None = None) -> tuple[Network, tuple]:
    """Iterate ``solve`` (a network -> (X per s, R, waits, util, ...)) over the waiters at
    the network's locks to their smallest fixed point; returns the network with those
    waiters' hand-off in its demands, and its solution.

    Near saturation the map's slope nears 1 and the plain iterates creep (hundreds of
    solutions); with one lock, Aitken's limit of three iterates is tried as the next point
    and kept only if the map still rises there (it is then at or below a fixed point, and
    the rising iteration goes on from it); where it does not (the guess overshot), the
    plain iteration resumes from where it was, without further guesses.

    ``warm``, a dict the caller keeps (the fit's predictor, whose Jacobian solves the
    same networks at costs a step apart), holds the waiters last found for a network of
    this shape: the iteration starts there, without the monotone guard (it may come down
    to the fixed point), and if it has not settled in :data:`WARM_ITER` steps it starts
    afresh from W = 0. The answer agrees with the cold start's within the tolerance.
    """
    if warm is None:
        return _iterate(net, solve, None)[:2]
    key = _warm_key(net)
    start = warm.get(key)
    out = _iterate(net, solve, start) if start is not None and len(start) == len(
        net.stations) else None
    if out is None:
        out = _iterate(net, solve, None)
    warm[key] = out[2]
    return out[:2]


def _iterate(net: Network, solve: Callable[[Network], tuple], start: np.ndarray | None
             ) -> tuple[Network, tuple, np.ndarray] | None:
    """The fixed point from W = 0 (``start`` None: rising, guarded, with Aitken's guesses;
    raises if it does not settle), or from ``start`` (plain steps; None if it has not
    settled in :data:`WARM_ITER`)."""
    h = handoff_us(net)
    locks = np.flatnonzero(h > 0)
    cap = np.array([s.lock_waiters for s in net.stations])
    V = np.array([s.visits for s in net.stations])
    cold = start is None
    W = np.zeros(len(net.stations)) if cold else np.minimum(np.asarray(start, float), cap)
    k = int(locks[0]) if len(locks) == 1 else -1
    seq: list[float] = []  # the iterates of the one lock since the last guess
    fallback: np.ndarray | None = None  # the plain iterate a pending guess jumped from
    guesses = cold and k >= 0
    for _ in range(MAX_ITER if cold else WARM_ITER):
        cur = with_waiters(net, W)
        sol = solve(cur)
        X = float(np.asarray(sol[0]).reshape(-1)[0]) / 1e6  # per µs
        waits = np.asarray(sol[2], dtype=float).reshape(-1)
        new = np.zeros_like(W)
        new[locks] = np.minimum(X * V[locks] * waits[locks], cap[locks])
        if np.all(np.abs(new - W) <= TOL * np.maximum(1.0, W)):
            return cur, sol, W
        if not cold:
            W = new
            continue
        if fallback is not None:
            back, fallback = fallback, None
            if new[k] < W[k]:  # beyond the fixed point: resume the plain iteration
                W, seq, guesses = back, [], False
                continue
            seq = [W[k]]
        W = np.maximum(new, W)  # monotone from below (guards rounding in the inner solvers)
        if guesses:
            seq.append(W[k])
            guess = _aitken(*seq[-3:]) if len(seq) >= 3 else None
            if guess is not None and W[k] < guess < cap[k]:
                fallback, W = W, W.copy()
                W[k] = guess
                seq = []
    if not cold:
        return None
    raise ParameterError(f"{net.name!r}: the waiters at its lock(s) "
                         f"{', '.join(net.stations[k].name for k in locks)} did not settle in "
                         f"{MAX_ITER} iterations (W = {np.round(W[locks], 3).tolist()})")
