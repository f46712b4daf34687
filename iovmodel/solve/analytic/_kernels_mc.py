"""numba kernels of multiclass MVA (imported, and compiled or loaded from cache, on first use)."""

from __future__ import annotations

import numpy as np
from numba import njit

#: most (subnetworks x population vectors x classes) kept for the idle probabilities from
#: complement networks; beyond it they come by subtraction (see :func:`exact_mc`)
MAX_COMPLEMENT_CELLS = 1 << 24
#: the smallest idle probability of a multi-server station that subtraction may give and
#: be kept: 1 - (busy terms) / m loses about 1e-16 / p0 of p0's relative precision, so at
#: 1e-6 and above it holds ten digits (see :func:`exact_mc`)
P0_TRUSTED = 1e-6


@njit(cache=True)
def _sizes(N, code):
    """(multi-server stations M, population vectors S) of an exact solution."""
    M = 0
    for k in range(code.shape[0]):
        if code[k] > 1:
            M += 1
    S = 1
    for c in range(N.shape[0]):
        S *= N[c] + 1
    return M, S


@njit(cache=True)
def exact_mc(D, N, Z, code):
    """Exact multiclass MVA (Reiser & Lavenberg) over all population vectors <= N.

    ``code[k]``: 0 delay station, m >= 1 servers. Population vectors are walked
    in mixed-radix order, so n - e_c always comes before n. Returns the class
    throughputs X (C,) and residence times Rk (C, K) at N.

    A multi-server station's idle probability is not taken as one minus the others
    (that subtraction loses every digit once the station is busy nearly always: with 32
    servers and 256 requests the throughput came out at half its bound), but from the
    complement network, the station removed: p_k(0|n) = G_-k(n) / G(n)
    = p_k(0|n - e_c) X_c(n) / X_c^-k(n) for a class c present at n that visits k (the
    single-class kernel's identity, per class). The complements have multi-server
    stations of their own, so every subset of the multi-server stations is solved, the
    smaller first (2^M passes). They are needed only where a station is nearly always
    busy: one pass by subtraction comes first, and it is the answer when no idle
    probability it took fell below :data:`P0_TRUSTED` (its relative error is then below
    about 1e-10); else the complements are solved. Past :data:`MAX_COMPLEMENT_CELLS` the
    subtraction is used.
    """
    C, K = D.shape
    M, S = _sizes(N, code)
    active = np.ones(K, dtype=np.bool_)
    dummy = np.zeros((1, 1, 1))
    X, R, _, low = _exact_pass(D, N, Z, code, active, dummy, np.zeros(K, dtype=np.int64),
                               False)
    if M == 0 or low >= P0_TRUSTED or (1 << M) * S * C > MAX_COMPLEMENT_CELLS:
        return X, R
    return exact_mc_complements(D, N, Z, code)


@njit(cache=True)
def exact_mc_complements(D, N, Z, code):
    """:func:`exact_mc` with every multi-server station's idle probability taken from its
    complement networks (2^M passes), whatever the load."""
    C, K = D.shape
    M, S = _sizes(N, code)
    multi = np.empty(M, dtype=np.int64)
    i = 0
    for k in range(K):
        if code[k] > 1:
            multi[i] = k
            i += 1
    logx = np.zeros((1 << M, S, C))
    X = np.zeros(C)
    R = np.zeros((C, K))
    for mask in range(1 << M):  # a mask's complements (one bit fewer) come before it
        active = np.ones(K, dtype=np.bool_)
        slot = np.full(K, -1, dtype=np.int64)
        for b in range(M):
            if (mask >> b) & 1:
                slot[multi[b]] = mask ^ (1 << b)  # the complement without that station
            else:
                active[multi[b]] = False
        X, R, lx, _ = _exact_pass(D, N, Z, code, active, logx, slot, True)
        logx[mask] = lx
    return X, R


@njit(cache=True)
def _exact_pass(D, N, Z, code, active, logx_sub, slot, stable):
    """One exact recursion over the ``active`` stations; returns X (C,), Rk (C, K) at N,
    log X_c(n) for every population vector (S, C) (a ``stable`` pass's; otherwise one row
    of zeros, as no one reads it) and the smallest idle probability a multi-server station
    took by subtraction (1.0 if none).

    ``stable``: a multi-server station k takes its idle probability from its complement
    network's log throughputs ``logx_sub[slot[k]]``; else by subtraction."""
    C, K = D.shape
    stride = np.ones(C, dtype=np.int64)
    for c in range(1, C):
        stride[c] = stride[c - 1] * (N[c - 1] + 1)
    S = stride[C - 1] * (N[C - 1] + 1)
    mmax = 1
    for k in range(K):
        if active[k] and code[k] > mmax:
            mmax = code[k]
    low = 1.0  # the smallest idle probability found by subtraction
    Qt = np.zeros((S, K))  # total queue at each station
    P = np.zeros((S, K, mmax))  # marginal p_k(j | n), j < m (multi-server stations only)
    # log p_k(0 | n) and log X_c(n): read by stable passes only (one row otherwise)
    LP0 = np.zeros((S if stable else 1, K))
    lx = np.zeros((S if stable else 1, C))
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
                if d == 0.0 or not active[k]:
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
            if tot > 0.0:
                X[c] = n[c] / tot
                if stable:  # only the complement passes read log X (a log per state and class)
                    lx[idx, c] = np.log(X[c])
            else:  # nowhere to go and no think time (a complement network): unbounded
                X[c] = np.inf
                if stable:
                    lx[idx, c] = np.inf
        for k in range(K):
            if not active[k]:
                continue
            q = 0.0
            for c in range(C):
                if R[c, k] > 0.0:
                    q += X[c] * R[c, k]
            Qt[idx, k] = q
            m = code[k]
            if m > 1:
                util = 0.0
                for c in range(C):
                    if D[c, k] > 0.0:
                        util += X[c] * D[c, k]
                s = 0.0
                for j in range(1, m):
                    v = 0.0
                    for c in range(C):
                        if n[c] > 0 and D[c, k] > 0.0:
                            v += X[c] * D[c, k] * P[idx - stride[c], k, j - 1]
                    v /= j
                    P[idx, k, j] = v
                    s += (m - j) * v
                if stable:
                    cs = -1  # a class present that visits k
                    for c in range(C):
                        if n[c] > 0 and D[c, k] > 0.0:
                            cs = c
                            break
                    if cs < 0:  # no request here ever visits k: it is idle
                        LP0[idx, k] = 0.0
                        P[idx, k, 0] = 1.0
                    else:
                        lc = logx_sub[slot[k], idx, cs]
                        if lc == np.inf or LP0[idx - stride[cs], k] == -np.inf:
                            LP0[idx, k] = -np.inf
                        else:
                            LP0[idx, k] = LP0[idx - stride[cs], k] + lx[idx, cs] - lc
                        P[idx, k, 0] = np.exp(LP0[idx, k])
                else:
                    p0 = 1.0 - (util + s) / m
                    P[idx, k, 0] = p0 if p0 > 0.0 else 0.0
                    if p0 < low:
                        low = p0
    return X.copy(), R.copy(), lx, low


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
