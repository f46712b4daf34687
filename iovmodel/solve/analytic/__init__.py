"""Analytic solvers: single-station closed forms, exact and approximate MVA, bounds.

Nothing here compiles at import time: the numba kernels of :func:`mva` and
:func:`schweitzer_mva` are imported and compiled (then cached on disk) at
their first call.
"""

from .bounds import BoundsResult, bounds
from .mva import MAX_MULTISERVER_STATIONS, MVAConvergenceWarning, MVAResult, mva, schweitzer_mva
from .single import (
    MG1Result,
    MGcResult,
    MM1KResult,
    MM1Result,
    MMcResult,
    QueueMetrics,
    md1,
    mg1,
    mgc,
    mm1,
    mm1k,
    mmc,
)

__all__ = [
    "MAX_MULTISERVER_STATIONS",
    "BoundsResult",
    "MG1Result",
    "MGcResult",
    "MM1KResult",
    "MM1Result",
    "MMcResult",
    "MVAConvergenceWarning",
    "MVAResult",
    "QueueMetrics",
    "bounds",
    "md1",
    "mg1",
    "mgc",
    "mm1",
    "mm1k",
    "mmc",
    "mva",
    "schweitzer_mva",
]
