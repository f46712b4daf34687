r"""Asymptotic and balanced-job bounds on a closed network's throughput and response time.

Lazowska, Zahorjan, Graham & Sevcik, *Quantitative System Performance*,
Prentice-Hall 1984, chapter 5: asymptotic bounds (section 5.2, Table 5.1) and
balanced system bounds (section 5.3, Table 5.2; Zahorjan, Sevcik, Eager &
Galler, "Balanced job bound analysis of queueing networks", CACM 25(2), 1982).

Notation: :math:`D = \sum_k D_k` (all stations, delay ones included), Z the
think time, and for the queueing stations the demand per server
:math:`D_k / c_k`.

Asymptotic bounds, extended to multi-server and delay stations:

.. math::
   X(n) \le \min\Big(\frac{n}{D + Z},\ \min_k \frac{c_k}{D_k}\Big),\qquad
   R(n) \ge \max\Big(D,\ n \max_k \frac{D_k}{c_k} - Z\Big),

.. math::
   R(n) \le \sum_{\text{delay}} D_k + \sum_{\text{queueing}} D_k \frac{n + c_k - 1}{c_k},
   \qquad X(n) \ge \frac{n}{Z + R_{\max}(n)}.

The pessimistic residence time :math:`D_k (n + c_k - 1)/c_k` is the exact MVA
expression with every other request queued at station k (:math:`Q_k \le n-1`)
and at most c-1 idle servers; for c = 1 it is Lazowska's :math:`n D_k`.

Balanced job bounds hold for single-server stations; they are used (and
intersected with the asymptotic ones) when every queueing station has one
server, with the delay stations' demands added to the think time:

.. math::
   \frac{n}{D + Z + \frac{(n-1) D_{\max}}{1 + Z/(n D)}} \le X(n) \le
   \min\Big(\frac{1}{D_{\max}},\ \frac{n}{D + Z + \frac{(n-1) D_{avg}}{1 + Z/D}}\Big),

where :math:`D_{avg} = D / K` over the K stations with positive demand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from ...errors import ParameterError
from ._common import fmt, frame_html
from .mva import _network

if TYPE_CHECKING:
    from matplotlib.axes import Axes


@dataclass(frozen=True, repr=False, eq=False)
class BoundsResult:
    """Bounds for populations n = 1..N (arrays of shape (N,)).

    Attributes
    ----------
    N : ndarray
        Populations 1..N.
    X_lower, X_upper : ndarray
        Throughput bounds (per time unit of the demands).
    R_lower, R_upper : ndarray
        Response time bounds, think time excluded.
    n_star : float
        Knee of the asymptotic bounds, :math:`(D + Z) / \\max_k(D_k/c_k)`: below it
        the light-load bound is the binding one.
    kind : str
        ``"asymptotic"`` or ``"asymptotic+balanced"``.
    """

    N: np.ndarray
    X_lower: np.ndarray
    X_upper: np.ndarray
    R_lower: np.ndarray
    R_upper: np.ndarray
    n_star: float
    kind: str

    def to_frame(self) -> pd.DataFrame:
        """Tidy frame, one row per population."""
        return pd.DataFrame({"n": self.N, "X_lower": self.X_lower, "X_upper": self.X_upper,
                             "R_lower": self.R_lower, "R_upper": self.R_upper})

    def plot(self, ax: Axes | None = None, metric: str = "throughput") -> Axes:
        """Shade the throughput (or ``"response_time"``) band between the bounds; returns Axes."""
        if metric not in ("throughput", "response_time"):
            raise ParameterError(
                f"metric must be 'throughput' or 'response_time', got {metric!r}")
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots()
        lo, hi = ((self.X_lower, self.X_upper) if metric == "throughput"
                  else (self.R_lower, self.R_upper))
        ax.fill_between(self.N, lo, hi, alpha=0.3, label=f"{self.kind} bounds")
        ax.set_xlabel("population n (requests in flight)")
        ax.set_ylabel("throughput X(n) (per time unit)" if metric == "throughput"
                      else "response time R(n) (time unit)")
        ax.legend()
        return ax

    def __repr__(self) -> str:
        n = len(self.N)
        return (f"BoundsResult({self.kind}, N=1..{n}: {fmt(self.X_lower[-1])} <= X({n}) <= "
                f"{fmt(self.X_upper[-1])}, {fmt(self.R_lower[-1])} <= R({n}) <= "
                f"{fmt(self.R_upper[-1])}, n*={fmt(self.n_star)})")

    def _repr_html_(self) -> str:
        df = self.to_frame()
        if len(df) > 10:
            df = pd.concat([df.head(5), df.tail(5)])
        return frame_html(df, f"{self.kind} bounds, knee n* = {fmt(self.n_star)}")


def bounds(demands: ArrayLike, N: int, think: float = 0.0, servers: ArrayLike | None = None) -> BoundsResult:
    """Asymptotic (and, for single-server networks, balanced-job) bounds for n = 1..N.

    Parameters are those of :func:`~iovmodel.solve.analytic.mva`; see the module
    docstring for the formulas.
    """
    net = _network(demands, N, think, servers)
    D, c, Z = net.D, net.c, net.Z
    n = np.arange(1, net.N + 1, dtype=float)
    delay = np.isinf(c)
    q = ~delay & (D > 0)
    D_total = float(D.sum())
    per_server_max = float((D[q] / c[q]).max()) if q.any() else 0.0
    x_cap = 1.0 / per_server_max if per_server_max > 0 else math.inf

    X_up = np.minimum(n / (D_total + Z), x_cap)
    R_low = np.maximum(D_total, n * per_server_max - Z)
    R_up = float(D[delay].sum()) + (D[q][None, :] * (n[:, None] + c[q][None, :] - 1.0)
                                    / c[q][None, :]).sum(axis=1)
    X_low = n / (Z + R_up)
    kind = "asymptotic"

    if q.any() and (c[q] == 1).all():
        Zb = Z + float(D[delay].sum())
        Dq = D[q]
        Dsum, Dmax, Davg = float(Dq.sum()), float(Dq.max()), float(Dq.mean())
        xb_up = n / (Dsum + Zb + (n - 1.0) * Davg / (1.0 + Zb / Dsum))
        xb_low = n / (Dsum + Zb + (n - 1.0) * Dmax / (1.0 + Zb / (n * Dsum)))
        X_up = np.minimum(X_up, xb_up)
        X_low = np.maximum(X_low, xb_low)
        R_low = np.maximum(R_low, n / xb_up - Z)
        R_up = np.minimum(R_up, n / xb_low - Z)
        kind = "asymptotic+balanced"

    n_star = (D_total + Z) / per_server_max if per_server_max > 0 else math.inf
    arrays = dict(N=n.astype(np.int64), X_lower=X_low, X_upper=X_up, R_lower=R_low, R_upper=R_up)
    for a in arrays.values():
        a.setflags(write=False)
    return BoundsResult(n_star=n_star, kind=kind, **arrays)
