"""Textbook closed forms the simulator is checked against, written from the books.

Independent of iovmodel.solve.analytic on purpose: a bug there must not hide one here.
Time unit: whatever the caller uses (the tests use µs); rates are per that unit.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq

from iovmodel.network import Network, Visit, aggregate


def mm1_w(lam: float, mu: float) -> float:
    """M/M/1 mean sojourn W = 1 / (mu - lam).

    Gross, Shortle, Thompson & Harris, *Fundamentals of Queueing Theory*, 4th ed., s.2.2 (eq. 2.26).
    """
    return 1.0 / (mu - lam)


def mg1_w(lam: float, es: float, es2: float) -> float:
    """M/G/1 mean sojourn by Pollaczek-Khinchine: W = E[S] + lam E[S^2] / (2 (1 - rho)).

    Kleinrock, *Queueing Systems* Vol. 1 (1975), s.5.7 eq. 5.105; Gross et al. s.6.1.1.
    """
    rho = lam * es
    return es + lam * es2 / (2.0 * (1.0 - rho))


def md1_w(lam: float, mu: float) -> float:
    """M/D/1: P-K with E[S^2] = 1/mu^2, i.e. W = 1/mu + rho / (2 mu (1 - rho)). Gross et al. s.6.1.1."""
    return mg1_w(lam, 1.0 / mu, 1.0 / mu**2)


def mmc_w(lam: float, mu: float, c: int) -> float:
    """M/M/c mean sojourn with Erlang's C formula.

    C(c, a) = [a^c / c! / (1 - rho)] / [sum_{k<c} a^k / k! + a^c / c! / (1 - rho)],
    Wq = C / (c mu - lam), W = Wq + 1/mu; a = lam/mu, rho = a/c.
    Gross et al. s.2.3 (eqs. 2.33-2.36); Kleinrock Vol. 1 s.3.5.
    """
    a = lam / mu
    rho = a / c
    top = a**c / math.factorial(c) / (1.0 - rho)
    bottom = sum(a**k / math.factorial(k) for k in range(c)) + top
    return top / bottom / (c * mu - lam) + 1.0 / mu


def tandem_w(lam: float, means: list[float]) -> float:
    """Open Jackson tandem of single-server exponential stations: sum of M/M/1 sojourns.

    Jackson (1957), "Networks of waiting lines", Oper. Res. 5; Gross et al. s.4.1 (Burke's theorem).
    """
    return sum(mm1_w(lam, 1.0 / m) for m in means)


def kelly_w(lam: float, visits: int, mean: float) -> float:
    """One FIFO exponential station visited ``visits`` times per customer (deterministic route).

    Kelly networks have product form when a FIFO station's exponential rate does not depend
    on the visit; each visit sees an M/M/1 station with total rate visits x lam, so a
    customer spends visits x mean / (1 - rho), rho = visits x lam x mean.
    Kelly, *Reversibility and Stochastic Networks* (1979), s.3.1, Theorem 3.1.
    """
    rho = visits * lam * mean
    return visits * mean / (1.0 - rho)


def gi_m1_erlang_w(k: int, rate: float, mu: float) -> float:
    """GI/M/1 mean sojourn with Erlang-k interarrival times of total rate ``rate``.

    W = 1 / (mu (1 - sigma)), sigma the root in (0, 1) of sigma = A*(mu (1 - sigma)),
    A*(s) = (k rate / (k rate + s))^k the Laplace-Stieltjes transform of Erlang-k.
    Gross et al. s.6.3 (eq. 6.43); Kleinrock Vol. 1 s.6.4.
    """
    kr = k * rate

    def f(s: float) -> float:
        return (kr / (kr + mu * (1.0 - s))) ** k - s

    sigma = brentq(f, 1e-12, 1.0 - 1e-12)
    return 1.0 / (mu * (1.0 - sigma))


def mva(demands: list[float], n: int, think: float = 0.0) -> tuple[float, float]:
    """Exact MVA of a closed single-class network of single-server FIFO (queueing) stations.

    R_k(n) = D_k (1 + Q_k(n-1)), X(n) = n / (Z + sum_k R_k(n)), Q_k(n) = X(n) R_k(n).
    Reiser & Lavenberg (1980), J. ACM 27; Lazowska et al., *Quantitative System
    Performance* (1984), s.6.3, Algorithm 6.1. Returns (X, R) at population n.
    """
    q = np.zeros(len(demands))
    d = np.asarray(demands, dtype=float)
    x = r = 0.0
    for m in range(1, n + 1):
        rk = d * (1.0 + q)
        r = float(rk.sum())
        x = m / (think + r)
        q = x * rk
    return x, r


def network(name: str, stations: list[tuple[str, float]], route: list[tuple],
            *, rate_per_s: float | None = None, population: int | None = None,
            think_us: float = 0.0, batch: int = 1) -> Network:
    """Build a Network by hand: stations (name, servers); route rows
    (hop, station index, mean_us[, scv[, count[, per[, switch]]]])."""
    visits = []
    for row in route:
        hop, st, mean, *rest = row
        scv = rest[0] if len(rest) > 0 else 1.0
        count = rest[1] if len(rest) > 1 else 1.0
        per = rest[2] if len(rest) > 2 else "io"
        switch = rest[3] if len(rest) > 3 else None
        visits.append(Visit(hop, st, mean, scv, count, per, switch, poll=switch == "poll"))
    visits = tuple(visits)
    names = [s[0] for s in stations]
    servers = [s[1] for s in stations]
    sts = aggregate(visits, names, servers, [True] * len(names), batch)
    return Network(name, sts, visits, batch=batch, rate_per_s=rate_per_s,
                   population=population, think_us=think_us)
