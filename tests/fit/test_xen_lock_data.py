"""The xen-blkfront RFC's throughput that falls as fio jobs are added (S14, xen_blk_multiqueue).

Bob Liu, "[RFC PATCH 00/10] Multi-queue support for xen-block driver" (LKML 2015-02-15):
fio's IOmeter job on a 16-vCPU domU over null_blk, 16 rings: 58k, 201k, 372k, 284k, 196k,
183k IOPS at 1, 4, 8, 16, 32, 64 jobs. The RFC keeps blkfront's per-device io_lock
(io_lock = "device"), so every vCPU's submissions and completions pass one spinlock whose
hand-off slows with the vCPUs spinning on it (iovmodel.solve.locks). The rows are the
bundled ones; the costs are fitted on the dataset's own rows (in-sample) or on the other
source only (S13, Citrix: held out).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import iovmodel as iov
from iovmodel.errors import FitWarning
from iovmodel.fit import crossval, predict, predictable


@pytest.fixture(scope="module")
def rows():
    df = iov.datasets.load("xen_blk_multiqueue")
    return df[predictable(df)["predictable"].to_numpy()].reset_index(drop=True)


def _s14_16(frame):
    m = frame["source"].str.startswith("S14") & frame["options"].str.startswith("rings=16")
    q = frame[m.to_numpy()].sort_values("jobs")
    return q["jobs"].to_numpy(), q["measured"].to_numpy(), q["predicted"].to_numpy()


def _rises_then_falls(x):
    """Strictly up to the peak, then never up again and lower at the end than at the peak.

    Past 16 jobs (the domU's 16 vCPUs) the model holds flat: at most 16 vCPUs contend for
    the lock however many fio jobs share them, where the RFC's IOPS keep falling (284k,
    196k, 183k); the job switching behind that second fall is not modelled.
    """
    peak = int(np.argmax(x))
    tail = np.diff(x[peak:])
    return bool(0 < peak < len(x) - 1 and np.all(np.diff(x[:peak + 1]) > 0)
                and np.all(tail <= 1e-4 * x[peak]) and x[-1] < 0.9 * x[peak]), peak


def test_default_profile_shows_the_peak_and_the_fall(rows):
    jobs, meas, pred = _s14_16(predict(rows))
    ok, peak = _rises_then_falls(pred)
    assert ok and _rises_then_falls(meas)[0]
    # zero-shot the peak comes at 4 jobs, not the measured 8: the default guest CPU per
    # I/O lets one fio job reach 250k IOPS where the RFC measured 58k (issue 11's guest cost)
    assert jobs[peak] == 4


def test_fitted_profile_puts_the_peak_where_measured_and_falls_within_25_percent(rows):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        f = iov.fit(rows)
    jobs, meas, pred = _s14_16(f.residuals)
    ok, peak = _rises_then_falls(pred)
    assert ok and jobs[peak] == jobs[int(np.argmax(meas))] == 8
    print(f"\nS14 16 rings, jobs {jobs.tolist()}: measured {np.round(meas / 1e3).tolist()} "
          f"k, fitted {np.round(pred / 1e3).tolist()} k")
    assert np.median(np.abs(pred[peak:] / meas[peak:] - 1)) <= 0.25


def test_held_out_sources_within_30_percent(rows):
    cv = crossval(rows, by="source")
    print("\nheld out:", {k[:3]: round(v, 1) for k, v in cv.attrs["per_group"].items()},
          f"all {cv.attrs['test_mape']:.1f} %")
    assert cv.attrs["test_mape"] <= 30
