"""The open solution: each station as M/G/1 (Pollaczek-Khinchine) or M/G/c (Allen-Cunneen).

Open workloads solve the open network station by station, taking each station's visits
as Poisson; delay stations do not queue.

Accuracy: the open solution is exact for a chain of single-visit M/M/1 stations; where
one request visits a station several times with unequal costs the Poisson assumption
overestimates the wait. At bottleneck utilisation <= 0.8 the simulator's mean latency
stays within 15 % of it at the default costs (measured on every catalog path at batch 1
and 4: -12.4 % to +0.1 %; ``tests/test_solvers_agree.py``). With costs scaled by 1/2 to 2
a bottleneck visited with unequal costs (a main loop, a polling core) is overestimated by
up to +22 % at 50 % load and +41 % at 80 % (the README's "Limits worth knowing").
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import UnstableError
from ..network import Network
from .analytic.single import _ERLANG_RECURSION_MAX_C, mgc_wait
from .analytic.single import mgc as _mgc
from .holding import held, lock_utilisation, route_waits, solve_held_open
from .layered import solve_open_layered
from .locks import contended, solve_with_waiters


def solve_open(net: Network, rate_per_s: float | np.ndarray, *,
               nan_policy: str = "raise") -> tuple[Any, np.ndarray, np.ndarray]:
    """Open-network solution at one rate or an array of rates (I/O per second).

    Returns latency (µs), per-visit wait (µs) and utilisation per station; with
    ``nan_policy="nan"`` points at or beyond a capacity give NaN instead of raising.
    Host cores and an in-flight limit go through :mod:`iovmodel.solve.layered`; a vCPU held
    while QEMU emulates its exit, through :mod:`iovmodel.solve.holding`.
    """
    if held(net):  # the mutex's layer at each rate (.holding)
        return _per_rate(net, rate_per_s, nan_policy, _open_held)
    return _solve_open(net, rate_per_s, nan_policy)


def _per_rate(net: Network, rate_per_s, nan_policy: str, one) -> tuple:
    """``one(net, rate, nan_policy)`` at each rate (a fixed point per rate), stacked as the
    vectorised solution is."""
    rates = np.atleast_1d(np.asarray(rate_per_s, dtype=float))
    out = [one(net, float(r), nan_policy) for r in rates]
    if np.ndim(rate_per_s) == 0:
        return out[0]
    return (np.array([o[0] for o in out]), np.array([o[1] for o in out]),
            np.array([o[2] for o in out]))


def _open_held(net: Network, rate: float, nan_policy: str) -> tuple:
    """One rate of a network whose vCPU is held under the mutex (:mod:`.holding`)."""
    try:
        net.check_stable(rate)  # the vCPU's occupancy at least: names the resource
        _, (R, waits, util), g = solve_held_open(
            net, rate, lambda n: _solve_open(n, rate, "raise"))
    except UnstableError:
        if nan_policy == "raise":
            raise
        K = len(net.stations)
        return math.nan, np.full(K, np.nan), np.full(K, np.nan)
    return R, route_waits(net, g, waits), lock_utilisation(net, util, rate)


def _solve_open(net: Network, rate_per_s, nan_policy: str):
    """:func:`solve_open` of a network in which nothing holds a second station."""
    if contended(net):  # a lock's hand-off grows with its waiters: one fixed point per rate
        return _per_rate(net, rate_per_s, nan_policy, _open_waiters)
    return _open_plain(net, rate_per_s, nan_policy)


def _open_plain(net: Network, rate_per_s, nan_policy: str):
    if math.isfinite(net.cores) or math.isfinite(net.inflight):
        return _open_layered(net, rate_per_s, nan_policy)
    return _open(net, rate_per_s, nan_policy, None)


def _open_waiters(net: Network, rate: float, nan_policy: str) -> tuple:
    """One rate of a network with a contended lock (:mod:`.locks`)."""
    def solve(n: Network) -> tuple:
        return (rate, *_open_plain(n, rate, "raise"))

    try:
        _, (_, R, waits, util) = solve_with_waiters(net, solve)
    except UnstableError:  # unstable at this rate (with or without the waiters' hand-off)
        if nan_policy == "raise":
            raise
        K = len(net.stations)
        return math.nan, np.full(K, np.nan), np.full(K, np.nan)
    return R, waits, util


def _open_layered(net: Network, rate_per_s, nan_policy: str):
    rates = np.atleast_1d(np.asarray(rate_per_s, dtype=float))
    K = len(net.stations)
    R = np.full(rates.shape, np.nan)
    waits = np.full((rates.size, K), np.nan)
    util = np.full((rates.size, K), np.nan)
    for i, r in enumerate(rates):
        try:
            R[i], waits[i], util[i], _ = solve_open_layered(
                net, float(r), lambda n, x, f: _open(n, x, "raise", f))
        except UnstableError:
            if nan_policy == "raise":
                raise
    if np.ndim(rate_per_s) == 0:
        return float(R[0]), waits[0], util[0]
    return R, waits, util


def _open(net: Network, rate_per_s, nan_policy: str, stretch: np.ndarray | None):
    if np.ndim(rate_per_s) == 0:
        got = _open_one(net, float(rate_per_s), nan_policy, stretch)
        if got is not None:
            return got
    rates = np.atleast_1d(np.asarray(rate_per_s, dtype=float))
    lam = rates / 1e6  # per µs
    K = len(net.stations)
    R = np.zeros(rates.shape)
    waits = np.zeros((rates.size, K))
    util = np.zeros((rates.size, K))
    bad = np.zeros(rates.shape, dtype=bool)
    for i, s in enumerate(net.stations):
        if s.demand_us <= 0 or s.visits <= 0:
            continue
        f = 1.0 if stretch is None else float(stretch[i])  # waiting for a host core
        if s.is_delay:
            util[:, i] = lam * s.demand_us  # mean busy servers
            R += s.demand_us
            continue
        inst = net.instances(s)  # a private station: each instance sees its group's share
        rho = lam * s.demand_us * f / (s.servers * inst)
        over = rho >= 1
        if over.any() and nan_policy == "raise":
            net.check_stable(float(rates[int(np.flatnonzero(over)[0])]))  # raises, one wording
        bad |= over
        ok = np.where(over, 0.0, lam)
        q = _mgc(ok * s.visits / inst, s.service_us * f, s.scv, int(s.servers), name=s.name)
        waits[:, i] = np.where(over, np.nan, q.Wq)
        util[:, i] = rho
        R = R + np.where(over, np.nan, s.visits * np.asarray(q.W))
    if bad.any():
        R = np.where(bad, np.nan, R)
    if np.ndim(rate_per_s) == 0:
        return float(R[0]), waits[0], util[0]
    return R, waits, util


def _open_one(net: Network, rate_per_s: float, nan_policy: str,
              stretch: np.ndarray | None) -> tuple | None:
    """:func:`_open` at one rate in plain numbers (:func:`mgc_wait`: the same values); None
    where it does not apply (a station beyond the Erlang-B recursion's servers)."""
    lam = rate_per_s / 1e6  # per µs
    K = len(net.stations)
    R = 0.0
    waits = np.zeros(K)
    util = np.zeros(K)
    over = False
    for i, s in enumerate(net.stations):
        if s.demand_us <= 0 or s.visits <= 0:
            continue
        f = 1.0 if stretch is None else float(stretch[i])  # waiting for a host core
        if s.is_delay:
            util[i] = lam * s.demand_us  # mean busy servers
            R += s.demand_us
            continue
        if s.servers > _ERLANG_RECURSION_MAX_C or s.servers != int(s.servers):
            return None
        inst = net.instances(s)  # a private station: each instance sees its group's share
        rho = lam * s.demand_us * f / (s.servers * inst)
        util[i] = rho
        if rho >= 1:
            if nan_policy == "raise":
                net.check_stable(rate_per_s)  # raises, one wording
            over = True
            waits[i] = math.nan
            continue
        Wq, W = mgc_wait(lam * s.visits / inst, s.service_us * f, s.scv, int(s.servers))
        waits[i] = Wq
        R += s.visits * W
    return (math.nan if over else R), waits, util
