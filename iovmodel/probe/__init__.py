"""Measure this host's I/O-virtualization hop costs through ``/dev/kvm``.

>>> from iovmodel import probe
>>> probe.detect()                      # access, API version, capabilities, regime
>>> df = probe.run(quick=True)          # tidy DataFrame in the measured-data schema
>>> probe.save(df, "myhost.csv")        # atomic; refuses to overwrite
>>> probe.costs_from_results(df)        # {"vmexit_us": ..., "user_exit_us": ..., ...}
>>> host = probe.to_profile(df)         # a HostProfile with the measured costs
>>> probe.compare_mutex(df).report()    # the mutex model against the measured grid

A tiny VM is built straight from KVM ioctls by a C helper compiled on first use
(:mod:`iovmodel.probe._helper`); the timing loops never run in Python.

Modules: :mod:`.kvm` (detection), :mod:`.runner` (the experiments), :mod:`.results`
(the tidy rows, save/load, the reference run), :mod:`.costs` (results -> HostProfile),
:mod:`.mutex` (the mutex model) and :mod:`.compare` (that model against the data).
"""

from __future__ import annotations

from .compare import compare_mutex, mutex_inputs
from .costs import COST_MAP, costs_from_results, native_guest, to_profile
from .kvm import Detection, detect
from .mutex import MutexComparison, MutexPrediction, mva_mutex, predict_mutex
from .results import load, reference, save, summary
from .runner import ProbeWarning, run

__all__ = [
    "COST_MAP",
    "Detection",
    "MutexComparison",
    "MutexPrediction",
    "ProbeWarning",
    "compare_mutex",
    "costs_from_results",
    "detect",
    "load",
    "mutex_inputs",
    "mva_mutex",
    "native_guest",
    "predict_mutex",
    "reference",
    "run",
    "save",
    "summary",
    "to_profile",
]
