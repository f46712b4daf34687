r"""Prediction bands: what a fit does not know about the rows it predicts.

A fitted profile predicts a row with two kinds of uncertainty, both on the log scale (the
fit's errors are relative):

* the costs': the fit's covariance of the log costs :math:`\Sigma` (the Laplace
  approximation of the posterior with priors, the Gauss-Newton one without;
  :attr:`FitResult.covariance`) carried to the row by the delta method,
  :math:`s_\theta^2 = J \Sigma J^\top`, with :math:`J` the row's derivatives of the log
  prediction by the log costs (forward differences, one prediction per free cost);
* the model's: how far the fitted model itself misses the rows it was fitted to, the
  robust spread of its log residuals :math:`s_m = 1.4826\,\mathrm{median}|\log
  \hat y - \log y|` (the normal-consistent median absolute deviation about zero, the
  spread the fit's own Laplace intervals are scaled by).

The band's half-width on the log scale is :math:`\sqrt{(t\,s_\theta)^2 + h_m^2}`: the
usual prediction interval of a regression, the parameters' variance plus the residual
variance (e.g. Seber & Wild, *Nonlinear Regression*, 1989, section 5.3), taken on the log
scale. t is Student's quantile of the level with the degrees of freedom the scatter's
estimate carries (the rows less the free parameters, times 0.37, the median absolute
deviation's efficiency at the normal: Rousseeuw & Croux, JASA 88, 1993, 1273-1283), and
:math:`s_m` is scaled by :math:`\sqrt{n/(n-p)}` for the p parameters fitted to the n rows.
The model's term :math:`h_m` is the larger of :math:`t\,s_m` and the split-conformal
quantile of the absolute log residuals (the :math:`\lceil (n+1)\,\mathrm{level} \rceil`-th
smallest; Lei, G'Sell, Rinaldo, Tibshirani & Wasserman, "Distribution-free predictive
inference for regression", JASA 113, 2018): a model that misses a few rows by far more than
the rest (heavy tails, as real data have) gets a band as wide as its own misses, not a
normal's. With fewer rows than that rank needs, only the normal term is used.

The band assumes the new rows are like the fitted ones: a row far outside them (another
path, a load beyond the fitted range) can miss by more, and ``benchmarks/bench_fidelity.py``
prints how often the bands hold rows their fit never saw (87 % of the extrapolated and 94 %
of the held-out bundled rows when this was written)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ParameterError
from ..spec.profile import parameters
from .predict import predict

#: a :class:`~iovmodel.calibrate.result.FitResult` (not imported: result imports this module)
FitResult = Any

#: forward-difference step in log cost (a 1 % change): small against any cost's uncertainty,
#: large against the solvers' round-off
STEP = 0.01
#: normal-consistency factor of the median absolute deviation
MAD_NORMAL = 1.4826
#: the median absolute deviation's asymptotic efficiency at the normal (Rousseeuw & Croux
#: 1993): the degrees of freedom its estimate of the scatter is worth, per residual
MAD_EFFICIENCY = 0.37


def check_level(level: float) -> float:
    """``level`` as a float in (0, 1), else a ParameterError naming it."""
    try:
        x = float(level)
    except (TypeError, ValueError):
        raise ParameterError(f"level must be a number in (0, 1), got {level!r}") from None
    if not (0.0 < x < 1.0):
        raise ParameterError(f"level must be in (0, 1) (0.95 for a 95 % band), got {level!r}")
    return x


def _counts(fit: FitResult) -> tuple[int, int]:
    lr = np.asarray(fit.residuals["log_error"], dtype=float)
    return int(np.isfinite(lr).sum()), len(fit.params)


def model_spread(fit: FitResult) -> float:
    """The fit's robust spread of log residuals about zero (:math:`s_m`, normal-consistent
    median absolute deviation, scaled by sqrt(n / (n - p))); 0 for a fit that matches every
    row."""
    lr = np.asarray(fit.residuals["log_error"], dtype=float)
    lr = lr[np.isfinite(lr)]
    n, p = _counts(fit)
    if not lr.size:
        return math.nan
    dof = math.sqrt(n / (n - p)) if n > p else 1.0
    return MAD_NORMAL * float(np.median(np.abs(lr))) * dof


def quantile(fit: FitResult, level: float) -> float:
    """Student's quantile of the two-sided ``level`` with the scatter estimate's degrees of
    freedom, ``MAD_EFFICIENCY * (n - p)`` (at least 1)."""
    from scipy import stats  # scipy.linalg loads inside a fit's BLAS limit (iovmodel._threads)

    n, p = _counts(fit)
    nu = max(1.0, MAD_EFFICIENCY * (n - p))
    return float(stats.t.ppf(0.5 + level / 2.0, nu))


def _predict(fit: FitResult, rows: pd.DataFrame, values: dict[str, float]) -> np.ndarray:
    """Predictions of ``rows`` with the fit's free parameters set to ``values``."""
    shared = {k: v for k, v in values.items() if "[" not in k and k != "batch"}
    per_group = {g: dict(c) for g, c in (fit.per_group or {}).items()}
    for k, v in values.items():
        if "[" in k:
            cost, unit = k[:-1].split("[", 1)
            per_group.setdefault(unit, {})[cost] = v
    out = predict(rows, fit.profile.replace(**shared) if shared else fit.profile,
                  batch=values.get("batch", fit.batch), per_group=per_group or None,
                  **dict(fit.options))
    return out["predicted"].to_numpy(dtype=float)


def log_jacobian(fit: FitResult, rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The fitted predictions of ``rows`` and their derivatives by the log of each free
    parameter (rows x parameters; forward differences of :data:`STEP`, backwards for a
    parameter at its upper bound)."""
    names = list(fit.params.index)
    vals = {k: float(fit.params.loc[k, "value"]) for k in names}
    p0 = _predict(fit, rows, vals)
    decl = parameters()
    J = np.zeros((len(rows), len(names)))
    for j, k in enumerate(names):
        base = k[:-1].split("[", 1)[0] if "[" in k else k
        hi = float(fit.params.loc[k, "hi"]) if "hi" in fit.params else math.inf
        if base in decl:
            hi = min(hi, decl[base].bounds[1])
        h = STEP if vals[k] * math.exp(STEP) <= hi else -STEP
        pk = _predict(fit, rows, {**vals, k: vals[k] * math.exp(h)})
        with np.errstate(divide="ignore", invalid="ignore"):
            J[:, j] = (np.log(pk) - np.log(p0)) / h
    return p0, J


def unmeasured(rows: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """``rows`` with a stand-in ``value`` (1) where none is given (no column, or NaN), so they
    can be predicted, and the mask of those rows."""
    if "value" not in rows:
        mask = np.ones(len(rows), dtype=bool)
        work = rows.assign(value=1.0)
    else:
        mask = rows["value"].isna().to_numpy()
        work = rows.copy()
        work.loc[mask, "value"] = 1.0
    return work, mask


def restore(out: pd.DataFrame, rows: pd.DataFrame, mask: np.ndarray) -> pd.DataFrame:
    """Undo :func:`unmeasured` on a prediction frame: no measurement, no error."""
    if mask.any():
        for col in ("measured", "rel_error", "log_error"):
            out[col] = np.where(mask, np.nan, out[col].to_numpy(dtype=float))
        if "value" in rows:
            out["value"] = rows["value"].to_numpy()
        else:
            out = out.drop(columns="value")
    return out


def model_halfwidth(fit: FitResult, level: float) -> float:
    """The model's term of the band's log half-width, :math:`h_m` (module docstring)."""
    t = quantile(fit, level)
    sm = model_spread(fit)
    lr = np.abs(np.asarray(fit.residuals["log_error"], dtype=float))
    lr = np.sort(lr[np.isfinite(lr)])
    k = math.ceil((lr.size + 1) * level)
    conformal = float(lr[k - 1]) if 1 <= k <= lr.size else 0.0
    return max(t * sm, conformal)


def with_band(fit: FitResult, rows: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """``rows`` predicted by ``fit`` with a prediction band at ``level`` (module docstring).

    Rows without a ``value`` column, or with NaN there, are predicted too (``measured``
    NaN). Returns the rows plus ``measured``, ``predicted``, ``rel_error``, ``log_error``,
    ``predicted_lo``, ``predicted_hi``, ``band_log_halfwidth`` (log(hi / predicted)) and
    ``inside`` (the band holds the measurement; NA without one). A fit without a covariance
    gives NaN bands.
    """
    level = check_level(level)
    work, mask = unmeasured(rows)
    out = predict(work, fit.profile, batch=fit.batch, per_group=fit.per_group,
                  **dict(fit.options))
    p0, J = log_jacobian(fit, work)
    cov = fit.covariance
    if cov is None:
        var_theta = np.full(len(work), np.nan)
    elif not len(fit.params):
        var_theta = np.zeros(len(work))
    else:
        names = list(fit.params.index)
        C = cov.loc[names, names].to_numpy(dtype=float)
        var_theta = np.einsum("ij,jk,ik->i", J, C, J)
    t = quantile(fit, level)
    half = np.sqrt(t**2 * np.clip(var_theta, 0.0, None) + model_halfwidth(fit, level) ** 2)
    return attach(restore(out, rows, mask), p0, half, level)


def attach(out: pd.DataFrame, p0: np.ndarray, half: np.ndarray, level: float) -> pd.DataFrame:
    """Put a band of log half-width ``half`` around the predictions ``p0`` on ``out``:
    ``predicted_lo``, ``predicted_hi``, ``band_log_halfwidth``, ``inside`` (NA where there
    is no measurement or no band) and ``attrs["level"]``."""
    out["predicted_lo"] = p0 * np.exp(-half)
    out["predicted_hi"] = p0 * np.exp(half)
    out["band_log_halfwidth"] = half
    m = out["measured"].to_numpy(dtype=float)
    inside = (m >= out["predicted_lo"].to_numpy()) & (m <= out["predicted_hi"].to_numpy())
    known = np.isfinite(m) & np.isfinite(half) & np.isfinite(p0)
    out["inside"] = pd.array([bool(x) if k else pd.NA for x, k in zip(inside, known, strict=True)],
                             dtype="boolean")
    out.attrs["level"] = level
    return out
