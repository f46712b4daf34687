"""numba kernels of the MVA solvers (imported lazily: compiled at first use, then cached).

Kernels see plain float / int arrays only; times are in whatever unit the
demands are in. ``servers`` encodes a station as 0 (delay, infinite servers)
or its server count c >= 1.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def mva_pass(D, servers, active, Z, N, log_x_comp, R_out, Q_out, X_out, Rsum_out, log_x_out):
    """One exact MVA recursion over populations 1..N for the ``active`` stations.

    Multi-server stations (servers c > 1) use the load-dependent residence time
    R_k(n) = D_k/c [1 + Q_k(n-1) + sum_{j<c-1} (c-1-j) p_k(j|n-1)] with the
    marginals p_k(j|n) = X(n) D_k / j * p_k(j-1|n-1) for 1 <= j < c, and the
    probability of an idle station from the complement network (station k
    removed): p_k(0|n) = G_{-k}(n)/G(n) = prod_{m<=n} X(m)/X_{-k}(m), kept as a
    running sum of logs. ``log_x_comp[k, m]`` holds log X_{-k}(m) (+inf when
    the complement network is empty and has no think time: then p_k(0|n) = 0).
    No probability is ever obtained by subtraction, so none can go negative.

    Writes R_out[n-1, k], Q_out[n-1, k], X_out[n-1], Rsum_out[n-1] (response time, think
    excluded) and log_x_out[n] (log X(n)).
    """
    K = D.shape[0]
    cmax = 1
    for k in range(K):
        if active[k] and servers[k] > cmax:
            cmax = servers[k]
    p = np.zeros((K, cmax))  # p[k, j] = p_k(j | n-1), j < c_k
    log_p0 = np.zeros(K)
    for k in range(K):
        p[k, 0] = 1.0  # population 0: every station idle
    q_prev = np.zeros(K)
    r = np.zeros(K)
    log_x_out[0] = 0.0
    for n in range(1, N + 1):
        rsum = 0.0
        for k in range(K):
            if not active[k]:
                r[k] = 0.0
                continue
            c = servers[k]
            if c == 0:
                r[k] = D[k]
            elif c == 1:
                r[k] = D[k] * (1.0 + q_prev[k])
            else:
                s = 0.0
                for j in range(c - 1):
                    s += (c - 1 - j) * p[k, j]
                r[k] = D[k] / c * (1.0 + q_prev[k] + s)
            rsum += r[k]
        total = Z + rsum
        Rsum_out[n - 1] = rsum
        if total > 0.0:
            x = n / total
            log_x = math.log(x)
        else:  # empty network without think time: no population can cycle
            x = math.inf
            log_x = math.inf
        X_out[n - 1] = x
        log_x_out[n] = log_x
        for k in range(K):
            q = x * r[k] if active[k] else 0.0
            if not math.isfinite(q):
                q = 0.0
            R_out[n - 1, k] = r[k]
            Q_out[n - 1, k] = q
            q_prev[k] = q
            c = servers[k]
            if active[k] and c > 1:
                for j in range(c - 1, 0, -1):  # descending: p[k, j-1] is still p(j-1|n-1)
                    p[k, j] = x * D[k] / j * p[k, j - 1]
                log_p0[k] += log_x - log_x_comp[k, n]
                p[k, 0] = math.exp(log_p0[k])
    return 0


@njit(cache=True)
def schweitzer(D, servers, Z, N, tol, max_iter, R_out, Q_out, X_out, Rsum_out):
    """Approximate MVA (Bard-Schweitzer) for populations 1..N, warm-started.

    A c-server station (code c >= 1) has residence R_k = D_k + D_k / c
    max(0, (n-1)/n Q_k - (c-1)): an arrival waits only for the customers it
    sees beyond the c-1 other servers (c = 1 is Schweitzer's D_k (1 + (n-1)/n Q_k));
    code 0 is a delay, R_k = D_k. The fixed point Q_k = X R_k(Q) is iterated from
    the solutions at n-1 and n-2 extrapolated linearly until max |dQ| <= tol * n.
    Returns the largest iteration count used (max_iter + 1 if some n did not
    converge).
    """
    K = D.shape[0]
    q = np.zeros(K)  # mean number at each station
    q1 = np.zeros(K)  # solution at n-1
    q2 = np.zeros(K)  # solution at n-2
    worst = 0
    r = np.empty(K)
    for n in range(1, N + 1):
        if n > 2:  # warm start: extrapolate linearly from the last two populations
            for k in range(K):
                q[k] = max(2.0 * q1[k] - q2[k], 0.0)
        elif n == 2:
            for k in range(K):
                q[k] = 2.0 * q1[k]
        f = (n - 1.0) / n
        it = 0
        x = 0.0
        while True:
            total = Z
            for k in range(K):
                c = servers[k]
                if c == 0:
                    r[k] = D[k]
                else:
                    r[k] = D[k] + D[k] / c * max(f * q[k] - (c - 1.0), 0.0)
                total += r[k]
            x = n / total
            diff = 0.0
            for k in range(K):
                qn = x * r[k]
                d = abs(qn - q[k])
                if d > diff:
                    diff = d
                q[k] = qn
            it += 1
            if diff <= tol * n or it > max_iter:
                break
        if it > worst:
            worst = it
        for k in range(K):
            q2[k] = q1[k]
            q1[k] = q[k]
        X_out[n - 1] = x
        rsum = 0.0
        for k in range(K):
            R_out[n - 1, k] = r[k]
            Q_out[n - 1, k] = x * r[k]
            rsum += r[k]
        Rsum_out[n - 1] = rsum
    return worst
