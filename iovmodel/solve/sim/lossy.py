"""Simulated floods with a finite ring: packets that find it full are dropped.

An open network whose FIFO stations are each visited in one contiguous stretch of the route
(the visits of a station merged into one step per packet: a per-batch hop is carried with
probability ``count / batch``, as the event loop's amortised batching) is a tandem of
queues: every station's arrivals are the previous step's departures. For a one-server FIFO
station Lindley's recursion gives each packet's departure; at the ring's station (the
bottleneck, as :mod:`iovmodel.solve.packets` takes it) a packet that arrives while ``K``
accepted packets are still there (waiting or in service) is dropped: with FIFO departures in
acceptance order that is exactly when the K-th last accepted packet has not left yet. Delay
stations add their service (packets may overtake there; the next queue serves them in the
order they reach it). Each hop's time is gamma with its mean and scv (exponential at
scv 1, deterministic at 0), Poisson arrivals at the offered rate.

This checks the analytic drop model (an M/M/1/K station at the bottleneck, the rest solved
at the delivered rate) the way the rest of the simulator checks the open solution.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import pandas as pd

from ...errors import ParameterError
from ...network import Network
from .stats import t_interval


@numba.njit(cache=True)
def _lossy_fifo(t, s, K, d, accepted):  # pragma: no cover - compiled
    """Lindley with a system capacity K: departures d of accepted arrivals t (sorted)."""
    n = t.size
    ring = np.zeros(K)  # departure times of the last K accepted packets
    last = 0.0
    m = 0
    for i in range(n):
        if m >= K and ring[m % K] > t[i]:
            accepted[i] = False
            d[i] = np.nan
            continue
        accepted[i] = True
        start = t[i] if t[i] > last else last
        last = start + s[i]
        d[i] = last
        ring[m % K] = last
        m += 1


@numba.njit(cache=True)
def _fifo(t, s, d):  # pragma: no cover - compiled
    last = 0.0
    for i in range(t.size):
        start = t[i] if t[i] > last else last
        last = start + s[i]
        d[i] = last


def _draw(gen: np.random.Generator, mean: float, scv: float, n: int) -> np.ndarray:
    if mean <= 0:
        return np.zeros(n)
    if scv <= 0:
        return np.full(n, mean)
    k = 1.0 / scv
    return gen.gamma(k, mean / k, n)


def _steps(net: Network) -> list[tuple[int, list[int]]]:
    """The route as (station, visit indices) steps, one per contiguous stretch of a station;
    a FIFO station in two stretches is not a tandem queue (ParameterError)."""
    steps: list[tuple[int, list[int]]] = []
    for i, v in enumerate(net.route):
        if steps and steps[-1][0] == v.station:
            steps[-1][1].append(i)
        else:
            steps.append((v.station, [i]))
    seen: set[int] = set()
    for k, _ in steps:
        s = net.stations[k]
        if not s.is_delay and k in seen:
            raise ParameterError(f"simulating drops needs each queueing station visited in one "
                                 f"stretch of the route; {s.name!r} of {net.name!r} is visited "
                                 "again later (use analyze)")
        if not s.is_delay and s.servers != 1:
            raise ParameterError(f"simulating drops needs one-server stations; {s.name!r} of "
                                 f"{net.name!r} has {s.servers:g} (use analyze)")
        seen.add(k)
    return steps


def simulate_lossy(net: Network, rate_per_s: float, *, requests: int = 100_000,
                   replications: int = 8, seed: int | np.random.SeedSequence | None = None,
                   warmup: float = 0.1) -> dict:
    """Delivered and dropped packets per second, latency of the delivered (µs), each a mean
    over replications with its 95 % t interval, and the dropping station.

    ``requests`` packets are offered per replication; the first ``warmup`` fraction of them
    (by arrival) is left out of every statistic.
    """
    if net.ring is None:
        raise ParameterError(f"network {net.name!r} has no finite ring (a lossy Traffic: a "
                             "flood or UDP)")
    _, K, _ = net.ring
    steps = _steps(net)
    k_drop = max((i for i, s in enumerate(net.stations) if not s.is_delay and s.demand_us > 0),
                 key=lambda i: net.stations[i].demand_us / net.stations[i].servers)
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    lam = rate_per_s / 1e6
    rows = []
    for rep, child in enumerate(root.spawn(replications)):
        gen = np.random.Generator(np.random.PCG64(child))
        a0 = np.cumsum(gen.exponential(1.0 / lam, requests))
        t = a0.copy()
        alive = np.ones(requests, dtype=np.bool_)
        for k, visits in steps:
            idx = np.flatnonzero(alive)
            idx = idx[np.argsort(t[idx], kind="stable")]  # FIFO: in order of arrival here
            s = np.zeros(idx.size)
            for i in visits:
                v = net.route[i]
                n_i = v.per_io(net.batch)
                whole, frac = int(math.floor(n_i)), n_i - math.floor(n_i)
                for _ in range(whole):
                    s += _draw(gen, v.mean_us, v.scv, s.size)
                if frac > 0:
                    s += _draw(gen, v.mean_us, v.scv, s.size) * (gen.random(s.size) < frac)
            st = net.stations[k]
            ti = np.ascontiguousarray(t[idx])
            d = np.empty_like(ti)
            if st.is_delay:
                t[idx] = ti + s
            elif k == k_drop:
                acc = np.empty(ti.size, dtype=np.bool_)
                _lossy_fifo(ti, s, int(K), d, acc)
                alive[idx[~acc]] = False
                t[idx[acc]] = d[acc]
            else:
                _fifo(ti, s, d)
                t[idx] = d
        cut = int(warmup * requests)
        win = slice(cut, requests)
        span = (a0[-1] - a0[cut]) / 1e6
        ok = alive[win]
        rows.append({"replication": rep,
                     "delivered_per_s": ok.sum() / span,
                     "dropped_per_s": (~ok).sum() / span,
                     "latency_us": float((t[win][ok] - a0[win][ok]).mean())})
    table = pd.DataFrame(rows)
    out = {"replications": table, "drops_at": net.stations[k_drop].name}
    for c in ("delivered_per_s", "dropped_per_s", "latency_us"):
        out[c] = float(table[c].mean())
        out[c + "_ci"] = t_interval(table[c].to_numpy())
    return out
