"""numba kernels of multiclass MVA (imported, and compiled or loaded from cache, on first use)."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def exact_mc(D, N, Z, code):
    """Exact multiclass MVA (Reiser & Lavenberg) over all population vectors <= N.

    ``code[k]``: 0 delay station, m >= 1 servers. Population vectors are walked
    in mixed-radix order, so n - e_c always comes before n. Returns the class
    throughputs X (C,) and residence times Rk (C, K) at N.
    """
    C, K = D.shape
    stride = np.ones(C, dtype=np.int64)
    for c in range(1, C):
        stride[c] = stride[c - 1] * (N[c - 1] + 1)
    S = stride[C - 1] * (N[C - 1] + 1)
    mmax = 1
    for k in range(K):
        if code[k] > mmax:
            mmax = code[k]
    Qt = np.zeros((S, K))  # total queue at each station
    P = np.zeros((S, K, mmax))  # marginal p_k(j | n), j < m (multi-server stations only)
    for k in range(K):
        P[0, k, 0] = 1.0
    n = np.zeros(C, dtype=np.int64)
    X = np.zeros(C)
    R = np.zeros((C, K))
    for idx in range(1, S):
        # next population vector in mixed radix
        c = 0
        while True:
            n[c] += 1
            if n[c] <= N[c]:
                break
            n[c] = 0
            c += 1
        for c in range(C):
            X[c] = 0.0
            if n[c] == 0:
                for k in range(K):
                    R[c, k] = 0.0
                continue
            prev = idx - stride[c]
            tot = Z[c]
            for k in range(K):
                d = D[c, k]
                m = code[k]
                if d == 0.0:
                    r = 0.0
                elif m == 0:
                    r = d
                elif m == 1:
                    r = d * (1.0 + Qt[prev, k])
                else:
                    extra = 0.0
                    for j in range(m - 1):
                        extra += (m - 1 - j) * P[prev, k, j]
                    r = d / m * (1.0 + Qt[prev, k] + extra)
                R[c, k] = r
                tot += r
            X[c] = n[c] / tot
        for k in range(K):
            q = 0.0
            for c in range(C):
                q += X[c] * R[c, k]
            Qt[idx, k] = q
            m = code[k]
            if m > 1:
                util = 0.0
                for c in range(C):
                    util += X[c] * D[c, k]
                s = 0.0
                for j in range(1, m):
                    v = 0.0
                    for c in range(C):
                        if n[c] > 0:
                            v += X[c] * D[c, k] * P[idx - stride[c], k, j - 1]
                    v /= j
                    P[idx, k, j] = v
                    s += (m - j) * v
                p0 = 1.0 - (util + s) / m
                P[idx, k, 0] = p0 if p0 > 0.0 else 0.0
    return X.copy(), R.copy()


@njit(cache=True)
def schweitzer_mc(D, N, Z, code, tol, max_iter):
    """Bard-Schweitzer multiclass MVA with Seidmann's multi-server pair.

    Returns X (C,), Rk (C, K) and the iteration count (max_iter + 1: no convergence).
    """
    C, K = D.shape
    dq = np.zeros((C, K))  # queueing part
    dd = np.zeros((C, K))  # delay part
    for c in range(C):
        for k in range(K):
            m = code[k]
            if m == 0:
                dd[c, k] = D[c, k]
            else:
                dq[c, k] = D[c, k] / m
                dd[c, k] = D[c, k] - dq[c, k]
    Q = np.zeros((C, K))  # class queue at the queueing part
    for c in range(C):
        nz = 0
        for k in range(K):
            if dq[c, k] > 0.0:
                nz += 1
        for k in range(K):
            if dq[c, k] > 0.0:
                Q[c, k] = N[c] / (nz + 1.0)
    Qt = np.zeros(K)
    R = np.zeros((C, K))
    X = np.zeros(C)
    it = 0
    while True:
        for k in range(K):
            s = 0.0
            for c in range(C):
                s += Q[c, k]
            Qt[k] = s
        diff = 0.0
        for c in range(C):
            tot = Z[c]
            for k in range(K):
                seen = Qt[k] - Q[c, k] / N[c]
                r = dq[c, k] * (1.0 + seen) + dd[c, k]
                R[c, k] = r
                tot += r
            X[c] = N[c] / tot
        for c in range(C):
            for k in range(K):
                qn = X[c] * (R[c, k] - dd[c, k])
                d = abs(qn - Q[c, k])
                if d > diff:
                    diff = d
                Q[c, k] = qn
        it += 1
        if diff <= tol * (1.0 + N.max()) or it > max_iter:
            break
    return X, R, it
