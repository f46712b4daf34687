"""FitResult: the calibrated profile, its parameter table, residuals and intervals.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..spec.profile import HostProfile
from .predict import ADDED_COLUMNS as _ADDED
from .predict import predict

if TYPE_CHECKING:
    from matplotlib.axes import Axes


@dataclass(frozen=True, repr=False, eq=False)
class FitResult:
    """A calibrated host profile with its uncertainty and residuals.

    Attributes
    ----------
    profile : HostProfile
        The start profile with the free costs replaced by their fitted values.
    start : HostProfile
        The profile the fit started from.
    params : DataFrame
        One row per free cost (index: name): ``value, start, stderr`` (µs or the
        cost's unit), ``ci_lo, ci_hi`` (95 %, from the covariance), ``at_bound``
        (the fit sits on a bound of its box), ``identifiable``, ``lo, hi`` (the
        box), and with ``n_boot`` ``boot_lo, boot_hi`` (2.5 / 97.5 % bootstrap
        percentiles).
    residuals : DataFrame
        The measured rows plus ``measured``, ``predicted``, ``rel_error``
        ((predicted - measured) / measured) and ``log_error``.
    correlation : DataFrame
        Correlation matrix of the free costs (log scale).
    covariance : DataFrame or None
        Covariance matrix of the free costs' logarithms (the Laplace approximation's with
        priors, the Gauss-Newton one without; NaN where the data leave no degrees of
        freedom): what :meth:`predict` propagates to its prediction bands.
    r2 : float
        Coefficient of determination of log(predicted) on log(measured).
    mape : float
        Median absolute percentage error, %.
    dof : int
        Rows minus free costs.
    success : bool
    message : str
        The optimiser's.
    nfev : int
        Model evaluations of the optimiser.
    notes : tuple of str
        Ignored option keys, warnings raised, costs left at their priors, rows with no
        prediction.
    ignored : DataFrame or None
        With ``metrics=`` (the default for files): the rows left out, with a
        ``reason`` column.
    per_group : dict or None
        A hierarchical fit's (``fit(by=...)``) own costs of each group:
        group -> {cost: value}.
    prior : "typical", dict or None
        The priors of the fit (``fit(prior=...)``); with a prior ``params`` also holds
        ``prior_median, prior_lo, prior_hi`` (the prior's central 95 %), the intervals
        are the Laplace approximation's and ``identifiable`` means "informed by the
        data" (posterior spread under half the prior's).
    options : dict
        How rows were predicted (``percentiles``, ``sim_options``, ``batching``), so
        :meth:`predict` predicts as the fit did.
    """

    profile: HostProfile
    start: HostProfile
    params: pd.DataFrame
    residuals: pd.DataFrame
    correlation: pd.DataFrame
    r2: float
    mape: float
    dof: int
    success: bool
    message: str
    nfev: int
    loss: str = "linear"
    boot: pd.DataFrame | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    options: Mapping[str, Any] = field(default_factory=dict)
    prior: Any = None
    ignored: pd.DataFrame | None = None
    per_group: Mapping[str, Mapping[str, float]] | None = None
    covariance: pd.DataFrame | None = None

    def predict(self, measurements: pd.DataFrame | None = None, *,
                level: float | None = None) -> pd.DataFrame:
        """Predict rows with the fitted profile (and fitted batch), as the fit did.

        Parameters
        ----------
        measurements : DataFrame, optional
            Rows in the tidy schema (default: the rows fitted). Rows to predict need no
            ``value``: their ``measured`` is then NaN.
        level : float, optional
            With a level in (0, 1) (``0.95``), each row also gets a prediction band,
            ``predicted_lo`` and ``predicted_hi``, and ``band_log_halfwidth``: the fitted costs'
            uncertainty (:attr:`covariance`) carried to the row by the delta method plus
            the fit's own misses of its rows, the model's error
            (:mod:`iovmodel.calibrate.bands`); with a measurement, ``inside`` says
            whether the band holds it.

        Returns
        -------
        DataFrame
            The rows plus ``measured``, ``predicted``, ``rel_error``, ``log_error`` (and
            the band's columns).
        """
        from .bands import restore, unmeasured, with_band

        if measurements is None:
            measurements = self.residuals.drop(columns=list(_ADDED))
        if level is not None:
            return with_band(self, measurements, level)
        work, mask = unmeasured(measurements)
        out = predict(work, self.profile, batch=self.batch, per_group=self.per_group,
                      **dict(self.options))
        return restore(out, measurements, mask)

    def profile_of(self, group: str) -> HostProfile:
        """The profile of one group of a hierarchical fit: shared costs plus its own."""
        if not self.per_group or group not in self.per_group:
            raise KeyError(f"no fitted group {group!r}; groups: {sorted(self.per_group or {})}")
        return self.profile.replace(**dict(self.per_group[group]))

    @property
    def free(self) -> tuple[str, ...]:
        """Names of the fitted costs (and ``"batch"`` when it was fitted)."""
        return tuple(self.params.index)

    @property
    def batch(self) -> float | None:
        """The fitted effective batch (requests per kick / interrupt) of the rows that
        state none, when ``free`` named ``"batch"``; else None."""
        return float(self.params.loc["batch", "value"]) if "batch" in self.params.index else None

    @property
    def median_abs_pct_error(self) -> float:
        """Median absolute percentage error, % (same as :attr:`mape`)."""
        return self.mape

    def to_frame(self) -> pd.DataFrame:
        """The parameter table as a tidy frame (column ``name`` first)."""
        return self.params.reset_index(names="name")

    def report(self, file: Any = None) -> None:
        """Print the text report (:meth:`summary`), also from inside a notebook cell.

        Parameters
        ----------
        file : file-like, optional
            Where to print (default standard output).
        """
        print(self.summary(), file=file)

    def summary(self) -> str:
        """The text report: goodness of fit, the parameters, the largest residuals."""
        how = "MAP with priors from the typical ranges" if self.prior is not None else \
            "least squares"
        lines = [f"fit of {len(self.params)} cost(s) to {len(self.residuals)} row(s) "
                 f"(dof {self.dof}, {how}, loss {self.loss}): {self.message}",
                 f"  R^2 (log scale) {self.r2:.4f}; median |error| {self.mape:.2f} %; "
                 f"max |error| {100 * self.residuals['rel_error'].abs().max():.1f} %"]
        from .bands import model_halfwidth, model_spread

        sm = model_spread(self)
        if math.isfinite(sm):
            hm = model_halfwidth(self, 0.95)
            lines.append(f"  model scatter about these rows {sm:.3f} (log scale): a new row's "
                         f"95 % band spans at least a factor {math.exp(hm):.2f} either side of "
                         "its prediction "
                         "(predict(..., level=0.95) adds the costs' own uncertainty)")
        # a hierarchical fit's per-group costs carry their group: "device_blk_us[host a]"
        w = max([18, *(len(str(n)) for n in self.params.index)])
        lines.append(f"  {'cost':<{w}} {'value':>10} {'stderr':>10} {'95% CI':>23} {'start':>9}")
        for name, p in self.params.iterrows():
            flag = " at bound" if p["at_bound"] else ""
            if not p["identifiable"]:
                flag += " at prior (data do not inform it)" if self.prior is not None else \
                    " NOT IDENTIFIABLE"
            ci = f"[{p['ci_lo']:.4g}, {p['ci_hi']:.4g}]"
            lines.append(f"  {name:<{w}} {p['value']:>10.4g} {p['stderr']:>10.3g} {ci:>23} "
                         f"{p['start']:>9.4g}{flag}")
            if "boot_lo" in p and np.isfinite(p["boot_lo"]):
                lines.append(f"  {'':<{w}} bootstrap 95% [{p['boot_lo']:.4g}, {p['boot_hi']:.4g}]")
        worst = self.residuals.reindex(self.residuals["rel_error"].abs()
                                       .sort_values(ascending=False).index).head(5)
        lines.append("  largest residuals:")
        for _, r in worst.iterrows():
            lines.append(f"    {r['path']:<24} {r['metric']:<18} measured {r['measured']:.4g} "
                         f"predicted {r['predicted']:.4g} ({100 * r['rel_error']:+.1f} %)")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"<FitResult {len(self.params)} cost(s) from {len(self.residuals)} rows: "
                f"R^2 {self.r2:.3f}, median |error| {self.mape:.1f} %>")

    def _repr_html_(self) -> str:
        esc = html.escape
        from .bands import model_halfwidth

        hm = model_halfwidth(self, 0.95)
        band = (f" · a new row's 95 % band ≥ ×/÷ <b>{math.exp(hm):.2f}</b>"
                if math.isfinite(hm) else "")
        head = (f"<b>fit</b> of {len(self.params)} cost(s) to {len(self.residuals)} rows · "
                f"R² (log) <b>{self.r2:.3f}</b> · median |error| <b>{self.mape:.1f} %</b>"
                f"{band} · {esc(self.message)}")
        cols = [c for c in ("value", "stderr", "ci_lo", "ci_hi", "start", "prior_lo",
                            "prior_hi", "at_bound", "identifiable", "boot_lo", "boot_hi")
                if c in self.params]
        table = self.params[cols].to_html(float_format=lambda x: f"{x:.4g}")
        notes = "".join(f"<br><small>{esc(n)}</small>" for n in self.notes)
        return f"<div>{head}{table}{notes}</div>"

    def plot(self, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """Measured against predicted (log-log, y = x) with residuals; returns the Axes."""
        try:
            from ..plot import measured_vs_predicted
        except ImportError:
            measured_vs_predicted = None
        if measured_vs_predicted is not None:
            return measured_vs_predicted(self, ax=ax, **kwargs)
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        df = self.residuals
        for metric, g in df.groupby("metric"):
            ax.scatter(g["measured"], g["predicted"], label=metric, s=14)
            ax.vlines(g["measured"], g["measured"], g["predicted"], lw=0.6, alpha=0.5)
        lo = float(min(df["measured"].min(), df["predicted"].min()))
        hi = float(max(df["measured"].max(), df["predicted"].max()))
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set(xscale="log", yscale="log", xlabel="measured", ylabel="predicted")
        ax.legend(fontsize="small")
        return ax
