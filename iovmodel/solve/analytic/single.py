r"""Single-station queues in closed form: M/M/1, M/M/c, M/G/1, M/D/1, M/M/1/K, M/G/c.

Every function takes rates or times in one consistent time unit (per µs and µs
inside iovmodel, per second and seconds are just as good) and returns a frozen
result object with

- ``rho``: offered load per server, :math:`\lambda / (c\mu)`;
- ``L``, ``Lq``: mean number in the system / waiting in the queue;
- ``W``, ``Wq``: mean time in the system / waiting, in the time unit of ``1/lam``.

Inputs broadcast like numpy arrays, so a sweep is one call
(``mm1(np.linspace(0, 0.9, 10), 1.0)``); scalar inputs give float outputs.
Utilisation >= 1 raises :class:`~iovmodel.errors.UnstableError` unless
``nan_policy="nan"`` (then those points are NaN and an
:class:`~iovmodel.errors.UnstableQueueWarning` is issued).

References
----------
L. Kleinrock, *Queueing Systems, Vol. 1: Theory*, Wiley 1975, ch. 3 (M/M/1,
M/M/c, M/M/1/K) and ch. 5 (M/G/1, Pollaczek-Khinchine).
D. Gross, J. Shortle, J. Thompson, C. Harris, *Fundamentals of Queueing
Theory*, 4th ed., Wiley 2008, sections 2.2-2.5 and 5.1.
A. O. Allen, *Probability, Statistics, and Queueing Theory*, 2nd ed., Academic
Press 1990, section 6.4 (the Allen-Cunneen M/G/c approximation).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from ._common import as_array, as_count, broadcast, check_policy, fmt, handle_unstable, html_table

# Above this many servers the Erlang-B recursion (O(c) per point) gives way to
# the regularised incomplete gamma function (same value, O(1) per point).
_ERLANG_RECURSION_MAX_C = 2000


@dataclass(frozen=True, repr=False, eq=False, kw_only=True)
class QueueMetrics:
    """Mean-value metrics of one queue (base class of the single-station results).

    Attributes
    ----------
    name : str
        Station name used in messages and tables.
    rho : float or ndarray
        Offered load per server (utilisation for the infinite-buffer queues).
    L, Lq : float or ndarray
        Mean number in the system / in the queue (requests).
    W, Wq : float or ndarray
        Mean time in the system / waiting in the queue (time unit of ``1/lam``).
    """

    kind: ClassVar[str] = "queue"
    inputs: ClassVar[tuple[str, ...]] = ()
    extras: ClassVar[tuple[str, ...]] = ()

    name: str = "queue"
    rho: float | np.ndarray
    L: float | np.ndarray
    Lq: float | np.ndarray
    W: float | np.ndarray
    Wq: float | np.ndarray

    def _keys(self) -> tuple[str, ...]:
        return (*self.inputs, "rho", "L", "Lq", "W", "Wq", *self.extras)

    def to_dict(self) -> dict[str, float | np.ndarray]:
        """Inputs and metrics by name (floats, or arrays for vector inputs)."""
        return {k: getattr(self, k) for k in self._keys()}

    def to_frame(self) -> pd.DataFrame:
        """Tidy frame: one row per point, columns ``station``, the inputs, then the metrics."""
        d = self.to_dict()
        shape = np.broadcast_shapes(*(np.shape(v) for v in d.values()))
        cols = {"station": self.name, "model": self.kind}
        cols.update({k: np.ravel(np.broadcast_to(np.asarray(v, float), shape))
                     for k, v in d.items()})
        return pd.DataFrame(cols, index=pd.RangeIndex(int(np.prod(shape, dtype=int))))

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}={fmt(v)}" for k, v in self.to_dict().items())
        return f"{type(self).__name__}({parts})"

    def _repr_html_(self) -> str:
        if np.ndim(self.rho) == 0:
            rows = [(k, fmt(v)) for k, v in self.to_dict().items()]
            return html_table(rows, f"{self.kind} queue {self.name!r}")
        return self.to_frame().to_html(index=False, float_format=lambda v: f"{v:.6g}", border=0)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.name == other.name and all(
            np.array_equal(getattr(self, f.name), getattr(other, f.name), equal_nan=True)
            for f in fields(self) if f.name != "name")

    __hash__ = None  # arrays inside: not hashable


@dataclass(frozen=True, repr=False, eq=False, kw_only=True)
class MM1Result(QueueMetrics):
    """M/M/1 metrics (inputs ``lam``, ``mu``)."""

    kind: ClassVar[str] = "M/M/1"
    inputs: ClassVar[tuple[str, ...]] = ("lam", "mu")
    lam: float | np.ndarray
    mu: float | np.ndarray


@dataclass(frozen=True, repr=False, eq=False, kw_only=True)
class MG1Result(QueueMetrics):
    """M/G/1 metrics (inputs ``lam``, ``mean_s``, ``scv``); also returned by :func:`md1`."""

    kind: ClassVar[str] = "M/G/1"
    inputs: ClassVar[tuple[str, ...]] = ("lam", "mean_s", "scv")
    lam: float | np.ndarray
    mean_s: float | np.ndarray
    scv: float | np.ndarray


@dataclass(frozen=True, repr=False, eq=False, kw_only=True)
class MMcResult(QueueMetrics):
    """M/M/c metrics; ``p_wait`` is the Erlang-C probability that an arrival waits."""

    kind: ClassVar[str] = "M/M/c"
    inputs: ClassVar[tuple[str, ...]] = ("lam", "mu", "c")
    extras: ClassVar[tuple[str, ...]] = ("p_wait",)
    lam: float | np.ndarray
    mu: float | np.ndarray
    c: int | np.ndarray
    p_wait: float | np.ndarray


@dataclass(frozen=True, repr=False, eq=False, kw_only=True)
class MGcResult(QueueMetrics):
    """M/G/c metrics by the Allen-Cunneen approximation; ``p_wait`` is M/M/c's Erlang C."""

    kind: ClassVar[str] = "M/G/c (Allen-Cunneen)"
    inputs: ClassVar[tuple[str, ...]] = ("lam", "mean_s", "scv", "c")
    extras: ClassVar[tuple[str, ...]] = ("p_wait",)
    lam: float | np.ndarray
    mean_s: float | np.ndarray
    scv: float | np.ndarray
    c: int | np.ndarray
    p_wait: float | np.ndarray


@dataclass(frozen=True, repr=False, eq=False, kw_only=True)
class MM1KResult(QueueMetrics):
    """M/M/1/K metrics (K = capacity including the request in service).

    ``rho`` is the offered load ``lam / mu`` (may exceed 1); ``utilization`` is
    the fraction of time the server is busy, ``p_block`` the probability an
    arrival finds the system full and is lost, ``throughput`` the accepted rate
    ``lam * (1 - p_block)``. ``W`` and ``Wq`` are per accepted request.
    """

    kind: ClassVar[str] = "M/M/1/K"
    inputs: ClassVar[tuple[str, ...]] = ("lam", "mu", "K")
    extras: ClassVar[tuple[str, ...]] = ("p_block", "throughput", "utilization")
    lam: float | np.ndarray
    mu: float | np.ndarray
    K: int | np.ndarray
    p_block: float | np.ndarray
    throughput: float | np.ndarray
    utilization: float | np.ndarray


def _out(scalar: bool, **arrays):
    """Floats for scalar calls, read-only arrays otherwise."""
    out = {}
    for k, v in arrays.items():
        v = np.asarray(v)
        if scalar:
            out[k] = int(v) if v.dtype.kind in "iu" else float(v)
        else:
            v = v.copy()
            v.setflags(write=False)
            out[k] = v
    return out


def _is_scalar(*values) -> bool:
    return all(np.ndim(v) == 0 for v in values)


def mm1(lam: ArrayLike, mu: ArrayLike, *, name: str = "queue",
        nan_policy: str = "raise") -> MM1Result:
    r"""M/M/1 queue: Poisson arrivals, exponential service, one server.

    Parameters
    ----------
    lam : float or array_like
        Arrival rate (requests per time unit, e.g. per µs or per second), >= 0.
    mu : float or array_like
        Service rate, > 0, same time unit.
    name : str
        Station name for messages and tables.
    nan_policy : {"raise", "nan"}
        What to do where ``lam >= mu``.

    Returns
    -------
    MM1Result
        :math:`\rho = \lambda/\mu`, :math:`L = \rho/(1-\rho)`,
        :math:`W = 1/(\mu-\lambda)`, :math:`W_q = \rho/(\mu-\lambda)`
        (Kleinrock vol. 1, eqs. 3.24 and 3.26).

    Raises
    ------
    ParameterError
        ``lam`` negative or NaN, ``mu`` not positive.
    UnstableError
        ``lam >= mu`` and ``nan_policy="raise"``.
    """
    check_policy(nan_policy)
    lam_a, mu_a = broadcast(lam=as_array("lam", lam), mu=as_array("mu", mu, positive=True))
    rho = lam_a / mu_a
    bad = rho >= 1
    handle_unstable(bad, rho, lam_a, mu_a, name=name, nan_policy=nan_policy)
    with np.errstate(divide="ignore", invalid="ignore"):
        W = np.where(bad, np.nan, 1.0 / (mu_a - lam_a))
        rho_ok = np.where(bad, np.nan, rho)
        L = rho_ok / (1.0 - rho_ok)
        Lq = rho_ok * L
        Wq = rho_ok * W
    return MM1Result(name=name, **_out(_is_scalar(lam, mu), lam=lam_a, mu=mu_a, rho=rho,
                                       L=L, Lq=Lq, W=W, Wq=Wq))


def mg1(lam: ArrayLike, mean_s: ArrayLike, scv: ArrayLike = 1.0, *, name: str = "queue",
        nan_policy: str = "raise") -> MG1Result:
    r"""M/G/1 queue by the Pollaczek-Khinchine mean-value formula.

    Parameters
    ----------
    lam : float or array_like
        Arrival rate, >= 0 (per time unit).
    mean_s : float or array_like
        Mean service time, >= 0 (time unit).
    scv : float or array_like
        Squared coefficient of variation of the service time, >= 0
        (1: exponential, 0: deterministic).
    name, nan_policy
        As in :func:`mm1`.

    Returns
    -------
    MG1Result
        :math:`W_q = \rho\,E[S]\,(1 + c_s^2) / (2(1-\rho))`,
        :math:`W = W_q + E[S]`, :math:`L = \lambda W` (Kleinrock vol. 1, eq. 5.72;
        Gross et al. section 5.1.1).
    """
    check_policy(nan_policy)
    lam_a, s_a, scv_a = broadcast(lam=as_array("lam", lam), mean_s=as_array("mean_s", mean_s),
                                  scv=as_array("scv", scv))
    rho = lam_a * s_a
    bad = rho >= 1
    with np.errstate(divide="ignore", invalid="ignore"):
        cap = 1.0 / s_a
        handle_unstable(bad, rho, lam_a, cap, name=name, nan_policy=nan_policy)
        rho_ok = np.where(bad, np.nan, rho)
        Wq = rho_ok * s_a * (1.0 + scv_a) / (2.0 * (1.0 - rho_ok))
        W = Wq + np.where(bad, np.nan, s_a)
        Lq = lam_a * Wq
        L = lam_a * W
    return MG1Result(name=name, **_out(_is_scalar(lam, mean_s, scv), lam=lam_a, mean_s=s_a,
                                       scv=scv_a, rho=rho, L=L, Lq=Lq, W=W, Wq=Wq))


def md1(lam: ArrayLike, mu: ArrayLike, *, name: str = "queue",
        nan_policy: str = "raise") -> MG1Result:
    r"""M/D/1 queue: deterministic service time ``1/mu``.

    The Pollaczek-Khinchine formula with ``scv = 0``:
    :math:`W_q = \rho / (2\mu(1-\rho))`, :math:`L_q = \rho^2/(2(1-\rho))`
    (Kleinrock vol. 1, section 5.7). Parameters as in :func:`mm1`.
    """
    mu_a = as_array("mu", mu, positive=True)
    mean_s = float(mu_a) if mu_a.ndim == 0 else mu_a
    return mg1(lam, 1.0 / mean_s, 0.0, name=name, nan_policy=nan_policy)


def _erlang_b(c: np.ndarray, a: np.ndarray, method: str = "auto") -> np.ndarray:
    """Erlang-B blocking probability B(c, a) for integer ``c >= 1`` and load ``a >= 0``.

    ``"recursion"``: :math:`B(k) = a B(k-1) / (k + a B(k-1))`, :math:`B(0) = 1`,
    which never overflows and loses no precision (all terms positive).
    ``"gamma"``: :math:`1/B = e^{a} a^{-c}\\,\\Gamma(c+1, a)`, in logs, for large ``c``.
    """
    from scipy.special import gammaincc, gammaln

    c, a = np.broadcast_arrays(np.asarray(c, np.int64), np.asarray(a, float))
    if method == "auto":
        method = "recursion" if c.size == 0 or c.max() <= _ERLANG_RECURSION_MAX_C else "gamma"
    if method == "recursion":
        B = np.ones(c.shape)
        out = np.zeros(c.shape)
        for k in range(1, int(c.max(initial=0)) + 1):
            B = a * B / (k + a * B)
            hit = c == k
            out[hit] = B[hit]
        return out
    if method != "gamma":
        raise ValueError(method)
    out = np.zeros(c.shape)
    pos = a > 0
    cp, ap = c[pos].astype(float), a[pos]
    log_inv_b = np.log(gammaincc(cp + 1.0, ap)) + gammaln(cp + 1.0) + ap - cp * np.log(ap)
    out[pos] = np.exp(-log_inv_b)
    return out


def _erlang_c(c: np.ndarray, a: np.ndarray, method: str = "auto") -> np.ndarray:
    """Erlang-C probability of waiting, from Erlang B: C = c B / (c - a (1 - B)), a < c."""
    B = _erlang_b(c, a, method)
    return c * B / (c - a * (1.0 - B))


def mmc(lam: ArrayLike, mu: ArrayLike, c: ArrayLike, *, name: str = "queue",
        nan_policy: str = "raise") -> MMcResult:
    r"""M/M/c queue (Erlang C).

    Parameters
    ----------
    lam : float or array_like
        Arrival rate, >= 0 (per time unit).
    mu : float or array_like
        Service rate of one server, > 0.
    c : int or array_like of int
        Number of servers, >= 1.
    name, nan_policy
        As in :func:`mm1`.

    Returns
    -------
    MMcResult
        With offered load :math:`a = \lambda/\mu` and :math:`\rho = a/c`:
        ``p_wait`` = Erlang C :math:`C(c, a)`, :math:`L_q = C \rho/(1-\rho)`,
        :math:`W_q = C/(c\mu - \lambda)`, :math:`W = W_q + 1/\mu`,
        :math:`L = \lambda W` (Kleinrock vol. 1, eqs. 3.39-3.40; Gross et al.
        section 2.3). Erlang C is computed from the Erlang-B recursion
        (no factorials, stable for thousands of servers) and, above
        2000 servers, from the regularised incomplete gamma function.
    """
    check_policy(nan_policy)
    lam_a, mu_a, c_a = broadcast(lam=as_array("lam", lam),
                                 mu=as_array("mu", mu, positive=True), c=as_count("c", c))
    a = lam_a / mu_a
    rho = a / c_a
    bad = rho >= 1
    handle_unstable(bad, rho, lam_a, c_a * mu_a, name=name, nan_policy=nan_policy)
    a_ok = np.where(bad, 0.0, a)
    with np.errstate(divide="ignore", invalid="ignore"):
        C = np.where(bad, np.nan, _erlang_c(c_a, a_ok))
        rho_ok = np.where(bad, np.nan, rho)
        Lq = C * rho_ok / (1.0 - rho_ok)
        Wq = C / (c_a * mu_a - lam_a)
        W = Wq + 1.0 / mu_a
        L = lam_a * W
    return MMcResult(name=name, **_out(_is_scalar(lam, mu, c), lam=lam_a, mu=mu_a, c=c_a,
                                       rho=rho, L=L, Lq=Lq, W=W, Wq=Wq, p_wait=C))


def mgc(lam: ArrayLike, mean_s: ArrayLike, scv: ArrayLike, c: ArrayLike, *,
        name: str = "queue", nan_policy: str = "raise") -> MGcResult:
    r"""M/G/c queue by the Allen-Cunneen approximation.

    :math:`W_q \approx W_q^{M/M/c} \cdot (c_a^2 + c_s^2)/2` with Poisson
    arrivals (:math:`c_a^2 = 1`), i.e. the M/M/c wait scaled by
    :math:`(1 + c_s^2)/2` (Allen 1990, section 6.4; Allen-Cunneen). It is exact
    for ``c = 1`` (it is then the Pollaczek-Khinchine formula) and for
    exponential service (``scv = 1``); otherwise it is an approximation, usually
    within a few percent for moderate ``scv``, worse for very variable service
    at light load.

    Parameters
    ----------
    lam : float or array_like
        Arrival rate, >= 0.
    mean_s : float or array_like
        Mean service time of one request on one server, > 0.
    scv : float or array_like
        Squared coefficient of variation of the service time, >= 0.
    c : int or array_like of int
        Servers, >= 1.
    name, nan_policy
        As in :func:`mm1`.
    """
    check_policy(nan_policy)
    lam_a, s_a, scv_a, c_a = broadcast(
        lam=as_array("lam", lam), mean_s=as_array("mean_s", mean_s, positive=True),
        scv=as_array("scv", scv), c=as_count("c", c))
    base = mmc(lam_a, 1.0 / s_a, c_a, name=name, nan_policy=nan_policy)
    with np.errstate(invalid="ignore"):
        Wq = np.asarray(base.Wq) * (1.0 + scv_a) / 2.0
        W = Wq + s_a
        Lq = lam_a * Wq
        L = lam_a * W
    return MGcResult(name=name, **_out(_is_scalar(lam, mean_s, scv, c), lam=lam_a, mean_s=s_a,
                                       scv=scv_a, c=c_a, rho=base.rho, L=L, Lq=Lq, W=W, Wq=Wq,
                                       p_wait=base.p_wait))


def mgc_wait(lam: float, mean_s: float, scv: float, c: int) -> tuple[float, float]:
    """:func:`mgc`'s (Wq, W) for one stable queue of plain numbers, its arithmetic in its
    order (the same values): the open solver asks one per station and rate, and the array
    version's checks and broadcasting were most of the time of a one-rate solution.

    The caller guarantees ``mean_s > 0``, ``scv >= 0``, ``1 <= c <= 2000`` (the Erlang-B
    recursion's range) and ``lam * mean_s < c``.
    """
    mu = 1.0 / mean_s
    a = lam / mu
    B = 1.0
    for k in range(1, c + 1):
        B = a * B / (k + a * B)
    C = c * B / (c - a * (1.0 - B))
    Wq = C / (c * mu - lam) * (1.0 + scv) / 2.0
    return Wq, Wq + mean_s


def _mm1k_L_over_rho(t: np.ndarray, K: np.ndarray) -> np.ndarray:
    """L / rho for an M/M/1/K system with offered load rho = exp(t), t <= 0.

    :math:`L/\\rho = 1/(1-\\rho) - (K+1)\\rho^{K}/(1-\\rho^{K+1})` loses digits as
    rho -> 1 (two large terms cancel); there the cumulant series of the
    tilted discrete uniform on 0..K is used instead:
    :math:`L = K/2 + t K(K+2)/12 - t^3 ((K+1)^4-1)/720 + O(t^5 K^6)`.
    Dividing by rho keeps full relative precision at very light load.
    """
    n = K + 1.0
    small = np.abs(t) * n < 1e-3
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        exact = -1.0 / np.expm1(t) + n * np.exp(K * t) / np.expm1(n * t)
        series = (K / 2.0 + t * K * (K + 2.0) / 12.0 - t**3 * (n**4 - 1.0) / 720.0) * np.exp(-t)
    return np.where(small, series, exact)


def mm1k(lam: ArrayLike, mu: ArrayLike, K: ArrayLike, *, name: str = "queue") -> MM1KResult:
    r"""M/M/1/K queue: one server, room for ``K`` requests in total (lost when full).

    Always stable: ``lam`` may exceed ``mu``.

    Parameters
    ----------
    lam : float or array_like
        Arrival rate, >= 0.
    mu : float or array_like
        Service rate, > 0.
    K : int or array_like of int
        System capacity including the request in service, >= 1.
    name : str
        Station name for tables.

    Returns
    -------
    MM1KResult
        With :math:`\rho = \lambda/\mu`, :math:`p_n = (1-\rho)\rho^n/(1-\rho^{K+1})`
        (:math:`1/(K+1)` at :math:`\rho=1`): ``p_block`` :math:`= p_K`,
        ``throughput`` :math:`= \lambda(1-p_K)`, ``utilization`` :math:`= 1-p_0`,
        :math:`L = \sum n p_n`, :math:`L_q = L - (1-p_0)`, :math:`W = L/\lambda_{eff}`,
        :math:`W_q = L_q/\lambda_{eff}` (Gross et al. section 2.5;
        Kleinrock vol. 1, section 3.6). Computed in logs, by the symmetry
        :math:`L(\rho) = K - L(1/\rho)` above 1 and by a series near 1, so it
        neither overflows for large K nor loses digits at :math:`\rho \approx 1`.
    """
    lam_a, mu_a, K_a = broadcast(lam=as_array("lam", lam),
                                 mu=as_array("mu", mu, positive=True), K=as_count("K", K))
    Kf = K_a.astype(float)
    rho = lam_a / mu_a
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        t = np.log(rho)  # -inf at lam = 0
        s = -np.abs(t)  # load of the mirrored system, <= 0
        n = Kf + 1.0
        # p0 and pK of the system with load exp(s) <= 1 (then mirrored when t > 0)
        p_low = np.where(s == 0, 1.0 / n, np.expm1(s) / np.expm1(n * s))  # p_0 at load <= 1
        p_high = np.where(s == 0, 1.0 / n, np.exp(Kf * s) * np.expm1(s) / np.expm1(n * s))
        p_low = np.where(np.isneginf(s), 1.0, p_low)
        p_high = np.where(np.isneginf(s), 0.0, p_high)
        L_rho = np.where(np.isneginf(s), 1.0, _mm1k_L_over_rho(s, Kf))  # L / load, load <= 1
    up = t > 0
    p0 = np.where(up, p_high, p_low)
    pK = np.where(up, p_low, p_high)
    # load <= 1: L = rho (L/rho) and, by flow balance, utilisation = rho (1 - p_K): no
    # precision lost at light load. load > 1: mirror, L = K - L(1/rho).
    L = np.where(up, Kf - np.exp(s) * L_rho, rho * L_rho)
    thr = lam_a * (1.0 - pK)
    util = np.where(up, 1.0 - p0, rho * (1.0 - pK))
    Lq = np.maximum(L - util, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        # W = L / throughput; at load <= 1 as (L/rho) / (mu (1 - p_K)), finite at lam -> 0
        W = np.where(up, L / thr, L_rho / (mu_a * (1.0 - pK)))
        Wq = W - 1.0 / mu_a  # an accepted request waits, then takes one service
    return MM1KResult(name=name, **_out(_is_scalar(lam, mu, K), lam=lam_a, mu=mu_a, K=K_a,
                                        rho=rho, L=L, Lq=Lq, W=W, Wq=Wq, p_block=pK,
                                        throughput=thr, utilization=util))
