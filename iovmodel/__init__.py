"""iovmodel: predict how fast a virtual machine's I/O is, path by path.

The public face (everything a notebook needs)::

    import iovmodel as iov
    iov.paths()                                   # the path catalog
    p = iov.path("vhost-scsi", workers=4)         # a Path
    host = iov.HostProfile.default()              # per-event costs with sources
    w = iov.Workload.closed(jobs=4, iodepth=32)   # or Workload.open(rate_per_s=...)
    w = iov.Workload.of(iov.Traffic.stream(65536))  # a network stream, flood or exchange
    r = iov.analyze(p, host, w)                   # Result
    iov.compare([...], host, w); iov.sweep(p, host, jobs=[1, 2, 4])
    iov.simulate(p, host, w)                      # Monte Carlo with confidence intervals
    iov.fit(measurements)                         # calibrate a HostProfile
    iov.datasets.load(name); iov.symbolic.latency(p); iov.sensitivity(p, host, w)
    iov.explorer(); iov.probe.run()

Subpackages that pull heavier dependencies (the simulator, the probe, the
widgets) load on first use, so ``import iovmodel`` compiles nothing.
"""

from __future__ import annotations

import importlib
from typing import Any

from . import fit  # a callable module: iov.fit(df) fits, iovmodel.fit.predict predicts
from .calibrate import FitResult, crossval
from .errors import (
    CatalogError,
    CostAtBoundWarning,
    DatasetError,
    FitConvergenceWarning,
    FitError,
    FitWarning,
    ImplausibleProfileWarning,
    IovModelError,
    IovModelWarning,
    OutsideTypicalWarning,
    ParameterError,
    ProbeError,
    UnknownPathError,
    UnstableError,
    UnstableQueueWarning,
)
from .network import Network, Station, Visit, build
from .result import Result
from .solve import analytic
from .solve.analyze import analyze, compare, sweep
from .solve.consolidation import ScenarioResult
from .spec.catalog import Hop, Path, load_catalog, path, paths, register
from .spec.profile import HostProfile, Parameter, parameters
from .spec.scenario import Guest, Scenario
from .spec.traffic import Traffic
from .spec.workload import Workload

__version__ = "0.1.0"

# name -> (module, attribute or None for the module itself), imported on first access
_LAZY = {
    "simulate": ("iovmodel.solve.sim", "simulate"),
    "SimResult": ("iovmodel.solve.sim", "SimResult"),
    "sim": ("iovmodel.solve.sim", None),
    "device": ("iovmodel.device", None),
    "Device": ("iovmodel.device", "Device"),
    "datasets": ("iovmodel.datasets", None),
    "symbolic": ("iovmodel.symbolic", None),
    "sensitivity": ("iovmodel.symbolic", "sensitivity"),
    "probe": ("iovmodel.probe", None),
    "plot": ("iovmodel.plot", None),
    "explorer": ("iovmodel.widgets", "explorer"),
    "consolidation_explorer": ("iovmodel.widgets", "consolidation_explorer"),
}


def __getattr__(name: str) -> Any:
    try:
        mod, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'iovmodel' has no attribute {name!r}") from None
    m = importlib.import_module(mod)
    value = m if attr is None else getattr(m, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    # what tab completion offers: the public names, not the modules and helpers this
    # file imports to build them (importlib, Any, the subpackages behind the re-exports)
    return sorted(__all__)


__all__ = [
    "CatalogError", "CostAtBoundWarning", "DatasetError", "Device", "FitConvergenceWarning", "FitError",
    "FitResult", "FitWarning", "Guest", "Hop", "HostProfile", "ImplausibleProfileWarning", "IovModelError", "IovModelWarning", "Network",
    "OutsideTypicalWarning", "Parameter", "ParameterError",
    "Path", "ProbeError", "Result", "Scenario", "ScenarioResult", "SimResult", "Station", "Traffic", "UnknownPathError", "UnstableError",
    "UnstableQueueWarning", "Visit", "Workload", "analytic", "analyze", "build", "compare",
    "consolidation_explorer",
    "crossval", "datasets", "device", "explorer", "fit", "load_catalog", "parameters", "path", "paths",
    "plot", "probe", "register", "sensitivity", "simulate", "symbolic", "sweep",
]
