"""Fits to every bundled dataset: they converge, never end worse than the start,
and the median absolute error per dataset is printed (``pytest -s`` shows it; the
full table with cross-validation is ``python -m iovmodel.fit``)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from iovmodel import datasets
from iovmodel.errors import FitConvergenceWarning
from iovmodel.fit import fit, predict, predictable

# Datasets with no row the model predicts: per-event cycle counts and microbenchmarks on
# kvm-* pseudo-paths, and S36's vfio-user-nvme row, which states no workload.  Listed, so
# that a change in what fit can predict shows.
UNPREDICTABLE = {"per_event_costs", "vfio_user_spdk"}


def _names() -> list[str]:
    return list(datasets.list()["name"])


def test_which_datasets_the_model_cannot_predict():
    none = {n for n in _names() if not predictable(datasets.load(n))["predictable"].any()}
    assert none == UNPREDICTABLE


def _neg_log_posterior(f, frame, column) -> float:
    """soft_l1 of the log errors over f_scale 0.1 plus the Gaussian priors in log cost
    (scipy.optimize.least_squares' soft_l1: rho(z) = 2 (sqrt(1 + z) - 1), z = u**2)."""
    u = frame["log_error"].to_numpy() / 0.1
    data = float(np.sum(2 * (np.sqrt(1 + u * u) - 1)))
    p = f.params.drop(index=[k for k in f.params.index if k == "batch"])
    sigma = np.log(p["prior_hi"] / p["prior_median"]) / 1.959963984540054
    return data + float(np.sum((np.log(p[column] / p["prior_median"]) / sigma) ** 2))


@pytest.mark.parametrize("batching", ["amortised", "load"])
@pytest.mark.parametrize("name", sorted(set(_names()) - UNPREDICTABLE))
def test_bundled_dataset_fit_converges(name, batching):
    df = datasets.load(name)
    d = df[predictable(df)["predictable"].to_numpy()]
    start = predict(d, batching=batching)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitConvergenceWarning)
        f = fit(d, batching=batching)
    print(f"\n{name} (batching={batching}): {len(d)} rows, median |error| {100 * np.median(np.abs(start['rel_error'])):.1f} % "
          f"at the default profile -> {f.mape:.1f} % fitted ({', '.join(f.free)})")
    assert np.isfinite(f.residuals["predicted"]).all()
    assert np.isfinite(f.params["value"]).all()
    # the MAP estimate never ends above where it started in its own objective (robust data
    # loss plus the log-normal priors); not in the median error, nor in the plain sum of
    # squares (the robust loss trades a few far rows for many near ones)
    assert _neg_log_posterior(f, f.residuals, "value") <= \
        _neg_log_posterior(f, start, "start") * (1 + 1e-9)


def test_dataset_report_and_groups():
    from iovmodel.fit import dataset_report, fit_groups, split_low_load

    names = _names()
    name = "ch_virtio_blk_indirect" if "ch_virtio_blk_indirect" in names else names[0]
    table = dataset_report([name])
    assert list(table["dataset"]) == [name]
    assert {"fit_mdape", "cv_test_mdape", "start_mdape", "r2", "free"} <= set(table.columns)
    row = table.iloc[0]
    if row["predictable"]:
        assert np.isfinite(row["fit_mdape"]) and row["fit_mdape"] <= row["start_mdape"] + 1e-9
    df = datasets.load(name)
    df = df[predictable(df)["predictable"].to_numpy()]
    if len(df):
        mask, how = split_low_load(df)
        assert mask.any() and not mask.all() and how
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FitConvergenceWarning)
            groups = fit_groups(df, by="path")
        assert set(groups) == set(df["path"])
