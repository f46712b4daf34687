"""The fit runs its dense algebra on one BLAS thread and gives the threads back after."""

from __future__ import annotations

import pytest
from threadpoolctl import threadpool_info

import iovmodel as iov
from iovmodel._threads import one_blas_thread


def _blas_threads() -> list[int]:
    return [d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"]


def test_one_blas_thread_inside_restored_after():
    import scipy.linalg  # noqa: F401  (every BLAS the wrapper loads, loaded before counting)

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


def test_scipys_blas_is_limited_even_when_first_loaded_inside_the_fit():
    # a fresh process, where scipy.linalg (and its own OpenBLAS) is not loaded yet when the
    # fit starts: threadpoolctl limits only the libraries loaded when its block is entered
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import sys
        from iovmodel._threads import one_blas_thread
        assert "scipy.linalg" not in sys.modules
        def inside():
            import scipy.linalg  # noqa: F401
            from threadpoolctl import threadpool_info
            return [d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"]
        print(one_blas_thread(inside)())
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    counts = eval(out)  # a list of ints printed by the child
    assert counts and set(counts) == {1}, out
