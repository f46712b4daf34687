"""Independent reference solutions used by the analytic tests.

None of this imports iovmodel: these are different algorithms (brute-force
Markov chains, Buzen's convolution in logs, the M/G/1 embedded chain), so an
agreement with iovmodel's closed forms and MVA is a genuine cross-check.
"""

from __future__ import annotations

import itertools
import math

import numpy as np


def ctmc_stationary(Q: np.ndarray) -> np.ndarray:
    """Stationary distribution of a finite CTMC generator (rows sum to 0)."""
    # pi Q = 0 with one balance equation replaced by sum(pi) = 1, solved directly
    n = Q.shape[0]
    A = Q.T.copy()
    A[-1, :] = 1.0
    b = np.zeros(n)
    b[-1] = 1.0
    return np.linalg.solve(A, b)


def birth_death_mmc(lam: float, mu: float, c: int, nmax: int) -> dict[str, float]:
    """M/M/c by its birth-death chain truncated at ``nmax`` (solved as a linear system)."""
    Q = np.zeros((nmax + 1, nmax + 1))
    for n in range(nmax + 1):
        if n < nmax:
            Q[n, n + 1] = lam
        if n > 0:
            Q[n, n - 1] = min(n, c) * mu
        Q[n, n] = -Q[n].sum()
    pi = ctmc_stationary(Q)
    n = np.arange(nmax + 1)
    L = float(pi @ n)
    Lq = float(pi @ np.maximum(n - c, 0))
    return {"L": L, "Lq": Lq, "p_wait": float(pi[c:].sum()), "p0": float(pi[0]), "pi": pi}


def mph1(lam: float, alpha: np.ndarray, T: np.ndarray, nmax: int) -> dict[str, float]:
    """M/PH/1 queue (phase-type service with initial vector ``alpha``, sub-generator ``T``)
    as a brute-force CTMC on (number in system, service phase), truncated at ``nmax``."""
    m = len(alpha)
    t0 = -T.sum(axis=1)  # exit rates

    def idx(n: int, ph: int) -> int:
        return 0 if n == 0 else 1 + (n - 1) * m + ph

    size = 1 + nmax * m
    Q = np.zeros((size, size))
    for ph in range(m):  # idle -> arrival starts service in phase ph
        Q[0, idx(1, ph)] += lam * alpha[ph]
    for n in range(1, nmax + 1):
        for ph in range(m):
            i = idx(n, ph)
            if n < nmax:
                Q[i, idx(n + 1, ph)] += lam
            for ph2 in range(m):
                if ph2 != ph:
                    Q[i, idx(n, ph2)] += T[ph, ph2]
            if n == 1:
                Q[i, 0] += t0[ph]
            else:
                for ph2 in range(m):
                    Q[i, idx(n - 1, ph2)] += t0[ph] * alpha[ph2]
    np.fill_diagonal(Q, 0.0)
    np.fill_diagonal(Q, -Q.sum(axis=1))
    pi = ctmc_stationary(Q)
    L = sum(n * pi[idx(n, 0):idx(n, 0) + m].sum() for n in range(1, nmax + 1))
    return {"L": float(L), "p0": float(pi[0])}


def erlang_ph(k: int, mean: float) -> tuple[np.ndarray, np.ndarray]:
    """Erlang-k distribution (scv = 1/k) as a phase-type pair."""
    r = k / mean
    T = np.diag(np.full(k, -r)) + np.diag(np.full(k - 1, r), 1)
    alpha = np.zeros(k)
    alpha[0] = 1.0
    return alpha, T


def hyperexp_ph(p: float, r1: float, r2: float) -> tuple[np.ndarray, np.ndarray]:
    """Two-branch hyperexponential as a phase-type pair."""
    return np.array([p, 1.0 - p]), np.diag([-r1, -r2])


def md1_embedded_chain(rho: float, nmax: int = 400) -> float:
    """Mean number in an M/D/1 system from the embedded chain at departures.

    Arrivals during one (unit) service are Poisson(rho); the departure-epoch
    distribution equals the time-average one for M/G/1 (Kleinrock vol. 1,
    section 5.5), so L = sum j pi_j.
    """
    a = np.array([math.exp(-rho + j * math.log(rho) - math.lgamma(j + 1)) for j in range(nmax)])
    P = np.zeros((nmax, nmax))
    for i in range(nmax):
        base = max(i - 1, 0)
        for j in range(base, nmax):
            P[i, j] = a[j - base]
        P[i, -1] += 1.0 - P[i].sum()  # truncation: lump the tail in the last state
    return float(ctmc_stationary(P - np.eye(nmax)) @ np.arange(nmax))


def closed_ctmc(D, servers, Z: float, N: int) -> dict[str, np.ndarray | float]:
    """A cyclic closed network solved as a brute-force CTMC.

    Stations 0..K-1 in a cycle (one visit each, so demand = mean service time),
    then the think station (infinite servers, mean ``Z``) when Z > 0.
    ``servers[k]`` is an int or ``math.inf``. Returns X(N), R(N), Q_k(N).
    """
    D = list(map(float, D))
    c = list(servers)
    if Z > 0:
        D.append(float(Z))
        c.append(math.inf)
    K = len(D)
    states = [s for s in itertools.product(range(N + 1), repeat=K) if sum(s) == N]
    index = {s: i for i, s in enumerate(states)}
    Q = np.zeros((len(states), len(states)))
    for s, i in index.items():
        for k in range(K):
            if s[k] == 0:
                continue
            rate = min(s[k], c[k]) / D[k]
            t = list(s)
            t[k] -= 1
            t[(k + 1) % K] += 1
            Q[i, index[tuple(t)]] += rate
    np.fill_diagonal(Q, -Q.sum(axis=1))
    pi = ctmc_stationary(Q)
    S = np.array(states, dtype=float)
    X = float(sum(pi[i] * min(s[0], c[0]) / D[0] for s, i in index.items()))
    Qk = pi @ S
    n_queue = len(servers)
    R = N / X - Z
    return {"X": X, "R": R, "Q": Qk[:n_queue]}


def _log_factor(d: float, c: float, N: int) -> np.ndarray:
    """log f(j), j = 0..N, with f(j) = d^j / prod_{i<=j} min(i, c)."""
    j = np.arange(N + 1, dtype=float)
    m = np.minimum(j, c)
    m[0] = 1.0
    return j * math.log(d) - np.cumsum(np.log(m))


def log_convolution(D, servers, Z: float, N: int) -> dict[str, np.ndarray]:
    """Buzen's convolution algorithm with load-dependent stations, in logs.

    G(n) = sum over states of prod_k f_k(n_k), f_k(j) = D_k^j / prod_{i<=j} min(i, c_k)
    (Buzen 1973; Lazowska et al. 1984, section 8.2). Returns, for n = 1..N,
    X(n) = G(n-1)/G(n) and the mean queue lengths Q_k(n) = sum_j j p_k(j|n),
    p_k(j|n) = f_k(j) G_{-k}(n-j) / G(n). O(N^2 K^2): for modest N only.
    """
    facs = [_log_factor(d, c, N) for d, c in zip(D, servers, strict=True) if d > 0]
    keep = [k for k, d in enumerate(D) if d > 0]
    if Z > 0:
        z = np.arange(N + 1, dtype=float)
        think = z * math.log(Z) - np.array([math.lgamma(v + 1) for v in z])
    else:
        think = np.full(N + 1, -np.inf)
        think[0] = 0.0

    def conv(a, b):
        out = np.full(N + 1, -np.inf)
        for n in range(N + 1):
            out[n] = np.logaddexp.reduce(a[: n + 1] + b[n::-1])
        return out

    def total(skip=None):
        g = think
        for i, f in enumerate(facs):
            if i != skip:
                g = conv(g, f)
        return g

    g = total()
    n = np.arange(1, N + 1)
    X = np.exp(g[:-1] - g[1:])
    Qk = np.zeros((N, len(D)))
    for i, k in enumerate(keep):
        gk = total(skip=i)
        for m in n:
            j = np.arange(m + 1)
            logp = facs[i][j] + gk[m - j] - g[m]
            Qk[m - 1, k] = float(np.exp(logp) @ j)
    return {"X": X, "Q": Qk}


def log_convolution_x(D, servers, Z: float, N: int) -> np.ndarray:
    """X(n), n = 1..N, by the convolution algorithm in O(N sum c_k) (log domain).

    Each station is folded in by a recursion instead of a full convolution:
    for the tail j >= c of a c-server station, T(n) = (D/c) T(n-1) + f(c) G(n-c).
    Think time is the initial G(n) = Z^n / n!. Fast enough for N ~ 10^4.
    """
    z = np.arange(N + 1, dtype=float)
    if Z > 0:
        g = z * math.log(Z) - np.array([math.lgamma(v + 1) for v in z])
    else:
        g = np.full(N + 1, -np.inf)
        g[0] = 0.0
    for d, c in zip(D, servers, strict=True):
        if d <= 0:
            continue
        if math.isinf(c) or c >= N:
            f = _log_factor(d, math.inf, N)
            new = np.array([np.logaddexp.reduce(g[: n + 1][::-1] + f[: n + 1])
                            for n in range(N + 1)])
            g = new
            continue
        c = int(c)
        f = _log_factor(d, c, N)
        ld = math.log(d / c)
        new = np.full(N + 1, -np.inf)
        tail = -np.inf
        for n in range(N + 1):
            head = np.logaddexp.reduce(f[: min(n, c - 1) + 1] + g[n::-1][: min(n, c - 1) + 1])
            if n >= c:
                tail = np.logaddexp(tail + ld, f[c] + g[n - c])
            new[n] = np.logaddexp(head, tail)
        g = new
    return np.exp(g[:-1] - g[1:])


def textbook_multiserver_mva(D, servers, Z: float, N: int) -> np.ndarray:
    """The textbook multi-server MVA that gets p_k(0|n) by subtraction (for comparison).

    p_k(0|n) = 1 - [X D_k + sum_{j=1}^{c-1} (c-j) p_k(j|n)] / c
    (Menascé, Almeida & Dowdy 2004, ch. 13). Known to be unstable for large n.
    """
    K = len(D)
    q = np.zeros(K)
    p = [np.r_[1.0, np.zeros(int(c) - 1)] if (not math.isinf(c) and c > 1) else None
         for c in servers]
    out = []
    for n in range(1, N + 1):
        R = np.zeros(K)
        for k in range(K):
            c = servers[k]
            if math.isinf(c):
                R[k] = D[k]
            elif c == 1:
                R[k] = D[k] * (1 + q[k])
            else:
                c = int(c)
                R[k] = D[k] / c * (1 + q[k] + sum((c - 1 - j) * p[k][j] for j in range(c - 1)))
        x = n / (Z + R.sum())
        out.append(x)
        q = x * R
        for k in range(K):
            if p[k] is not None:
                c = int(servers[k])
                new = np.zeros(c)
                for j in range(1, c):
                    new[j] = x * D[k] / j * p[k][j - 1]
                new[0] = 1 - (x * D[k] + sum((c - j) * new[j] for j in range(1, c))) / c
                p[k] = new
    return np.array(out)
