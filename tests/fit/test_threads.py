"""The fit runs its dense algebra on one BLAS thread and gives the threads back after."""

from __future__ import annotations

import pytest
from threadpoolctl import threadpool_info

import iovmodel as iov
from iovmodel._threads import one_blas_thread


def _blas_threads() -> list[int]:
    return [d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"]


def test_one_blas_thread_inside_restored_after():
    before = _blas_threads()
    if not before:
        pytest.skip("no BLAS library loaded that threadpoolctl can see")
    seen = one_blas_thread(_blas_threads)()
    assert seen == [1] * len(before)
    assert _blas_threads() == before


def test_fit_runs_on_one_blas_thread(monkeypatch):
    # what the optimiser's algebra sees: the BLAS thread count inside iov.fit
    import sys

    fit_module = sys.modules["iovmodel.calibrate.fit"]  # the package's `fit` is the function

    seen = []
    inner = fit_module._fit_theta

    def spy(*args, **kwargs):
        seen.append(_blas_threads())
        return inner(*args, **kwargs)

    monkeypatch.setattr(fit_module, "_fit_theta", spy)
    df = iov.datasets.load("xen_blk_multiqueue")
    df = df[iov.fit.predictable(df).predictable.to_numpy()].head(8)
    iov.fit(df, free=["device_blk_us"])
    assert seen and all(set(s) <= {1} for s in seen)
