"""Measure this host's I/O-virtualization hop costs through ``/dev/kvm``.

>>> from iovmodel import probe
>>> probe.detect()                      # access, API version, capabilities, regime
>>> df = probe.run(quick=True)          # tidy DataFrame in the measured-data schema
>>> probe.save(df, "myhost.csv")        # atomic; refuses to overwrite
>>> probe.costs_from_results(df)        # {"vmexit_us": ..., "user_exit_us": ..., ...}
>>> probe.compare_mutex(df).report()    # the mutex model against the measured grid

A tiny VM is built straight from KVM ioctls by a C helper compiled on first use
(:mod:`iovmodel.probe._helper`); the timing loops never run in Python.
"""

from __future__ import annotations

from .kvm import Detection, detect
from .mutex import MutexComparison, MutexPrediction, mva_mutex, predict_mutex
from .runner import (
    COST_MAP,
    ProbeWarning,
    compare_mutex,
    costs_from_results,
    load,
    mutex_inputs,
    native_guest,
    reference,
    run,
    save,
    summary,
)

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
]
