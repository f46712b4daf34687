"""``iovmodel.fit``: the calibration module that is also the function :func:`fit`.

``iov.fit(df)`` fits, and ``import iovmodel.fit as F`` gives this module, whose
``F.predict``, ``F.crossval``, ``F.FitResult`` ... are :mod:`iovmodel.calibrate`'s.
Both work because the module's class is a :class:`types.ModuleType` subclass whose
``__call__`` is :func:`iovmodel.calibrate.fit.fit` (the package's ``fit`` attribute is
then this module, never a function shadowing it).  The code lives in
:mod:`iovmodel.calibrate`.

``python -m iovmodel.fit`` prints the fit of every bundled dataset
(:func:`~iovmodel.calibrate.report.dataset_report`).
"""

from __future__ import annotations

import inspect
import sys
import types
from typing import Any

from .calibrate import (
    PREDICTABLE,
    FitResult,
    crossval,
    dataset_report,
    direction_ceiling,
    fit_groups,
    latency_quantile,
    latency_variance,
    pair_directions,
    pick_metrics,
    predict,
    predictable,
    prior_band,
    prior_of,
    read_measurements,
    split_low_load,
)
from .calibrate.fit import fit as _fit

__all__ = ["PREDICTABLE", "FitResult", "crossval", "dataset_report", "direction_ceiling",
           "fit", "fit_groups",
           "latency_quantile", "latency_variance", "pair_directions", "pick_metrics", "predict", "predictable",
           "prior_band", "prior_of", "read_measurements", "split_low_load"]

fit = _fit


class _CallableModule(types.ModuleType):
    """A module that calls :func:`iovmodel.calibrate.fit.fit` when called."""

    __signature__ = inspect.signature(_fit)

    def __call__(self, *args: Any, **kwargs: Any) -> FitResult:
        return _fit(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

if __name__ == "__main__":
    from .calibrate.report import main

    raise SystemExit(main())
