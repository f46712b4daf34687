"""numba kernel of the method of layers' closed fixed point (:mod:`iovmodel.solve.layered`).

The whole iteration runs compiled: the upper layer (the path's network with thread
stations stretched by their core response, one class per vCPU group) and the lower layer
(the host's core pool as a finite-source multi-server queue) are multiclass MVA solutions
(:mod:`._kernels_mc`), alternated with the same damping and stopping rule as the Python
driver documents. One call per point: Python's per-iteration overhead (array building,
argument checks) was 90 % of a sweep's time.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._kernels_mc import exact_mc

#: the hash (SHA-256, 16 hex digits) of each module these kernels compile code in from:
#: numba's cache is keyed on this file's stamp alone, so an edit of _kernels_mc.py must
#: change this file too, or the cached kernels keep the old exact_mc
#: (tests/test_kernel_caches.py checks the hashes)
KERNEL_SOURCES = {"_kernels_mc.py": "800e0fd79e487630"}


@njit(cache=True)
def _step(it, diff, prev):
    # layered.py's _step, the one documented rule: a full step while the change halves,
    # else 1/2; averaging from the 21st iteration
    if it > 20:
        return 1.0 / (it - 18)
    return 1.0 if prev < 0.0 or diff < 0.5 * prev else 0.5


@njit(cache=True)
def schweitzer_warm(D, N, Z, code, tol, max_iter, Q):
    """Bard-Schweitzer multiclass MVA (:func:`._kernels_mc.schweitzer_mc`'s iteration and
    stopping rule) started from the class queues ``Q`` (C, K) and leaving its solution
    there: successive layers differ a little, so each starts next to its answer. A ``Q`` of
    zeros starts where schweitzer_mc does."""
    C, K = D.shape
    dq = np.zeros((C, K))
    dd = np.zeros((C, K))
    for c in range(C):
        for k in range(K):
            m = code[k]
            if m == 0:
                dd[c, k] = D[c, k]
            else:
                dq[c, k] = D[c, k] / m
                dd[c, k] = D[c, k] - dq[c, k]
    fresh = True
    for c in range(C):
        for k in range(K):
            if Q[c, k] != 0.0:
                fresh = False
    if fresh:
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
    nmax = 0.0
    for c in range(C):
        if N[c] > nmax:
            nmax = N[c]
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
        if diff <= tol * (1.0 + nmax) or it > max_iter:
            break
    return X, R, it


@njit(cache=True)
def _upper(Dm, col_station, f, N, Z, code, exact, K, sch_tol, sch_max, Q):
    C, J = Dm.shape
    D = np.empty((C, J))
    for c in range(C):
        for j in range(J):
            D[c, j] = Dm[c, j] * f[col_station[j]]
    if exact:
        X, R = exact_mc(D, N, Z, code)
    else:
        X, R, _ = schweitzer_warm(D, N.astype(np.float64), Z, code, sch_tol, sch_max, Q)
    Xt = 0.0
    for c in range(C):
        Xt += X[c]
    Rk = np.zeros(K)
    for j in range(J):
        s = 0.0
        for c in range(C):
            s += X[c] * R[c, j]
        Rk[col_station[j]] += s / Xt
    return Rk, Xt


@njit(cache=True)
def _lower(Xt, f, thr, T, s, visits, free, code_free, exact, n_st, sch_tol, sch_max, Q):
    out = np.ones(n_st)
    n = thr.shape[0]
    if n == 0:
        return out
    D = np.empty((n, 1))
    Z = np.empty(n)
    for i in range(n):
        D[i, 0] = s[i]
        lam = Xt * visits[i] / T[i]
        if lam < 1e-300:
            lam = 1e-300
        z = 1.0 / lam - s[i] * f[thr[i]]
        Z[i] = z if z > 0.0 else 0.0
    code = np.empty(1, dtype=np.int64)
    code[0] = code_free
    if exact:
        X, R = exact_mc(D, T, Z, code)
    else:
        X, R, _ = schweitzer_warm(D, T.astype(np.float64), Z, code, sch_tol, sch_max, Q)
    for i in range(n):
        r = R[i, 0] if R[i, 0] > s[i] else s[i]
        out[thr[i]] = r / s[i]
    return out


@njit(cache=True)
def layered_fixed_point(Dm, col_station, N, Z, code, exact_up, thr, T, s, visits, free,
                        code_free, exact_low, n_st, tol, max_iter, sch_tol, sch_max, f0):
    """Fixed point of the two layers, iterated from the core stretches ``f0`` (ones: no
    stretch; a sweep passes its previous point's). Returns (f, Rk, X per µs, iterations);
    iterations ``max_iter + 1`` when it did not converge."""
    f = f0.copy()
    Rk = np.zeros(n_st)
    Xt = 0.0
    lower = thr.shape[0] > 0
    Qu = np.zeros(Dm.shape)  # Bard-Schweitzer queues, carried from layer to layer
    Ql = np.zeros((thr.shape[0], 1))
    prev = -1.0
    for it in range(1, max_iter + 1):
        Rk, Xt = _upper(Dm, col_station, f, N, Z, code, exact_up, n_st, sch_tol, sch_max, Qu)
        if lower:
            f_new = _lower(Xt, f, thr, T, s, visits, free, code_free, exact_low, n_st,
                           sch_tol, sch_max, Ql)
        else:
            f_new = np.ones(n_st)
        big = 0.0
        diff = 0.0
        same = True
        for k in range(n_st):
            if f_new[k] > big:
                big = f_new[k]
            d = abs(f_new[k] - f[k])
            if d > diff:
                diff = d
            if f_new[k] != f[k]:
                same = False
        if diff <= tol * big:
            if not same:
                f = f_new
                Rk, Xt = _upper(Dm, col_station, f, N, Z, code, exact_up, n_st, sch_tol,
                                sch_max, Qu)
            return f, Rk, Xt, it
        a = _step(it, diff, prev)
        prev = diff
        for k in range(n_st):
            f[k] = (1 - a) * f[k] + a * f_new[k]
    return f, Rk, Xt, max_iter + 1
