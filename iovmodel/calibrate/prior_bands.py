r"""Bands before any fit: what the published cost ranges alone allow.

Every cost in ``costs.toml`` carries a published typical range, and the fit's prior of a
cost (:func:`~iovmodel.calibrate.fit.prior_of`) is the log-normal that puts that range in
its central 95 %. Before fitting anything, a row's prediction is uncertain by as much as
those ranges are: :func:`prior_band` carries the priors' log standard deviations
:math:`\sigma_j` of every cost the row's path uses to the row by the delta method,
:math:`s^2 = \sum_j J_j^2 \sigma_j^2` (the costs independent a priori; :math:`J_j` the
derivative of the log prediction by :math:`\ln c_j`, forward differences around the
profile's values), and the band is :math:`\hat y \exp(\pm z s)`, z the normal quantile of
the level. It has no term for the model's own error (nothing has been fitted that could
measure it), so it says how far the costs' published spread alone moves a prediction;
``benchmarks/bench_fidelity.py`` prints how often such bands hold the bundled measurements.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ..spec.profile import HostProfile, parameters
from .bands import STEP, attach, check_level, restore, unmeasured
from .fit import _is_count, _used_costs, prior_of
from .predict import predict
from .rows import _parse


def prior_band(rows: pd.DataFrame, host: HostProfile | None = None, level: float = 0.95,
               **options: Any) -> pd.DataFrame:
    """Predict ``rows`` with ``host`` (default: the default profile) and the band the costs'
    published typical ranges give them (module docstring).

    Parameters
    ----------
    rows : DataFrame
        Rows in the tidy schema; rows without a ``value`` (no column, or NaN) are
        predicted too, with ``measured`` NaN.
    host : HostProfile, optional
        The costs predicted with (the band is taken around them).
    level : float
        In (0, 1): 0.95 for a 95 % band.
    **options
        Passed to :func:`~iovmodel.calibrate.predict.predict` (``percentiles``,
        ``batching``, ...).

    Returns
    -------
    DataFrame
        The rows plus ``measured``, ``predicted``, ``rel_error``, ``log_error``,
        ``predicted_lo``, ``predicted_hi``, ``band_log_halfwidth`` and ``inside`` (NA
        without a measurement).

    Raises
    ------
    ParameterError
        A level outside (0, 1); the errors of :func:`predict` for bad rows.
    """
    from scipy import stats  # scipy.linalg loads inside a fit's BLAS limit (iovmodel._threads)

    level = check_level(level)
    host = host if host is not None else HostProfile.default()
    work, mask = unmeasured(rows)
    out = predict(work, host, **options)
    p0 = out["predicted"].to_numpy(dtype=float)
    parsed, _ = _parse(work)
    decl = parameters()
    var = np.zeros(len(work))
    for name in _used_costs(parsed):
        if _is_count(name) or host[name] <= 0:
            continue
        sigma = prior_of(name)[1]
        v = host[name]
        h = STEP if v * math.exp(STEP) <= decl[name].bounds[1] else -STEP
        pk = predict(work, host.replace(**{name: v * math.exp(h)}),
                     **options)["predicted"].to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            d = (np.log(pk) - np.log(p0)) / h
        var += np.where(np.isfinite(d), d, 0.0) ** 2 * sigma**2
    half = float(stats.norm.ppf(0.5 + level / 2.0)) * np.sqrt(var)
    return attach(restore(out, rows, mask), p0, half, level)
