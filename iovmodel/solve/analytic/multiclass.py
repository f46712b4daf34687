r"""Mean value analysis of closed multiclass product-form networks.

Each class (chain) ``c`` has its own population :math:`N_c`, think time
:math:`Z_c` and service demand :math:`D_{ck}` at each station ``k``; a station
has ``servers`` identical servers (``math.inf``: a delay station). This is the
network of a host where several groups of requests share some resources and
not others: fio jobs pinned to different vCPUs sharing one QEMU main loop, or
several VMs sharing a host's back-end threads.

Exact (:func:`mva_multiclass` with ``method="exact"``)
    Reiser & Lavenberg's recursion over all population vectors
    :math:`\mathbf{0} \le \mathbf{n} \le \mathbf{N}` (Reiser & Lavenberg 1980,
    "Mean-value analysis of closed multichain queuing networks", JACM 27(2);
    Lazowska et al., *Quantitative System Performance*, 1984, ch. 7):
    :math:`R_{ck}(\mathbf{n}) = D_{ck}\,(1 + Q_k(\mathbf{n} - \mathbf{e}_c))` at a
    single server, :math:`D_{ck}` at a delay station,
    :math:`X_c(\mathbf{n}) = n_c / (Z_c + \sum_k R_{ck}(\mathbf{n}))`.
    A station with :math:`m > 1` servers is load dependent (rate
    :math:`\min(j, m)` with j present); as in the single-class case it needs the
    marginal probabilities of its first m-1 states (Bruell, Balbo & Afshari
    1984; Menascé, Almeida & Dowdy 2004, section 13.4):
    :math:`R_{ck} = \frac{D_{ck}}{m}\big[1 + Q_k(\mathbf{n}-\mathbf{e}_c) +
    \sum_{j=0}^{m-2}(m-1-j)\,p_k(j \mid \mathbf{n}-\mathbf{e}_c)\big]`,
    :math:`p_k(j\mid\mathbf{n}) = \frac1j \sum_c X_c(\mathbf{n}) D_{ck}\,
    p_k(j-1\mid \mathbf{n}-\mathbf{e}_c)`, and the idle probability from the
    complement network (station k removed) wherever subtraction would not hold:
    :math:`p_k(0\mid\mathbf{n}) = p_k(0\mid\mathbf{n}-\mathbf{e}_c)\,X_c(\mathbf{n})
    / X_c^{-k}(\mathbf{n})` (one minus the other marginals loses every digit once a
    station of many servers is nearly always busy; a first pass by subtraction is kept
    when none of its idle probabilities falls below ``_kernels_mc.P0_TRUSTED``, 1e-6,
    where it holds ten digits: tests/analytic/test_multiclass.py checks it against the
    complements to 1e-10). Product form at a multi-server FCFS
    station needs the same mean service time for every class that visits it.
    The cost is :math:`\prod_c (N_c + 1)` population vectors, so it is limited
    to :data:`MAX_EXACT_STATES` of them, times :math:`2^M` with M multi-server
    stations when the complements are needed (every complement network is solved; past
    ``_kernels_mc.MAX_COMPLEMENT_CELLS`` the idle probabilities fall back to the
    subtraction).

Approximate (``method="schweitzer"``)
    Bard-Schweitzer (Schweitzer 1979, "Approximate analysis of multiclass closed
    networks of queues", Int. Conf. on Stochastic Control and Optimization;
    Bard 1979): an arriving class-c request sees
    :math:`Q_k - Q_{ck}/N_c`; multi-server stations by Seidmann's transformation
    (a single server of demand :math:`D/m` followed by a delay of
    :math:`D(m-1)/m`; Seidmann, Schweitzer & Shalev-Oren 1987). One fixed point
    per call, whatever the populations: the method for large populations and
    many classes. Its error against the exact solution is measured in
    ``tests/analytic/test_multiclass.py`` (a few per cent at most on the
    networks there; Seidmann's pair is exact at low and high load and worst
    in between).

Times are in the demands' unit (µs throughout iovmodel); throughputs are per
that unit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from ...errors import ParameterError
from ._common import as_array, fmt, frame_html

#: Largest number of population vectors the exact multiclass solver walks.
MAX_EXACT_STATES = 400_000
#: Servers above which an exact multi-server station is solved with Seidmann's pair.
MAX_EXACT_SERVERS = 64


@dataclass(frozen=True, repr=False, eq=False)
class MulticlassResult:
    """Metrics of a closed multiclass network at populations ``N``.

    Attributes
    ----------
    X : ndarray, shape (C,)
        Throughput of each class (per time unit of the demands).
    R : ndarray, shape (C,)
        Response time of each class, think time excluded.
    Rk : ndarray, shape (C, K)
        Residence time per request of each class at each station.
    Q : ndarray, shape (C, K)
        Mean number of each class's requests at each station.
    U : ndarray, shape (K,)
        Utilisation of one server, :math:`\\sum_c X_c D_{ck} / m_k`; for a delay
        station the mean number of busy servers.
    classes, stations : tuple of str
    demands : ndarray, shape (C, K)
    populations : ndarray, shape (C,)
    servers : ndarray, shape (K,)
    think : ndarray, shape (C,)
    method : str
        ``"exact"`` or ``"schweitzer"``.
    iterations : int
        Fixed-point iterations (0 for the exact method).
    """

    X: np.ndarray
    R: np.ndarray
    Rk: np.ndarray
    Q: np.ndarray
    classes: tuple[str, ...]
    stations: tuple[str, ...]
    demands: np.ndarray
    populations: np.ndarray
    servers: np.ndarray
    think: np.ndarray
    method: str
    iterations: int = 0

    @property
    def U(self) -> np.ndarray:  # noqa: N802 (the textbook's symbol)
        per = np.where(np.isinf(self.servers), 1.0, self.servers)
        return (self.X @ self.demands) / per

    @property
    def throughput(self) -> float:
        """Total throughput over all classes."""
        return float(self.X.sum())

    @property
    def bottleneck(self) -> str:
        """Station with the largest utilisation per server (delay stations excluded)."""
        u = np.where(np.isinf(self.servers), -1.0, self.U)
        return self.stations[int(np.argmax(u))]

    def to_frame(self) -> pd.DataFrame:
        """One row per (class, station): ``class, station, residence_time,
        queue_length, throughput, response_time``."""
        C, K = self.demands.shape
        return pd.DataFrame({
            "class": np.repeat(np.array(self.classes, dtype=object), K),
            "station": np.tile(np.array(self.stations, dtype=object), C),
            "residence_time": self.Rk.ravel(), "queue_length": self.Q.ravel(),
            "throughput": np.repeat(self.X, K), "response_time": np.repeat(self.R, K),
        })

    def summary(self) -> str:
        lines = [repr(self), f"{'class':<14}{'N':>6}{'X':>12}{'R':>12}"]
        for c, name in enumerate(self.classes):
            lines.append(f"{name:<14}{int(self.populations[c]):>6}{fmt(self.X[c]):>12}"
                         f"{fmt(self.R[c]):>12}")
        lines.append(f"{'station':<14}{'servers':>8}{'util':>8}")
        for k, name in enumerate(self.stations):
            srv = "inf" if math.isinf(self.servers[k]) else str(int(self.servers[k]))
            lines.append(f"{name:<14}{srv:>8}{self.U[k]:>8.3f}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"MulticlassResult({self.method}, {len(self.classes)} classes, "
                f"{len(self.stations)} stations: X={fmt(self.throughput)}, "
                f"bottleneck={self.bottleneck!r})")

    def _repr_html_(self) -> str:
        df = pd.DataFrame({"class": list(self.classes), "population": self.populations,
                           "throughput": self.X, "response time": self.R})
        return frame_html(df, f"{self.method} multiclass MVA; bottleneck {self.bottleneck}")


def _inputs(demands, populations, think, servers):
    D = np.array(as_array("demands", demands), dtype=float)
    if D.ndim != 2 or D.size == 0:
        raise ParameterError(f"demands must be a 2-d array (classes x stations), got shape "
                             f"{np.shape(D)}")
    C, K = D.shape
    N = as_array("populations", populations)
    if N.shape != (C,) or (N != np.round(N)).any() or (N < 1).any():
        raise ParameterError(f"populations must be {C} integers >= 1 (one per class), got "
                             f"{populations!r}")
    Z = as_array("think", np.broadcast_to(np.asarray(think, dtype=float), (C,))
                 if np.ndim(think) == 0 else think)
    if Z.shape != (C,):
        raise ParameterError(f"think must be a number or {C} numbers, got {think!r}")
    if servers is None:
        m = np.ones(K)
    else:
        m = np.array(as_array("servers", servers, allow_inf=True), dtype=float)
        if m.shape != (K,):
            raise ParameterError(f"servers must have {K} entries (one per station), got "
                                 f"{servers!r}")
        bad = ~(np.isinf(m) | ((m >= 1) & (m == np.floor(m))))
        if bad.any():
            raise ParameterError(f"servers must be whole numbers >= 1 or inf, got "
                                 f"{m[bad][0]!r} at station {int(np.flatnonzero(bad)[0])}")
    empty = (D.sum(axis=1) == 0) & (Z == 0)
    if empty.any():
        raise ParameterError(f"class {int(np.flatnonzero(empty)[0])} has no demand and no "
                             "think time: its throughput is unbounded")
    return D, N.astype(np.int64), np.ascontiguousarray(Z, dtype=float), m


def _names(prefix: str, names, n: int) -> tuple[str, ...]:
    if names is None:
        return tuple(f"{prefix}{i}" for i in range(n))
    names = tuple(str(x) for x in names)
    if len(names) != n:
        raise ParameterError(f"{prefix} names: expected {n}, got {len(names)}")
    return names


def mva_multiclass(demands: ArrayLike, populations: ArrayLike, think: ArrayLike = 0.0,
                   servers: ArrayLike | None = None, *, method: str = "auto",
                   classes: Sequence[str] | None = None,
                   stations: Sequence[str] | None = None, tol: float = 1e-10,
                   max_iter: int = 100_000) -> MulticlassResult:
    """Solve a closed multiclass network at the populations given.

    Parameters
    ----------
    demands : array, shape (C, K)
        Demand per request of class c at station k (time unit, e.g. µs), >= 0.
    populations : sequence of int, length C
        Requests in flight of each class.
    think : float or sequence of float
        Think time of each class (same unit).
    servers : sequence, length K, optional
        Servers per station (whole >= 1, or ``math.inf`` for a delay station);
        default all single-server.
    method : {"auto", "exact", "schweitzer"}
        ``"auto"`` is exact while the population vectors number at most
        :data:`MAX_EXACT_STATES`, else Bard-Schweitzer.
    classes, stations : sequence of str, optional
        Names for the result.

    Returns
    -------
    MulticlassResult
    """
    D, N, Z, m = _inputs(demands, populations, think, servers)
    C, K = D.shape
    if method not in ("auto", "exact", "schweitzer"):
        raise ParameterError(f"method must be 'auto', 'exact' or 'schweitzer', got {method!r}")
    states = float(np.prod(N.astype(float) + 1.0))
    if method == "auto":
        method = "exact" if states <= MAX_EXACT_STATES else "schweitzer"
    if method == "exact" and states > MAX_EXACT_STATES:
        raise ParameterError(f"the exact multiclass solution needs {states:,.0f} population "
                             f"vectors (> {MAX_EXACT_STATES:,}); use method='schweitzer'")
    total = int(N.sum())
    # a station with at least as many servers as requests never queues: a delay station
    code = np.where(np.isinf(m) | (m >= total), 0, m).astype(np.int64)
    from ._kernels_mc import exact_mc, schweitzer_mc  # numba: compiled on first use

    if method == "exact":
        big = code > MAX_EXACT_SERVERS
        if big.any():
            raise ParameterError(f"exact multiclass MVA takes at most {MAX_EXACT_SERVERS} "
                                 "servers per station; use method='schweitzer'")
        X, Rk = exact_mc(D, N, Z, code)
        it = 0
    else:
        X, Rk, it = schweitzer_mc(D, N.astype(float), Z, code, tol, max_iter)
        if it > max_iter:
            raise ParameterError(f"Bard-Schweitzer MVA did not converge in {max_iter} "
                                 "iterations")
    Q = X[:, None] * Rk
    return MulticlassResult(X, Rk.sum(axis=1), Rk, Q, _names("class", classes, C),
                            _names("s", stations, K), D, N, m, Z, method, int(it))
