"""Every metric the model predicts, from one solved network: the numbers ``fit`` fits to.

``iops``, ``throughput_per_s``, ``transactions_per_s``: the throughput X.
``throughput_gbps``: X x ``size_bytes`` x 8 / 1e9.  ``latency_us`` (and ``clat_us``):
the mean response time R.  ``latency_p50_us`` ... ``latency_p999_us``: a percentile of
the response time (:mod:`iovmodel.solve.percentiles`, or a simulation's).
``cpu_us_per_io``: host CPU µs per I/O; ``vmm_cpu_us_per_io``: the VMM threads' CPU per
I/O; ``cpu_util_host_pct``: 100 X x host CPU per I/O; ``cpu_util_vmm_pct``: 100 X x the
demand at the VMM's own threads (a polling backend at its full core);
``cpu_util_vcpu_pct``: 100 X x the demand at the vCPU threads plus KVM's halt polling
(:func:`vcpu_thread_pct`); ``exits_per_io``: VM exits
per I/O (per-batch hops count 1/batch); ``exits_per_s``: X times that.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ..network import Network
from ..spec.catalog import Path
from ..spec.workload import Workload
from .percentiles import latency_quantile, latency_variance

#: Metrics the model predicts: name -> (unit of the tidy schema, how it is predicted).
PREDICTABLE: Mapping[str, tuple[str, str]] = {
    "iops": ("IOPS", "throughput X"),
    "throughput_per_s": ("1/s", "throughput X"),
    "transactions_per_s": ("1/s", "throughput X (one request/response exchange per I/O)"),
    "throughput_gbps": ("Gbps", "X * payload bytes per unit * 8 / 1e9 (size_bytes without a Traffic)"),
    "packets_per_s": ("1/s", "X * packets per unit (a Traffic's datagrams, frames; 1 without)"),
    "cpu_us_per_packet": ("us", "host CPU per packet outside the guest"),
    "guest_cpu_us_per_packet": ("us", "guest vCPU time per packet"),
    "latency_us": ("us", "mean response time R"),
    "clat_us": ("us", "mean response time R (fio clat; libaio slat < 1 us)"),
    "latency_p50_us": ("us", "median response time (gamma approximation or simulation)"),
    "latency_p90_us": ("us", "90th percentile response time"),
    "latency_p95_us": ("us", "95th percentile response time"),
    "latency_p99_us": ("us", "99th percentile response time"),
    "latency_p999_us": ("us", "99.9th percentile response time"),
    "cpu_us_per_io": ("us", "host CPU per I/O outside the guest"),
    "cpu_util_host_pct": ("%", "100 * X * host CPU per I/O"),
    "cpu_util_vmm_pct": ("%", "100 * X * demand at the VMM's own threads"),
    "cpu_util_vcpu_pct": ("%", "100 * X * demand at the vCPU threads + KVM halt polling"),
    "exits_per_io": ("per_io", "VM exits per I/O"),
    "exits_per_s": ("1/s", "X * VM exits per I/O"),
}
#: Metrics that only a path with VMM threads has (``vmm_cpu_us_per_io`` is how ``fit``
#: reads a ``cpu_us_per_io`` row labelled "vmm...").
VMM_METRICS = ("cpu_util_vmm_pct", "vmm_cpu_us_per_io")
#: How ``fit`` reads a ``cpu_us_per_io`` row whose options say ``cpu_of=guest_fio`` (fio's
#: usr + sys in the guest) or, on a native path, ``cpu_of=host_fio``: the demand at the
#: vCPU threads per I/O (the application's CPU on a native path), the exits taken on them
#: included: the guest's clock runs through an exit, so the time is charged to the task.
VCPU_METRICS = ("vcpu_cpu_us_per_io",)
#: Metrics that depend on the load: a row needs its workload stated.
LOAD_DEPENDENT = frozenset(PREDICTABLE) - {"exits_per_io"}
QUANTILES = {"latency_p50_us": 0.50, "latency_p90_us": 0.90, "latency_p95_us": 0.95,
             "latency_p99_us": 0.99, "latency_p999_us": 0.999}
#: the simulator's percentile keys
SIM_KEYS = {0.50: "p50", 0.90: "p90", 0.99: "p99", 0.999: "p99.9"}
#: Resources that are threads of the VMM process (their busy time is "VMM CPU").
VMM_RESOURCES = ("bql", "iothread", "vmm", "vmm_worker", "backend")


def _demand(net: Network, names: Iterable[str]) -> float:
    names = set(names)
    return sum(s.demand_us for s in net.stations if s.name in names)


def vcpu_thread_pct(workload: Workload, net: Network, X: float) -> float:
    """CPU of the vCPU threads as the host counts it (% of one core) at throughput X (/s).

    A vCPU works ``u`` of the time (X x its demand). When it idles it halts, and under KVM
    the thread spins for up to ``net.halt_poll_us`` before it sleeps: an idle period ends
    with the next interrupt, about Poisson at the vCPU's rate of notifications
    ``lam`` = X / (vCPUs in use x batch), so the spin takes E[min(I, h)] / E[I] =
    1 - exp(-lam h) of the idle time (I exponential with mean 1 / lam). Per vCPU in use:
    ``u + (1 - u)(1 - exp(-lam h))``; at 100k interrupts/s and h = 200 µs the thread is
    busy all the time whatever the guest does, as Firecracker's CI measures it (the
    dataset firecracker_ci_block: 84.5-88 % of a core per vCPU in every one of its 244
    runs, read or write, Sync or Async engine, 1 or 2 vCPUs, on every host). With
    ``net.halt_poll_us`` = 0 (bare metal, Xen, or the host's ``halt_poll_us`` set to 0) it is
    100 X x the demand.
    """
    busy = 100.0 * X * _demand(net, ["vcpu"]) / 1e6
    h = net.halt_poll_us
    if h <= 0.0 or X <= 0.0:
        return busy
    g = max(1, len(net.groups))
    u = min(1.0, busy / 100.0 / g)
    lam = X / g / max(1.0, net.batch) / 1e6  # notifications per µs at each vCPU in use
    return 100.0 * g * (u + (1.0 - u) * -math.expm1(-lam * h))


def value(metric: str, path: Path, workload: Workload, net: Network, X: float, R: float,
          waits: np.ndarray, util: np.ndarray, cpu_us_per_io: float, sim: Any = None) -> float:
    """One predicted metric of a solved network.

    Parameters
    ----------
    metric : str
        A key of :data:`PREDICTABLE`, ``"vmm_cpu_us_per_io"`` or ``"vcpu_cpu_us_per_io"``.
    path, workload : Path, Workload
        What was solved (the workload's batch counts the per-batch exits).
    net : Network
        The solved network.
    X, R : float
        Throughput (I/O per s) and mean latency (µs).
    waits, util : ndarray
        Per-visit waits (µs) and utilisations per station.
    cpu_us_per_io : float
        Host CPU µs per I/O at X (:attr:`Result.cpu_us_per_io`).
    sim : SimResult, optional
        Takes the latency percentiles from a simulation instead of the gamma approximation.

    Returns
    -------
    float
        In the unit :data:`PREDICTABLE` states.

    Raises
    ------
    KeyError
        If the metric is not predictable (callers name their parameter).
    """
    if metric in ("iops", "throughput_per_s", "transactions_per_s"):
        return X
    u = net.units
    if metric == "throughput_gbps":
        return X * (workload.size_bytes if u is None else u.payload_bytes) * 8.0 / 1e9
    if metric == "packets_per_s":
        return X * (1.0 if u is None else u.packets)
    if metric in ("cpu_us_per_packet", "guest_cpu_us_per_packet"):
        host, guest = net.cpu_per_io(X)
        return float(host if metric == "cpu_us_per_packet" else guest) / (
            1.0 if u is None else u.packets)
    if metric in ("latency_us", "clat_us"):
        return R
    if metric in QUANTILES:
        q = QUANTILES[metric]
        if sim is not None and q in SIM_KEYS:
            return float(sim.percentiles_us[SIM_KEYS[q]])
        pop = None if workload.is_open else workload.population  # the row's, not the network's
        return latency_quantile(R, latency_variance(net, waits, util, population=pop), q)
    if metric == "cpu_us_per_io":
        return cpu_us_per_io
    if metric == "cpu_util_host_pct":
        return 100.0 * X * cpu_us_per_io / 1e6
    if metric in VMM_METRICS:
        pct = 0.0
        polling = set(net.polling)
        for s in net.stations:
            if s.name in VMM_RESOURCES:
                pct += 100.0 * s.servers if s.name in polling else 100.0 * X * s.demand_us / 1e6
        return pct if metric == "cpu_util_vmm_pct" else pct / 100.0 * 1e6 / X
    if metric == "cpu_util_vcpu_pct":
        return vcpu_thread_pct(workload, net, X)
    if metric == "vcpu_cpu_us_per_io":
        return _demand(net, ["vcpu"])
    if metric in ("exits_per_io", "exits_per_s"):
        e = float(path.mode_switches(batch=workload.batch, workload=workload)["vm_exits"].iloc[0])
        return e if metric == "exits_per_io" else e * X
    raise KeyError(metric)
