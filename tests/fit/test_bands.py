"""Prediction bands (iovmodel.calibrate.bands): the fitted costs' uncertainty plus the model's
own scatter, carried to new rows.

Reference behaviour comes from outside the band code: synthetic measurements made by the
solver with seeded log-normal noise of known spread (a correctly specified model), on which
a 95 % prediction interval of a regression must hold about 95 % of fresh measurements
(Seber & Wild, *Nonlinear Regression*, 1989, section 5.3); and the delta method's spread
against Monte Carlo draws from the same Laplace posterior (the linearisation checked by
sampling).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

import iovmodel as iov
from iovmodel.calibrate import bands
from iovmodel.calibrate.bands import _predict, log_jacobian, model_spread
from iovmodel.errors import ParameterError
from iovmodel.fit import crossval, fit, predict, prior_band, prior_of

FREE = ["virtqueue_us", "vhost_us", "device_blk_us"]
TRUE = {"virtqueue_us": 1.5, "vhost_us": 0.9, "device_blk_us": 60.0}
NOISE = 0.10  # log-normal spread of the synthetic measurements


def design(repeats: int = 1) -> pd.DataFrame:
    """IOPS and latency over jobs on paths that separate the three costs (as tests/fit/
    test_fit.py's design), each condition ``repeats`` times."""
    rows = []
    for name, opts in [("virtio-blk", ""), ("vhost-scsi", "workers=1"),
                       ("vhost-scsi", "workers=4")]:
        for jobs in (1, 2, 4, 8, 16, 32, 64):
            for metric in ("iops", "latency_us"):
                rows += [{"path": name, "options": opts, "jobs": jobs, "iodepth": 1,
                          "size_bytes": 4096, "metric": metric, "value": 1.0}] * repeats
    return pd.DataFrame(rows)


def noisy(df: pd.DataFrame, seed: int) -> pd.DataFrame:
    truth = iov.HostProfile.default().replace(**TRUE)
    exact = predict(df, truth)["predicted"].to_numpy()
    rng = np.random.default_rng(seed)
    return df.assign(value=exact * np.exp(rng.normal(0.0, NOISE, len(df))))


@pytest.fixture(scope="module")
def fitted():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit(noisy(design(3), 1), free=FREE)


def test_95_percent_bands_hold_about_95_percent_of_fresh_measurements(fitted):
    # a correctly specified model, 10 % log-normal noise: 8 fits of 126 rows each, each
    # predicting 2 x 126 fresh measurements of the same conditions (2,016 in all). The
    # pooled share must be near 95 % (binomial sd 0.5 %; each fit's own estimate of the
    # scatter varies by some 8 %, which moves its coverage by a few per cent: the pooled
    # mean of 8 fits has an sd near 1 %)
    shares, spreads = [], []
    for seed in range(1, 9):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            f = fit(noisy(design(3), seed), free=FREE)
        spreads.append(model_spread(f))
        for fresh_seed in (100 + seed, 200 + seed):
            out = f.predict(noisy(design(3), fresh_seed), level=0.95)
            shares.append(float(out["inside"].astype(bool).mean()))
    assert 0.925 <= np.mean(shares) <= 0.975, shares
    # the model's scatter is the noise put in (MAD of residuals, normal-consistent)
    assert np.mean(spreads) == pytest.approx(NOISE, rel=0.15)
    # the costs' part alone is far narrower than the noise: without the model term the
    # band would be overconfident
    fresh = noisy(design(3), 5)
    p0, J = log_jacobian(fitted, fresh)
    C = fitted.covariance.to_numpy()
    sd_theta = np.sqrt(np.einsum("ij,jk,ik->i", J, C, J))
    assert np.median(sd_theta) < 0.5 * NOISE


def test_delta_method_spread_matches_monte_carlo_draws_from_the_posterior(fitted):
    # the costs' part of the band: the delta method's sd of the log prediction against
    # draws of the log costs from N(theta, covariance), each row predicted per draw
    rows = design(1).iloc[[0, 1, 14, 15, 28, 29, 40, 41]].reset_index(drop=True)
    p0, J = log_jacobian(fitted, rows)
    names = list(fitted.params.index)
    C = fitted.covariance.loc[names, names].to_numpy()
    sd_delta = np.sqrt(np.einsum("ij,jk,ik->i", J, C, J))
    theta = np.log(fitted.params["value"].to_numpy())
    rng = np.random.default_rng(3)
    draws = rng.multivariate_normal(theta, C, size=300)
    logs = np.array([np.log(_predict(fitted, rows, dict(zip(names, np.exp(t), strict=True))))
                     for t in draws])
    sd_mc = logs.std(axis=0, ddof=1)
    # 300 draws: the sampled sd is within ~8 % (2 standard errors) of the true one
    np.testing.assert_allclose(sd_mc, sd_delta, rtol=0.2)
    assert np.all(sd_delta > 0)


def test_band_brackets_the_prediction_and_widens_with_the_level(fitted):
    rows = design(1)
    a = fitted.predict(rows, level=0.5)
    b = fitted.predict(rows, level=0.95)
    pd.testing.assert_series_equal(a["predicted"], b["predicted"])
    assert (b["predicted_lo"] < b["predicted"]).all() and (b["predicted"] < b["predicted_hi"]).all()
    assert (b["predicted_lo"] < a["predicted_lo"]).all() and (a["predicted_hi"] < b["predicted_hi"]).all()
    # symmetric on the log scale: lo * hi = predicted^2
    np.testing.assert_allclose(b["predicted_lo"] * b["predicted_hi"], b["predicted"] ** 2,
                               rtol=1e-9)
    # the same predictions as without a band
    np.testing.assert_allclose(fitted.predict(rows)["predicted"], b["predicted"], rtol=1e-12)


def test_unmeasured_rows_are_predicted_with_a_band_and_no_error(fitted):
    new = pd.DataFrame({"path": ["virtio-blk", "virtio-blk"], "metric": ["iops", "iops"],
                        "jobs": [1, 1], "iodepth": [96, 128]})
    out = fitted.predict(new, level=0.9)
    assert "value" not in out
    assert out["measured"].isna().all() and out["rel_error"].isna().all()
    assert out["inside"].isna().all()
    assert (out["predicted_lo"] < out["predicted"]).all()
    plain = fitted.predict(new)
    np.testing.assert_allclose(plain["predicted"], out["predicted"], rtol=1e-12)
    # NaN values are unmeasured too, and keep their NaN
    out2 = fitted.predict(new.assign(value=[math.nan, 5e4]), level=0.9)
    assert math.isnan(out2["measured"][0]) and out2["measured"][1] == 5e4
    assert out2["inside"].isna()[0] and not out2["inside"].isna()[1]


@pytest.mark.parametrize("level", [0, 1, 1.5, -0.1, math.nan, "high"])
def test_a_bad_level_is_refused_by_name(fitted, level):
    with pytest.raises(ParameterError, match="level"):
        fitted.predict(design(1), level=level)


def test_crossval_reports_the_coverage_of_its_bands():
    df = noisy(design(1), 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cv = crossval(df, train=df["jobs"] <= 16, free=FREE, level=0.95)
    assert {"predicted_lo", "predicted_hi", "inside"} <= set(cv.columns)
    assert cv.attrs["coverage"] == pytest.approx(float(cv["inside"].astype(bool).mean()))
    assert cv.attrs["level"] == 0.95
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        by = crossval(df, by="path", free=FREE, level=0.9)
    assert by.attrs["coverage"] == pytest.approx(float(by["inside"].astype(bool).mean()))
    assert len(by) == len(df)


def contaminated(df: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Heavy-tailed errors, as real data have: 85 % of rows off by N(0, 0.05) in log, 15 %
    by N(0, 0.5) (a Tukey-style contaminated normal)."""
    truth = iov.HostProfile.default().replace(**TRUE)
    exact = predict(df, truth)["predicted"].to_numpy()
    rng = np.random.default_rng(seed)
    sd = np.where(rng.random(len(df)) < 0.15, 0.5, 0.05)
    return df.assign(value=exact * np.exp(rng.normal(0.0, sd)))


def test_heavy_tailed_misses_widen_the_band_to_the_conformal_quantile():
    # with a contaminated normal the MAD sees only the 5 % core: a normal band from it would
    # hold some 88 % of fresh rows; the split-conformal quantile of the absolute residuals
    # (Lei et al. 2018) keeps the pooled coverage near 95 %
    shares, normal_only = [], []
    for seed in range(1, 7):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            f = fit(contaminated(design(3), seed), free=FREE)
        fresh = contaminated(design(3), 300 + seed)
        out = f.predict(fresh, level=0.95)
        shares.append(float(out["inside"].astype(bool).mean()))
        half = bands.quantile(f, 0.95) * model_spread(f)
        lr = np.abs(np.log(out["measured"] / out["predicted"]))
        normal_only.append(float((lr <= half).mean()))
        assert bands.model_halfwidth(f, 0.95) > half
    assert 0.925 <= np.mean(shares) <= 0.975, shares
    assert np.mean(normal_only) < 0.91, normal_only


# ------------------------------------------------------------------ bands before a fit
def test_prior_band_of_a_sum_of_costs_matches_the_closed_form():
    # native-blk at one request in flight: R = guest_blk_us + device_blk_us + guest_irq_us
    # + wakeup_us (the catalog's hops, the app woken by its completion; nothing queues), so
    # d ln R / d ln c_j = c_j / R and the band's log half-width is
    # z sqrt(sum_j (c_j / R)^2 sigma_j^2), sigma_j the prior's (prior_of);
    # IOPS = 1 / R has the same
    host = iov.HostProfile.default()
    rows = pd.DataFrame({"path": "native-blk", "metric": ["latency_us", "iops"], "jobs": 1,
                         "iodepth": 1, "rw": "randread"})
    out = prior_band(rows, level=0.95)
    costs = ("guest_blk_us", "device_blk_us", "guest_irq_us", "wakeup_us")
    R = sum(host[c] for c in costs)
    assert out["predicted"][0] == pytest.approx(R)
    s = math.sqrt(sum((host[c] / R) ** 2 * prior_of(c)[1] ** 2 for c in costs))
    expect = 1.959963984540054 * s
    # forward differences of 1 % in the cost: exact for a linear sum up to the log's curvature
    np.testing.assert_allclose(out["band_log_halfwidth"], expect, rtol=0.02)
    assert out["measured"].isna().all() and out["inside"].isna().all()


def test_prior_band_holds_a_measurement_the_costs_can_reach():
    host = iov.HostProfile.default()
    rows = pd.DataFrame({"path": "native-blk", "metric": "latency_us", "jobs": 1, "iodepth": 1,
                         "rw": "randread", "value": [46.99 * 1.05, 46.99 * 50]})
    out = prior_band(rows, host, level=0.9)
    assert list(out["inside"]) == [True, False]
    wide = prior_band(rows, host, level=0.99)
    assert (wide["band_log_halfwidth"] > out["band_log_halfwidth"]).all()
    with pytest.raises(ParameterError, match="level"):
        prior_band(rows, host, level=1.0)


def test_the_fit_states_its_band_in_the_report_and_in_a_notebook(fitted):
    factor = math.exp(bands.model_halfwidth(fitted, 0.95))
    assert f"{factor:.2f}" in fitted.summary()
    assert f"{factor:.2f}" in fitted._repr_html_()
    # the model's term alone: a 95 % band of fresh rows is at least this wide
    out = fitted.predict(design(1), level=0.95)
    assert (np.exp(out["band_log_halfwidth"]) >= factor * (1 - 1e-12)).all()
