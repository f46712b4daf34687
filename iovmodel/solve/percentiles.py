"""Latency percentiles of an analytic solution: a gamma with the model's mean and variance.

The response time is taken as gamma distributed with the model's mean R and a variance
summed over the route: each hop's service variance (``scv`` x mean², times its count per
I/O) plus, per visit to a queueing station, the variance of its wait
(:func:`latency_variance`: at one server the sum of a geometric number of services found
ahead, exact for M/M/1, whose sojourn time is exponential with mean :math:`1/(\\mu-\\lambda)`,
Kleinrock 1975, vol. 1, section 3.2; at c servers Erlang-C waiting; in a closed network
bounded by the N - 1 other requests).  Against the simulator on the QEMU paths it is within
12 % from one request in flight to saturation (tests/fit); near an open load's capacity it
is coarser (up to 2x on the median).
"""

from __future__ import annotations

import numpy as np

from ..network import Network


def _erlang_c(c: float, rho: float) -> float:
    """Probability of waiting in M/M/c at per-server utilisation rho (Erlang C)."""
    if rho <= 0:
        return 0.0
    if rho >= 1:
        return 1.0
    if c <= 1:
        return rho
    a = c * rho
    b = 1.0
    for k in range(1, int(c) + 1):  # Erlang B by its stable recursion
        b = a * b / (k + a * b)
    return b / (1.0 - rho * (1.0 - b))


def latency_variance(net: Network, waits: np.ndarray, util: np.ndarray, *,
                     population: int | None = None) -> float:
    """Variance of the response time (µs²) under the gamma approximation.

    Service: each visit's ``scv * mean²`` times its count per I/O.  Waiting, per
    visit to a queueing station: at one server, the sum of the K services found
    ahead, ``Var W = E[K] Var S + Var K E[S]²`` with ``E[K] = Wq / E[S]`` and K
    geometric, ``Var K = E[K] (1 + E[K])`` (exact for M/M/1); at c servers, 0 with
    probability 1 - pi and exponential with mean ``Wq/pi`` otherwise (pi: Erlang
    C).  In a closed network of N requests no more than N - 1 can be ahead, so the
    geometric part shrinks by ``1 - E[K]/(N - 1)`` (at saturation the wait is
    nearly fixed).

    Parameters
    ----------
    net : Network
        The solved network.
    waits : ndarray
        Mean wait per visit at each station (µs), as the solvers return it.
    util : ndarray
        Utilisation per server at each station.
    population : int, optional
        Requests in flight of a closed workload, when ``waits`` were solved at another
        population than the network was built for (one MVA pass serves several).

    Returns
    -------
    float
        Variance of the response time, µs².
    """
    var = 0.0
    for v in net.route:
        var += v.per_io(net.batch) * v.scv * v.mean_us**2
    n_closed = None if net.is_open else (net.population if population is None else population)
    for i, s in enumerate(net.stations):
        wq = float(waits[i])
        if s.is_delay or wq <= 0 or s.visits <= 0:
            continue
        es = s.service_us / s.servers  # services ahead complete at c / E[S]
        m = wq / es if es > 0 else 0.0
        shrink = 1.0 if n_closed is None or n_closed < 2 else \
            min(max(1.0 - m / (n_closed - 1), 0.0), 1.0)
        if s.servers <= 1:
            var += s.visits * (m * s.scv * es * es + m * (1.0 + m) * es * es * shrink)
        else:
            pi = max(_erlang_c(s.servers, float(util[i])), 1e-9)
            var += s.visits * max(2.0 * wq * wq / pi - wq * wq, 0.0) * shrink
    return var


def latency_quantile(mean_us: float, var_us2: float, q: float) -> float:
    """The q-quantile (0 < q < 1) of a gamma distribution with this mean (µs) and variance (µs²)."""
    if mean_us <= 0:
        return 0.0
    if var_us2 <= 1e-12 * mean_us**2:
        return mean_us
    k = mean_us**2 / var_us2
    # scipy loads on first use, not at `import iovmodel`; stats.gamma.ppf computes exactly
    # this (its _ppf times the scale) after some 200 µs of argument handling, and importing
    # scipy.stats took seconds of a first fit
    from scipy import special

    return float(special.gammaincinv(k, q)) * (var_us2 / mean_us)


def percentile_key(pct: float) -> str:
    """The key of a percentile in ``percentiles_us`` (``99.9`` -> ``"p99.9"``), as the simulator's."""
    return f"p{pct:g}"
