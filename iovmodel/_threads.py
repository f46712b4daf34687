"""One BLAS thread for the small dense algebra of a fit.

A fit's matrices are small (thousands of rows by tens of costs); OpenBLAS's worker
threads only add synchronisation, and on a shared host they spin against other work:
an SVD of a 2,300 x 60 Jacobian took 0.17-3.5 s with 2 threads and 0.019 s with one on
this project's 2-core machine under load (``tests/fit/test_threads.py`` keeps the
mechanism; the numbers are in the closing note of issue 15).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def one_blas_thread(func: F) -> F:
    """Run ``func`` with the BLAS libraries limited to one thread (restored after)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import scipy.linalg  # noqa: F401  (loads scipy's own BLAS first: a library loaded
        from threadpoolctl import threadpool_limits  # inside the block would keep its threads)

        with threadpool_limits(limits=1, user_api="blas"):
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
