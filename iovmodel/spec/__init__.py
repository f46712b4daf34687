"""What is modelled: the path catalog, the host's per-event costs and the workload.

These are the inputs of :func:`iovmodel.network.build`; nothing here solves a model.
"""

from .catalog import Hop, Path, load_catalog, path, paths, register
from .profile import HostProfile, Parameter, parameters
from .workload import Workload

__all__ = ["Hop", "HostProfile", "Parameter", "Path", "Workload", "load_catalog", "parameters",
           "path", "paths", "register"]
