"""Findings of the fits: model changes the bundled data ask for, shown on the data.

Each test fits (or predicts) a bundled dataset with the bundled catalog and with a
proposed catalog entry (``proposed_catalog.toml`` beside this file, loaded as a user
catalog and removed afterwards); the proposal must fit clearly better.  These are
the numbers quoted in the fit's report to the lead.
"""

from __future__ import annotations

import importlib
import warnings
from pathlib import Path

import numpy as np
import pytest

import iovmodel as iov
from iovmodel.errors import FitConvergenceWarning
from iovmodel.fit import fit, predict, predictable

datasets = pytest.importorskip("iovmodel.datasets")
PROPOSED = Path(__file__).with_name("proposed_catalog.toml")
_paths = importlib.import_module("iovmodel.paths")  # the module (iovmodel.paths is a function)


@pytest.fixture
def proposed_catalog():
    saved = dict(_paths._user_paths)
    iov.load_catalog(PROPOSED, replace_existing=True)
    try:
        yield
    finally:
        _paths._user_paths.clear()
        _paths._user_paths.update(saved)


def _rows(name: str, path: str | None = None):
    try:
        df = datasets.load(name)
    except Exception as exc:  # noqa: BLE001 - the dataset may be renamed
        pytest.skip(f"dataset {name} unavailable: {exc}")
    df = df[predictable(df)["predictable"].to_numpy()]
    return df if path is None else df[df["path"] == path]


def _fit_mdape(df) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitConvergenceWarning)
        return fit(df).mape


def test_vhost_user_blk_needs_a_polling_option(request):
    # S09: Cloud Hypervisor's vhost-user-blk backend with and without virtqueue polling
    # (QD1 4 KiB randread on null_blk): 43,228 -> 68,557 IOPS, 21.77 -> 13.70 us. The bundled
    # path always polls, so both rows get one prediction.
    df = _rows("ch_vhost_user_blk_polling")
    if df.empty:
        pytest.skip("no predictable rows")
    bundled = _fit_mdape(df)
    request.getfixturevalue("proposed_catalog")
    proposed = _fit_mdape(df)
    print(f"\nch_vhost_user_blk_polling: median |error| {bundled:.1f} % (bundled) -> "
          f"{proposed:.1f} % (polling option)")
    assert proposed < 6.0 < bundled


def test_vhost_user_blk_without_polling_kicks_once_per_io(request):
    # S10 (2020-02-14) predates the polling commit S09 (2020-02-17): its backend slept on the
    # kick eventfd.  Without EVENT_IDX kvm_stat counted ~1.04 exits per I/O at ~60K IOPS.
    df = _rows("exit_rates", "vhost-user-blk")
    df = df[(df["metric"] == "exits_per_io") & df["options"].str.contains("event_idx=0")]
    if df.empty:
        pytest.skip("no exits_per_io row without EVENT_IDX")
    df = df.assign(options=df["options"] + ";polling=0")
    assert np.all(predict(df)["predicted"] == 0.0)  # bundled: a polling backend, no exits
    request.getfixturevalue("proposed_catalog")
    got = predict(df)
    print(f"\nexits per I/O without EVENT_IDX: measured {got['measured'].iloc[0]:.3f}, "
          f"predicted {got['predicted'].iloc[0]:.3f}")
    assert np.all(np.abs(got["rel_error"]) < 0.05)


def test_xen_blkfront_needs_size_dependent_costs(request):
    # S13 (Citrix): 8 jobs x iodepth 32 sequential reads, 512 B .. 128 KiB, 1 and 8 rings. The
    # bundled xen-blkfront charges every request like 4 KiB, so its IOPS cannot fall with size.
    df = _rows("xen_blk_multiqueue")
    df = df[df["source"].str.startswith("S13") & (df["rw"] == "read")]
    if len(df) < 8:
        pytest.skip("S13 block-size sweep not in the bundled data")
    bundled = _fit_mdape(df)
    request.getfixturevalue("proposed_catalog")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitConvergenceWarning)
        f = fit(df)
    print(f"\nxen S13 block-size sweep: median |error| {bundled:.1f} % (bundled) -> "
          f"{f.mape:.1f} % (grant work per page + device bandwidth)\n{f.report()}")
    assert f.mape < 5.0 < 20.0 < bundled
    # the fitted bandwidth is the plateau the 8-ring rows show (~1.75 GB/s = 0.57 ns/B)
    assert f.profile["device_ns_per_byte"] == pytest.approx(0.57, rel=0.15)
