"""SimResult: the analytic Result's fields plus what only a simulation gives."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ...errors import ParameterError
from ...result import Result
from .stats import t_interval

if TYPE_CHECKING:
    from matplotlib.axes import Axes

_NAN2 = (math.nan, math.nan)



@dataclass(frozen=True, repr=False)
class SimResult(Result):
    """A Monte Carlo estimate: :class:`~iovmodel.result.Result` fields are means over
    replications; the extras carry their uncertainty.

    Attributes
    ----------
    latency_ci_us, throughput_ci_per_s : tuple of float
        95% Student-t confidence intervals over replications (NaN with one).
    percentiles_us : dict
        ``p50, p90, p99, p99.9`` of the latency, µs (means over replications).
    histogram : DataFrame
        ``lo_us, hi_us, count, density_per_us`` on a log-linear grid (16 bins per octave),
        pooled over replications, after warm-up removal.
    replications : DataFrame
        One row per replication: ``replication, requests`` (measured, after the
        warm-up), ``warmup_requests`` (dropped), ``sim_time_us`` (measured span),
        ``throughput_per_s, latency_us, p50_us, ..., cpu_us_per_io,
        guest_cpu_us_per_io, util_<resource>``.
    requests : int
        Completions recorded per replication (including the warm-up).
    seed : int or None
        The root entropy of ``numpy.random.SeedSequence``: pass it back to get
        the same numbers.
    engine : str
        ``"event"`` (the event loop) or ``"recursion"`` (exact recursions).
    """

    latency_ci_us: tuple[float, float] = _NAN2
    throughput_ci_per_s: tuple[float, float] = _NAN2
    percentiles_us: Mapping[str, float] = field(default_factory=dict)
    histogram: pd.DataFrame | None = None
    replications: pd.DataFrame | None = None
    requests: int = 0
    seed: int | None = None
    engine: str = "event"

    def interval(self, metric: str = "latency_us", level: float = 0.95) -> tuple[float, float]:
        """Student-t interval of a per-replication column at another ``level``.

        ``metric``: any numeric column of :attr:`replications` (``latency_us``,
        ``throughput_per_s``, ``p99_us``, ``util_<resource>``, ...).
        """
        if self.replications is None or metric not in self.replications:
            cols = [] if self.replications is None else list(self.replications.columns)
            raise ParameterError(f"interval: unknown metric {metric!r}; choose from {cols}")
        if not (0 < level < 1):
            raise ParameterError(f"interval: level must be in (0, 1), got {level!r}")
        return t_interval(self.replications[metric].to_numpy(dtype=float), level)

    def to_frame(self) -> pd.DataFrame:
        """One tidy row: the analytic Result's columns, then CIs and percentiles."""
        df = super().to_frame()
        extra = {
            "latency_ci_low_us": self.latency_ci_us[0], "latency_ci_high_us": self.latency_ci_us[1],
            "throughput_ci_low_per_s": self.throughput_ci_per_s[0],
            "throughput_ci_high_per_s": self.throughput_ci_per_s[1],
            **{f"{k}_us": v for k, v in self.percentiles_us.items()},
            "replications": 0 if self.replications is None else len(self.replications),
            "requests": self.requests, "seed": self.seed, "engine": self.engine,
        }
        for k, v in extra.items():
            df[k] = [v]
        return df

    def plot_latency(self, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """Latency distribution: the pooled histogram as a density on a log axis,
        percentiles marked. Returns the Axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(4.0, 2.6))
        h = self.histogram
        if h is not None and len(h):
            edges = np.append(h["lo_us"].to_numpy(), h["hi_us"].to_numpy()[-1])
            ax.stairs(h["density_per_us"].to_numpy(), edges, label=self.path, **kwargs)
            ax.set_xscale("log")
        for k, v in self.percentiles_us.items():
            ax.axvline(v, lw=0.6, ls=":", color="0.4")
            ax.annotate(k, (v, 1.0), xycoords=("data", "axes fraction"), fontsize=7,
                        rotation=90, va="top", ha="right", color="0.3")
        ax.set_xlabel("latency (µs)")
        ax.set_ylabel("density (per µs)")
        return ax

    def summary(self) -> str:
        """The analytic summary plus intervals, percentiles and the run size."""
        lo, hi = self.latency_ci_us
        xlo, xhi = self.throughput_ci_per_s
        n = 0 if self.replications is None else len(self.replications)
        pct = ", ".join(f"{k} {v:.3g}" for k, v in self.percentiles_us.items())
        return (self._summary_body() + "\n"
                f"  95% CI: latency [{lo:.4g}, {hi:.4g}] µs, throughput [{xlo:,.0f}, {xhi:,.0f}] IO/s"
                f"\n  latency percentiles (µs): {pct}"
                f"\n  {n} replications x {self.requests:,} requests ({self.engine}), seed {self.seed}"
                + self._assumptions_text())

    def __repr__(self) -> str:
        lo, hi = self.latency_ci_us
        ci = f" [{lo:.3g}, {hi:.3g}]" if math.isfinite(lo) else ""
        n = 0 if self.replications is None else len(self.replications)
        return (f"<SimResult {self.path}: {self.throughput_per_s:,.0f} IO/s, "
                f"{self.latency_us:.3g} µs{ci}, p99 {self.percentiles_us.get('p99', math.nan):.3g} µs, "
                f"{n} x {self.requests:,} requests>")

    def _repr_html_(self) -> str:
        esc = html.escape
        lo, hi = self.latency_ci_us
        xlo, xhi = self.throughput_ci_per_s
        pct = " · ".join(f"{k} {v:.3g}" for k, v in self.percentiles_us.items())
        n = 0 if self.replications is None else len(self.replications)
        head = (f"<b>{esc(self.path)}</b> — {esc(repr(self.workload))} (simulation, "
                f"{n} x {self.requests:,} requests, seed {esc(str(self.seed))})<br>"
                f"throughput <b>{self.throughput_per_s:,.0f}</b> IO/s [{xlo:,.0f}, {xhi:,.0f}] · "
                f"latency <b>{self.latency_us:.3g}</b> µs [{lo:.3g}, {hi:.3g}] (95% CI)<br>"
                f"percentiles (µs): {esc(pct)} · host CPU {self.cpu_us_per_io:.3g} µs/IO · "
                f"bottleneck {esc(self.bottleneck)}")
        return f"<div>{head}{self._html_tail()}"

    def _repr_latex_(self) -> None:
        return None  # no closed form for a simulation


def histogram_frame(edges_us: np.ndarray, counts: np.ndarray) -> pd.DataFrame:
    """Trimmed tidy histogram (first to last non-empty bin)."""
    nz = np.flatnonzero(counts)
    if nz.size == 0:
        return pd.DataFrame(columns=["lo_us", "hi_us", "count", "density_per_us"])
    a, b = nz[0], nz[-1] + 1
    lo, hi, c = edges_us[a:b], edges_us[a + 1: b + 1], counts[a:b]
    return pd.DataFrame({"lo_us": lo, "hi_us": hi, "count": c,
                         "density_per_us": c / c.sum() / (hi - lo)})


__all__ = ["SimResult", "histogram_frame"]

