r"""Calibration: fit host costs to measured data.

:func:`fit` turns a frame of measurements (the tidy schema of
:mod:`iovmodel.datasets`: one row per measured number, with its ``path``,
``options``, workload columns, ``metric`` and ``value``) into a calibrated
:class:`~iovmodel.spec.profile.HostProfile`.  Every row is predicted through the
same model as :func:`iovmodel.analyze` (open workloads: M/G/c per station;
closed: exact MVA), so a cost shared by several paths (``vmexit_us``,
``wakeup_us``, ...) is estimated once, jointly over all of them.

The objective
-------------
Least squares of log residuals, :math:`r_i = w_i \,[\ln \hat y_i(\theta) - \ln y_i]`,
so a 10 % miss weighs the same on 10 µs and on 1 M IOPS.  The free costs are
fitted as :math:`\theta_j = \ln c_j` inside their declared bounds
(``costs.toml``; a lower bound of 0 becomes 1/1000 of the smaller of the
start value and the typical lower end, since a log cannot reach 0), with
:func:`scipy.optimize.least_squares` (trust-region reflective; ``loss`` is its
robust loss).  Standard errors come from the Gauss-Newton covariance
:math:`s^2 (J^\top J)^{-1}` with :math:`s^2 = \sum r_i^2 / (m - n)`; the 95 %
interval is :math:`\exp(\theta_j \pm t_{0.975,\,m-n}\, \mathrm{se}_j)`, so it is
positive and asymmetric in the cost.  Bootstrap intervals (``n_boot``) resample
the rows with replacement and refit; they are percentile intervals.

Metrics (:data:`PREDICTABLE`)
-----------------------------
``iops``, ``throughput_per_s``, ``transactions_per_s``: the throughput X.
``throughput_gbps``: X x ``size_bytes`` x 8 / 1e9.
``cpu_us_per_io`` with a ``label`` starting with "vmm" (as the Firecracker
dataset derives it): the VMM threads' CPU per I/O.
``latency_us`` (and ``clat_us``, taken as the mean latency: fio's submission
latency of libaio is well under 1 µs): the mean response time R.
``latency_p50_us`` ... ``latency_p999_us``: a percentile of the response time
(see below).  ``cpu_us_per_io``: host CPU µs per I/O
(:attr:`Result.cpu_us_per_io`).  ``cpu_util_host_pct``: 100 X x that.
``cpu_util_vmm_pct``: 100 X x the demand at the VMM's own threads (QEMU main
loop / BQL, iothreads, a Firecracker/Cloud Hypervisor event loop, polling
backends at their full core).  ``cpu_util_vcpu_pct``: 100 X x the demand at the
vCPU threads (guest work and the exits taken on them).  ``exits_per_io``: VM
exits per I/O (:meth:`Path.mode_switches`, per-batch hops count 1/batch);
``exits_per_s``: X times that.

Latency percentiles
-------------------
By default (``percentiles="approx"``) the response time is taken as gamma
distributed with the model's mean R and a variance summed over the route: each
hop's service variance (``scv`` x mean², times its count per I/O) plus, per
visit to a queueing station, the variance of its wait (:func:`latency_variance`:
at one server the sum of a geometric number of services found ahead, exact for
M/M/1, whose sojourn time is exponential with mean :math:`1/(\mu-\lambda)`,
Kleinrock 1975, vol. 1, section 3.2; at c servers Erlang-C waiting; in a closed
network bounded by the N - 1 other requests).  Against the simulator on the
QEMU paths it is within 12 % from one request in flight to saturation (a test);
near an open load's capacity it is coarser (up to 2x on the median).
``percentiles="sim"`` instead simulates every row's network with
:func:`iovmodel.sim.simulate_network` under one fixed seed (common random
numbers, so the objective stays a deterministic function of the costs).

Batching
--------
Per-batch hops (a kick, a wake-up, an interrupt) cost 1/batch per I/O.  A row's
``batch`` column states it; when it is empty, ``batching="stated"`` takes 1,
``free=[..., "batch"]`` fits one effective batch for all such rows, and
``batching="load"`` derives it from the load (closed rows): with notification
suppression (virtio EVENT_IDX, a backend that drains its ring on each wake-up) a
request that arrives while the notified backend is busy rides on the current
pass; arrivals see time averages, so a fraction :math:`1-\rho` of them find it
idle and the batch is :math:`b = 1/(1-\rho)` (at most the requests in flight),
:math:`\rho` the utilisation of the busiest notified station (the backend
thread, not the vCPUs) at batch b: a fixed point, found by Brent's method in log b.

Rows
----
``path`` names a catalog path; ``options`` (``key=value;...``) sets path
options (``workers=4``) and may pin a cost for that row only
(``device_blk_us=0.5`` for a null_blk backend); other keys are configuration
labels and are ignored (listed in :attr:`FitResult.notes`), except that a
label ``key=word`` sets the path's boolean option ``key_word`` when it has one
(``engine=async`` sets ``engine_async`` of ``firecracker-virtio-blk``).  Workload: an
open workload when ``rate_per_s`` is set, else closed with ``jobs`` (default
1), ``iodepth`` (default 1), ``think_us`` (default 0); ``size_bytes``
(default 4096) and ``batch`` (default 1).  A bulk network transfer (``rw`` tx,
rx or bidir on a network path, ``iodepth`` not stated: iperf3 streams) keeps
its bottleneck busy, so its throughput and CPU rows are predicted at the
asymptotic bound :math:`X = \min_k c_k / D_k` (Lazowska et al. 1984, section
5.2).  Rows that share a path, options and workload shape share one network:
one MVA pass serves all their populations.

``python -m iovmodel.fit`` prints the fit and cross-validation error of every
bundled dataset (:func:`dataset_report`).
"""

from __future__ import annotations

import html
import math
import sys
import warnings
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from scipy import optimize

from ._expr import compile_expr
from .datasets import _is_empty as _empty
from .datasets import parse_options
from .errors import DatasetError, FitConvergenceWarning, FitError, IovModelError, UnstableError
from .model import solve_closed, solve_open
from .network import Network, build
from .spec.catalog import Path
from .spec.catalog import path as get_path
from .spec.profile import HostProfile, parameters
from .spec.workload import Workload

__all__ = ["PREDICTABLE", "FitResult", "crossval", "dataset_report", "fit", "fit_groups",
           "latency_quantile", "latency_variance", "predict", "predictable", "split_low_load"]

#: Metrics the model predicts: name -> (unit of the tidy schema, how it is predicted).
PREDICTABLE: Mapping[str, tuple[str, str]] = {
    "iops": ("IOPS", "throughput X"),
    "throughput_per_s": ("1/s", "throughput X"),
    "transactions_per_s": ("1/s", "throughput X (one request/response exchange per I/O)"),
    "throughput_gbps": ("Gbps", "X * size_bytes * 8 / 1e9"),
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
    "cpu_util_vcpu_pct": ("%", "100 * X * demand at the vCPU threads"),
    "exits_per_io": ("per_io", "VM exits per I/O"),
    "exits_per_s": ("1/s", "X * VM exits per I/O"),
}

#: Metrics that depend on the load: a row needs its workload stated.
_LOAD_DEPENDENT = frozenset(PREDICTABLE) - {"exits_per_io"}
#: ``rw`` of bulk network transfers (iperf3 streams): they keep the bottleneck busy.
_STREAMS = frozenset({"tx", "rx", "bidir"})
_QUANTILES = {"latency_p50_us": 0.50, "latency_p90_us": 0.90, "latency_p95_us": 0.95,
              "latency_p99_us": 0.99, "latency_p999_us": 0.999}
_SIM_KEYS = {0.50: "p50", 0.90: "p90", 0.99: "p99", 0.999: "p99.9"}
#: Resources that are threads of the VMM process (their busy time is "VMM CPU").
VMM_RESOURCES = ("bql", "iothread", "vmm", "vmm_worker", "backend")
#: Residual (log units) given to a row whose prediction does not exist at some costs
#: (an open load beyond a resource's capacity): a factor e**8 ~ 3000 off.
_PENALTY = 8.0
#: Start and upper bound of a fitted effective batch (requests per notification).
_BATCH0 = 2.0
_BATCH_MAX = 256.0
_LOSSES = ("linear", "soft_l1", "huber", "cauchy", "arctan")


# ----------------------------------------------------------------------------- rows
@dataclass(frozen=True)
class _Row:
    """One measured number, resolved against the catalog."""

    index: int  # position in the measurement frame
    path: Path
    overrides: tuple[tuple[str, float], ...]  # costs pinned by the row's options
    workload: Workload
    metric: str
    value: float
    weight: float
    batch_stated: bool = True
    saturated: bool = False  # a bulk stream: predicted at the throughput bound

    def group_key(self) -> tuple:
        w = self.workload
        shape = ("open", w.size_bytes, w.batch) if w.is_open else \
            ("closed", w.size_bytes, w.batch, w.think_us)
        opts = tuple(sorted((k, str(v)) for k, v in self.path.options.items()))
        return (self.path.name, id(self.path) if self.path.name not in _catalog_names() else 0,
                opts, self.overrides, shape, self.batch_stated, self.saturated)

    def with_batch(self, batch: float | None) -> _Row:
        """This row with an effective batch (only when its own batch is not stated)."""
        if batch is None or self.batch_stated:
            return self
        # a fitted batch is a mean, not a whole number: bypass Workload's integer check
        cap = self.workload.population or math.inf  # a batch never exceeds the requests in flight
        return replace(self, workload=replace(self.workload, batch=min(float(batch), cap)))


def _catalog_names() -> set[str]:
    from .spec.catalog import path_names

    return set(path_names())


_BOOL_WORDS = {"true": True, "on": True, "yes": True, "false": False, "off": False, "no": False}


def _parse_options(text: Any) -> dict[str, Any]:
    """An options cell as the datasets read it, with true/false words as booleans."""
    if isinstance(text, Mapping):
        return dict(text)
    try:
        raw = parse_options(None if _empty(text) else text)
    except DatasetError as exc:
        raise FitError(str(exc)) from None
    return {k: _BOOL_WORDS.get(v.lower(), v) if isinstance(v, str) else v for k, v in raw.items()}


def _count(row: Mapping[str, Any], col: str, default: int, where: str) -> int:
    v = row.get(col)
    if _empty(v):
        return default
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise FitError(f"{where}, column {col!r}: {v!r} is not a number") from None
    if not math.isfinite(x) or x < 1 or x != int(x):
        raise FitError(f"{where}, column {col!r}: {v!r} must be a whole number >= 1")
    return int(x)


def _parse_row(i: int, row: Mapping[str, Any], weight: float, ignored: set[str]) -> _Row:
    """Resolve one measurement row or raise FitError naming it."""
    where = f"row {i}"
    name = row.get("path")
    if _empty(name):
        raise FitError(f"{where}: column 'path' is empty")
    metric = row.get("metric")
    if _empty(metric):
        raise FitError(f"{where} ({name}): column 'metric' is empty")
    metric = str(metric).strip()
    where = f"row {i} ({name}, {metric})"
    value = row.get("value")
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise FitError(f"{where}, column 'value': {value!r} is not a number") from None
    if not math.isfinite(value):
        raise FitError(f"{where}, column 'value': {value!r} is NaN or infinite; drop the row "
                       "or give the measured number")
    if value <= 0:
        raise FitError(f"{where}, column 'value': {value!r} <= 0 cannot be fitted in log space")
    if metric not in PREDICTABLE:
        raise FitError(f"{where}: the model cannot predict metric {metric!r}; predictable "
                       f"metrics: {', '.join(PREDICTABLE)}")
    unit = row.get("unit")
    if not _empty(unit) and str(unit).strip() not in (PREDICTABLE[metric][0], "µs" if
                                                       PREDICTABLE[metric][0] == "us" else ""):
        raise FitError(f"{where}, column 'unit': {unit!r} is not {PREDICTABLE[metric][0]!r}, "
                       f"the unit of {metric!r}")
    if isinstance(name, Path):
        p = name
    else:
        try:
            p = get_path(str(name).strip())
        except IovModelError as exc:
            raise FitError(f"{where}: {exc}") from None
    opts = _parse_options(row.get("options"))
    costs = parameters()
    path_opts, overrides = {}, {}
    for k, v in opts.items():
        if k in p.options:
            path_opts[k] = v
        elif isinstance(v, str) and isinstance(p.options.get(f"{k}_{v}"), bool):
            path_opts[f"{k}_{v}"] = True  # a label key=word sets the boolean option key_word
        elif k in costs:
            try:
                overrides[k] = costs[k].check(v)
            except IovModelError as exc:
                raise FitError(f"{where}, column 'options': {exc}") from None
        else:
            ignored.add(k)
    try:
        p = p.with_options(**path_opts)
    except IovModelError as exc:
        raise FitError(f"{where}, column 'options': {exc}") from None
    stated = {c: not _empty(row.get(c)) for c in ("jobs", "iodepth", "rate_per_s", "size_bytes")}
    if metric in _LOAD_DEPENDENT and any(c in row for c in ("jobs", "iodepth", "rate_per_s")) \
            and not (stated["jobs"] or stated["iodepth"] or stated["rate_per_s"]):
        raise FitError(f"{where}: the workload is not stated (jobs, iodepth and rate_per_s are "
                       f"all empty), so {metric!r} cannot be predicted")
    if metric == "throughput_gbps" and "size_bytes" in row and not stated["size_bytes"]:
        raise FitError(f"{where}: size_bytes is empty; it is needed to turn I/O per second "
                       "into Gbps")
    try:
        size = _count(row, "size_bytes", 4096, where)
        batch = _count(row, "batch", 1, where)
        rate = row.get("rate_per_s")
        if not _empty(rate):
            w = Workload.open(float(rate), size_bytes=size, batch=batch)
        else:
            think = row.get("think_us")
            w = Workload.closed(_count(row, "jobs", 1, where), _count(row, "iodepth", 1, where),
                                think_us=0.0 if _empty(think) else float(think),
                                size_bytes=size, batch=batch)
    except IovModelError as exc:
        raise FitError(f"{where}: {exc}") from None
    if metric == "cpu_util_vmm_pct" and not any(r in p.resources for r in VMM_RESOURCES):
        raise FitError(f"{where}: path {p.name!r} has no VMM thread (none of "
                       f"{', '.join(VMM_RESOURCES)}), so it cannot predict {metric!r}")
    if metric == "transactions_per_s" and p.device != "net":
        raise FitError(f"{where}: {metric!r} is a network request/response metric; "
                       f"{p.name!r} is a {p.device or 'custom'} path")
    label = row.get("label")
    if metric == "cpu_us_per_io" and not _empty(label) and str(label).strip().lower().startswith("vmm"):
        if not any(r in p.resources for r in VMM_RESOURCES):
            raise FitError(f"{where}: VMM-thread CPU (label {label!r}) but path {p.name!r} has "
                           f"no VMM thread (none of {', '.join(VMM_RESOURCES)})")
        metric = "vmm_cpu_us_per_io"
    rw = "" if _empty(row.get("rw")) else str(row.get("rw")).strip()
    saturated = (p.device == "net" and rw in _STREAMS and not w.is_open
                 and "iodepth" in row and not stated["iodepth"]
                 and metric in _LOAD_DEPENDENT - set(_QUANTILES) - {"latency_us", "clat_us"})
    return _Row(i, p, tuple(sorted(overrides.items())), w, metric, value, weight,
                batch_stated="batch" in row and not _empty(row.get("batch")),
                saturated=saturated)


def _weights(df: pd.DataFrame, weights: Any) -> np.ndarray:
    m = len(df)
    if weights is None:
        return np.ones(m)
    if isinstance(weights, str):
        if weights not in df.columns:
            raise FitError(f"weights names column {weights!r}, which the measurements lack")
        w = pd.to_numeric(df[weights], errors="coerce").to_numpy(dtype=float)
    else:
        w = np.asarray(weights, dtype=float).ravel()
    if w.shape != (m,):
        raise FitError(f"weights has {w.size} entries for {m} rows")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise FitError("weights must be finite and >= 0")
    return w


def _check_frame(measurements: Any) -> pd.DataFrame:
    if not isinstance(measurements, pd.DataFrame):
        raise FitError(f"measurements must be a pandas DataFrame, got {type(measurements).__name__}")
    if len(measurements) == 0:
        raise FitError("measurements is empty: nothing to fit")
    missing = [c for c in ("path", "metric", "value") if c not in measurements.columns]
    if missing:
        raise FitError(f"measurements lack column(s) {', '.join(missing)} "
                       "(needs path, metric, value; see iovmodel.datasets.SCHEMA_COLUMNS)")
    return measurements.reset_index(drop=True)


def _parse(measurements: pd.DataFrame, weights: Any = None) -> tuple[list[_Row], set[str]]:
    df = _check_frame(measurements)
    w = _weights(df, weights)
    ignored: set[str] = set()
    records = df.to_dict("records")
    rows = [_parse_row(i, r, float(w[i]), ignored) for i, r in enumerate(records)]
    return rows, ignored


def predictable(measurements: pd.DataFrame) -> pd.DataFrame:
    """Which rows the model can predict, and why not.

    Returns
    -------
    DataFrame
        Index of ``measurements``; columns ``predictable`` (bool) and ``reason``
        (empty when predictable).  ``fit(measurements[out.predictable])`` fits
        what can be fitted.
    """
    df = _check_frame(measurements)
    ok, why = [], []
    ignored: set[str] = set()
    for i, r in enumerate(df.to_dict("records")):
        try:
            _parse_row(i, r, 1.0, ignored)
        except FitError as exc:
            ok.append(False)
            why.append(str(exc))
        else:
            ok.append(True)
            why.append("")
    return pd.DataFrame({"predictable": ok, "reason": why}, index=measurements.index)


# -------------------------------------------------------------------------- predictions
def _erlang_c(c: float, rho: float) -> float:
    """Probability of waiting in M/M/c at per-server utilisation rho (Erlang C)."""
    if rho <= 0:
        return 0.0
    if rho >= 1:
        return 1.0
    if c <= 1:
        return rho
    a = c * rho
    b = 1.0
    for k in range(1, int(c) + 1):  # Erlang B by its stable recursion
        b = a * b / (k + a * b)
    return b / (1.0 - rho * (1.0 - b))


def latency_variance(net: Network, waits: np.ndarray, util: np.ndarray) -> float:
    """Variance of the response time (µs²) under the module's approximation.

    Service: each visit's ``scv * mean²`` times its count per I/O.  Waiting, per
    visit to a queueing station: at one server, the sum of the K services found
    ahead, ``Var W = E[K] Var S + Var K E[S]²`` with ``E[K] = Wq / E[S]`` and K
    geometric, ``Var K = E[K] (1 + E[K])`` (exact for M/M/1); at c servers, 0 with
    probability 1 - pi and exponential with mean ``Wq/pi`` otherwise (pi: Erlang
    C).  In a closed network of N requests no more than N - 1 can be ahead, so the
    geometric part shrinks by ``1 - E[K]/(N - 1)`` (at saturation the wait is
    nearly fixed).
    """
    var = 0.0
    for v in net.route:
        var += v.per_io(net.batch) * v.scv * v.mean_us**2
    n_closed = None if net.is_open else net.population
    for i, s in enumerate(net.stations):
        wq = float(waits[i])
        if s.is_delay or wq <= 0 or s.visits <= 0:
            continue
        es = s.service_us / s.servers  # services ahead complete at c / E[S]
        m = wq / es if es > 0 else 0.0
        shrink = 1.0 if n_closed is None or n_closed < 2 else \
            min(max(1.0 - m / (n_closed - 1), 0.0), 1.0)
        if s.servers <= 1:
            var += s.visits * (m * s.scv * es * es + m * (1.0 + m) * es * es * shrink)
        else:
            pi = max(_erlang_c(s.servers, float(util[i])), 1e-9)
            var += s.visits * max(2.0 * wq * wq / pi - wq * wq, 0.0) * shrink
    return var


def latency_quantile(mean_us: float, var_us2: float, q: float) -> float:
    """The q-quantile of a gamma distribution with this mean and variance (µs)."""
    if mean_us <= 0:
        return 0.0
    if var_us2 <= 1e-12 * mean_us**2:
        return mean_us
    k = mean_us**2 / var_us2
    from scipy import stats  # scipy loads on first fit, not at `import iovmodel`

    return float(stats.gamma.ppf(q, k, scale=var_us2 / mean_us))


def _demand(net: Network, names: Iterable[str]) -> float:
    names = set(names)
    return sum(s.demand_us for s in net.stations if s.name in names)


def _cpu_host(net: Network, X: float) -> float:
    return net.cpu_per_io(X)[0]


def _value(metric: str, row: _Row, net: Network, X: float, R: float, waits: np.ndarray,
           util: np.ndarray, sim: Any) -> float:
    if metric in ("iops", "throughput_per_s", "transactions_per_s"):
        return X
    if metric == "throughput_gbps":
        return X * row.workload.size_bytes * 8.0 / 1e9
    if metric in ("latency_us", "clat_us"):
        return R
    if metric in _QUANTILES:
        q = _QUANTILES[metric]
        if sim is not None and q in _SIM_KEYS:
            return float(sim.percentiles_us[_SIM_KEYS[q]])
        return latency_quantile(R, latency_variance(net, waits, util), q)
    if metric == "cpu_us_per_io":
        return _cpu_host(net, X)
    if metric == "cpu_util_host_pct":
        return 100.0 * X * _cpu_host(net, X) / 1e6
    if metric in ("cpu_util_vmm_pct", "vmm_cpu_us_per_io"):
        pct = 0.0
        polling = set(net.polling)
        for s in net.stations:
            if s.name in VMM_RESOURCES:
                pct += 100.0 * s.servers if s.name in polling else 100.0 * X * s.demand_us / 1e6
        return pct if metric == "cpu_util_vmm_pct" else pct / 100.0 * 1e6 / X
    if metric == "cpu_util_vcpu_pct":
        return 100.0 * X * _demand(net, ["vcpu"]) / 1e6
    if metric in ("exits_per_io", "exits_per_s"):
        e = float(row.path.mode_switches(batch=row.workload.batch)["vm_exits"].iloc[0])
        return e if metric == "exits_per_io" else e * X
    raise FitError(f"metric {metric!r} is not predictable")  # guarded in _parse_row


def _saturation(net: Network) -> tuple[float, np.ndarray]:
    """Asymptotic throughput bound X = min_k c_k / D_k (I/O per s) and the utilisations
    there (Lazowska et al. 1984, *Quantitative System Performance*, section 5.2)."""
    X = net.saturation_per_s if math.isfinite(net.saturation_per_s) else 0.0
    return X, net.utilisation(X)


def _notified(net: Network) -> list[int]:
    """Stations a notification wakes: queueing stations other than the vCPUs that
    serve per-batch hops (the backend thread that drains the ring)."""
    idx = {v.station for v in net.route if v.per == "batch"}
    return [i for i in sorted(idx) if not net.stations[i].is_delay
            and net.stations[i].name != "vcpu" and net.stations[i].demand_us > 0]


def _solve_load_batched(p: Path, host: HostProfile, w: Workload, tol: float = 1e-10):
    """Closed solution with a load-dependent batch: b = 1 / (1 - rho).

    With notification suppression (virtio EVENT_IDX, a backend that drains its ring
    on every wake-up) a request that arrives while the notified backend is busy
    rides on the current pass; by PASTA a fraction 1 - rho of requests find it
    idle, so kicks and interrupts per I/O are 1 - rho and the batch is 1/(1 - rho),
    capped at the requests in flight.  rho is the utilisation of the busiest
    notified station, itself a function of b: the root in log b of
    ``log b - log target(b)`` by Brent's method (the bracket [1, cap] always holds one).
    """
    cap = float(min(w.population, _BATCH_MAX))
    memo: dict[float, tuple] = {}

    def solve(logb: float) -> tuple:
        if logb not in memo:
            net = build(p, host, replace(w, batch=min(math.exp(logb), cap)))  # exp(log 3) > 3
            X, R, waits, util = _closed(net, [w.population])[w.population]
            rho = max((float(util[i]) for i in _notified(net)), default=0.0)
            target = min(max(1.0 / max(1.0 - rho, 1e-12), 1.0), cap)
            memo[logb] = (net, X, R, waits, util, math.log(target))
        return memo[logb]

    g = lambda t: t - solve(t)[5]  # noqa: E731 - increasing in t, <= 0 at 0, >= 0 at log cap
    hi = math.log(cap)
    if cap <= 1.0 or g(0.0) >= 0.0:
        t = 0.0
    elif g(hi) <= 0.0:
        t = hi
    else:
        from scipy import optimize

        t = optimize.brentq(g, 0.0, hi, xtol=tol, rtol=4 * np.finfo(float).eps)
    return solve(t)[:5]


def _closed(net: Network, pops: Sequence[int]) -> dict[int, tuple]:
    """population -> (X per s, R µs, per-visit waits, utilisation), one MVA pass."""
    sol = solve_closed(net, list(pops))
    if isinstance(sol, tuple) and len(sol) == 4 and np.ndim(sol[0]) == 1:  # arrays per population
        X, R, waits, util = sol
        return {n: (float(X[k]), float(R[k]), np.asarray(waits[k]), np.asarray(util[k]))
                for k, n in enumerate(pops)}
    return {n: (float(s[0]), float(s[1]), np.asarray(s[2]), np.asarray(s[3]))
            for n, s in zip(pops, sol, strict=True)}


class _Model:
    """Rows grouped by the network they share; predicts every row for a host."""

    def __init__(self, rows: Sequence[_Row], percentiles: str = "approx",
                 sim_options: Mapping[str, Any] | None = None, batching: str = "stated") -> None:
        self.rows = list(rows)
        self.batching = batching
        groups: dict[tuple, list[int]] = {}
        for j, r in enumerate(self.rows):
            groups.setdefault(r.group_key(), []).append(j)
        self.groups = list(groups.values())
        self.percentiles = percentiles
        self.sim_options = {"requests": 20_000, "replications": 4, "seed": 20240917,
                            **dict(sim_options or {})}

    def _simulate(self, net: Network, workload: Workload):
        from .sim import simulate_network

        return simulate_network(net, progress=False, workload=workload, **self.sim_options)

    def predict(self, host: HostProfile, batch: float | None = None) -> np.ndarray:
        """Predictions for every row; ``batch`` replaces the batch of rows that do not state one."""
        out = np.full(len(self.rows), np.nan)
        rows = self.rows if batch is None else [r.with_batch(batch) for r in self.rows]
        for idx in self.groups:
            r0 = rows[idx[0]]
            h = host.replace(**dict(r0.overrides)) if r0.overrides else host
            if r0.workload.is_open:
                net = build(r0.path, h, r0.workload)
                for j in idx:
                    r = rows[j]
                    try:
                        R, waits, util = solve_open(net, r.workload.rate_per_s)
                    except UnstableError:
                        continue
                    sim = None
                    if self.percentiles == "sim" and r.metric in _QUANTILES:
                        sim = self._simulate(build(r.path, h, r.workload), r.workload)
                    out[j] = _value(r.metric, r, net, r.workload.rate_per_s, R, waits, util, sim)
                continue
            if r0.saturated:
                net = build(r0.path, h, r0.workload)
                X, util = _saturation(net)
                for j in idx:
                    r = rows[j]
                    R = r.workload.population / X * 1e6 if X > 0 else math.inf
                    out[j] = _value(r.metric, r, net, X, R, np.zeros(len(net.stations)), util, None)
                continue
            if self.batching == "load" and not r0.batch_stated:
                solved: dict[int, tuple] = {}  # one fixed point per population
                for j in idx:
                    r = rows[j]
                    n = r.workload.population
                    if n not in solved:
                        solved[n] = _solve_load_batched(r.path, h, r.workload)
                    net, X, R, waits, util = solved[n]
                    out[j] = _value(r.metric, replace(r, workload=replace(
                        r.workload, batch=net.batch)), net, X, R, waits, util, None)
                continue
            # a fitted batch is capped at each row's population: one MVA pass per batch value
            by_batch: dict[float, list[int]] = {}
            for j in idx:
                by_batch.setdefault(rows[j].workload.batch, []).append(j)
            sols = {}
            for sub in by_batch.values():
                top = max(sub, key=lambda j: rows[j].workload.population)
                net = build(r0.path, h, rows[top].workload)
                sol = _closed(net, sorted({rows[j].workload.population for j in sub}))
                sols.update({j: (net, sol[rows[j].workload.population]) for j in sub})
            for j in idx:
                r = rows[j]
                net, (X, R, waits, util) = sols[j]
                sim = None
                if self.percentiles == "sim" and r.metric in _QUANTILES:
                    sim = self._simulate(build(r.path, h, r.workload), r.workload)
                out[j] = _value(r.metric, r, net, X, R, waits, util, sim)
        return out


# ------------------------------------------------------------------------------ fitting
@dataclass(frozen=True)
class _Problem:
    """What the optimiser sees: free costs in log space, their boxes, the fixed rest."""

    free: tuple[str, ...]
    base: Mapping[str, float]
    lo: np.ndarray
    hi: np.ndarray
    loss: str
    f_scale: float
    max_nfev: int | None
    fit_batch: bool = False

    def batch(self, theta: np.ndarray) -> float | None:
        """The effective batch (last element of theta) when it is fitted."""
        return float(np.exp(np.clip(theta[-1], self.lo[-1], self.hi[-1]))) if self.fit_batch else None

    @property
    def names(self) -> tuple[str, ...]:
        return (*self.free, "batch") if self.fit_batch else self.free

    def host(self, theta: np.ndarray) -> HostProfile:
        vals = dict(self.base)
        n = len(self.free)
        v = np.clip(np.exp(theta[:n]), np.exp(self.lo[:n]), np.exp(self.hi[:n]))
        decl = parameters()
        for name, x in zip(self.free, v, strict=True):
            lo, hi = decl[name].bounds
            vals[name] = float(min(max(x, lo), hi))
        return HostProfile(vals, name="fit")


def _residuals(model: _Model, prob: _Problem, theta: np.ndarray,
               y: np.ndarray, w: np.ndarray) -> np.ndarray:
    pred = model.predict(prob.host(theta), prob.batch(theta))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.log(pred) - np.log(y)
    bad = ~np.isfinite(r)
    r[bad] = _PENALTY
    return w * r


def _bounds_for(name: str, start: float) -> tuple[float, float]:
    p = parameters()[name]
    lo, hi = p.bounds
    if lo <= 0:
        lo = 1e-3 * min(start if start > 0 else p.typical[0], p.typical[0])
    return math.log(lo), math.log(hi)


def _used_costs(rows: Sequence[_Row]) -> list[str]:
    """Cost names the rows' paths use (hop costs, conditions, server counts), in order."""
    decl = parameters()
    seen: dict[str, None] = {}
    for r in rows:
        pinned = {k for k, _ in r.overrides}
        for h in r.path.active_hops():
            if isinstance(h.cost, str):
                for n in sorted(compile_expr(h.cost)[1]):
                    if n in decl and n not in pinned:
                        seen.setdefault(n, None)
        for res in r.path.resources.values():
            if isinstance(res.servers, str) and res.servers in decl:
                seen.setdefault(res.servers, None)
    return list(seen)


def _is_count(name: str) -> bool:
    return parameters()[name].unit == "count"


def _log_jacobian(model: _Model, prob: _Problem, theta: np.ndarray, y: np.ndarray,
                  w: np.ndarray, step: float = 1e-4) -> np.ndarray:
    f0 = _residuals(model, prob, theta, y, w)
    J = np.empty((len(f0), len(theta)))
    for j in range(len(theta)):
        t = theta.copy()
        h = step if t[j] + step <= prob.hi[j] else -step
        t[j] += h
        J[:, j] = (_residuals(model, prob, t, y, w) - f0) / h
    return J


def _select_identifiable(J: np.ndarray, names: Sequence[str], tol: float = 1e-3) -> list[str]:
    """Column-pivoted QR of the scaled log-sensitivities: the identifiable subset."""
    from scipy.linalg import qr

    norms = np.linalg.norm(J, axis=0)
    keep = norms > 1e-6 * max(norms.max(), 1e-300)
    if not keep.any():
        return []
    cols = np.flatnonzero(keep)
    _, Rm, piv = qr(J[:, cols], mode="economic", pivoting=True)
    d = np.abs(np.diag(Rm))
    rank = int(np.sum(d > tol * d[0])) if d.size else 0
    chosen = sorted(cols[piv[:rank]])
    return [names[k] for k in chosen]


def _fit_theta(model: _Model, prob: _Problem, theta0: np.ndarray, y: np.ndarray,
               w: np.ndarray) -> optimize.OptimizeResult:
    x0 = np.clip(theta0, prob.lo + 1e-9, prob.hi - 1e-9)
    # simulated percentiles are smooth only on average (event orders change under tiny
    # perturbations even with common random numbers): difference over 2 % steps there
    step = 2e-2 if model.percentiles == "sim" and any(
        r.metric in _QUANTILES for r in model.rows) else 1e-6
    tol = 1e-6 if step > 1e-6 else 1e-10
    from scipy import optimize

    return optimize.least_squares(
        lambda t: _residuals(model, prob, t, y, w), x0, bounds=(prob.lo, prob.hi),
        method="trf", loss=prob.loss, f_scale=prob.f_scale, x_scale=1.0, diff_step=step,
        xtol=tol, ftol=tol, gtol=tol, max_nfev=prob.max_nfev or 40 * (len(x0) + 1))


def _boot_one(rows: Sequence[_Row], percentiles: str, sim_options: Mapping[str, Any],
              prob: _Problem, theta0: np.ndarray, seed: np.random.SeedSequence,
              batching: str = "stated") -> np.ndarray:
    """One bootstrap replicate: resample rows with replacement, refit from theta0."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(rows), len(rows))
    sub = [rows[i] for i in idx]
    model = _Model(sub, percentiles, sim_options, batching)
    y = np.array([r.value for r in sub])
    w = np.array([r.weight for r in sub])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = _fit_theta(model, prob, theta0, y, w)
    except (IovModelError, ValueError, np.linalg.LinAlgError):
        return np.full(len(theta0), np.nan)
    return res.x


# ------------------------------------------------------------------------------ result
@dataclass(frozen=True, repr=False, eq=False)
class FitResult:
    """A calibrated host profile with its uncertainty and residuals.

    Attributes
    ----------
    profile : HostProfile
        The start profile with the free costs replaced by their fitted values.
    start : HostProfile
        The profile the fit started from.
    params : DataFrame
        One row per free cost (index: name): ``value, start, stderr`` (µs or the
        cost's unit), ``ci_lo, ci_hi`` (95 %, from the covariance), ``at_bound``
        (the fit sits on a bound of its box), ``identifiable``, ``lo, hi`` (the
        box), and with ``n_boot`` ``boot_lo, boot_hi`` (2.5 / 97.5 % bootstrap
        percentiles).
    residuals : DataFrame
        The measured rows plus ``measured``, ``predicted``, ``rel_error``
        ((predicted - measured) / measured) and ``log_error``.
    correlation : DataFrame
        Correlation matrix of the free costs (log scale).
    r2 : float
        Coefficient of determination of log(predicted) on log(measured).
    mape : float
        Median absolute percentage error, %.
    dof : int
        Rows minus free costs.
    success : bool
    message : str
        The optimiser's.
    nfev : int
        Model evaluations of the optimiser.
    notes : tuple of str
        Ignored option keys, warnings raised, rows with no prediction.
    """

    profile: HostProfile
    start: HostProfile
    params: pd.DataFrame
    residuals: pd.DataFrame
    correlation: pd.DataFrame
    r2: float
    mape: float
    dof: int
    success: bool
    message: str
    nfev: int
    loss: str = "linear"
    boot: pd.DataFrame | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def free(self) -> tuple[str, ...]:
        """Names of the fitted costs (and ``"batch"`` when it was fitted)."""
        return tuple(self.params.index)

    @property
    def batch(self) -> float | None:
        """The fitted effective batch (requests per kick / interrupt) of the rows that
        state none, when ``free`` named ``"batch"``; else None."""
        return float(self.params.loc["batch", "value"]) if "batch" in self.params.index else None

    @property
    def median_abs_pct_error(self) -> float:
        """Median absolute percentage error, % (same as :attr:`mape`)."""
        return self.mape

    def to_frame(self) -> pd.DataFrame:
        """The parameter table as a tidy frame (column ``name`` first)."""
        return self.params.reset_index(names="name")

    def report(self) -> str:
        """A text report: goodness of fit, the parameters, the largest residuals."""
        lines = [f"fit of {len(self.params)} cost(s) to {len(self.residuals)} row(s) "
                 f"(dof {self.dof}, loss {self.loss}): {self.message}",
                 f"  R^2 (log scale) {self.r2:.4f}; median |error| {self.mape:.2f} %; "
                 f"max |error| {100 * self.residuals['rel_error'].abs().max():.1f} %"]
        lines.append(f"  {'cost':<18} {'value':>10} {'stderr':>10} {'95% CI':>23} {'start':>9}")
        for name, p in self.params.iterrows():
            flag = " at bound" if p["at_bound"] else ""
            flag += "" if p["identifiable"] else " NOT IDENTIFIABLE"
            ci = f"[{p['ci_lo']:.4g}, {p['ci_hi']:.4g}]"
            lines.append(f"  {name:<18} {p['value']:>10.4g} {p['stderr']:>10.3g} {ci:>23} "
                         f"{p['start']:>9.4g}{flag}")
            if "boot_lo" in p and np.isfinite(p["boot_lo"]):
                lines.append(f"  {'':<18} bootstrap 95% [{p['boot_lo']:.4g}, {p['boot_hi']:.4g}]")
        worst = self.residuals.reindex(self.residuals["rel_error"].abs()
                                       .sort_values(ascending=False).index).head(5)
        lines.append("  largest residuals:")
        for _, r in worst.iterrows():
            lines.append(f"    {r['path']:<24} {r['metric']:<18} measured {r['measured']:.4g} "
                         f"predicted {r['predicted']:.4g} ({100 * r['rel_error']:+.1f} %)")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    summary = report

    def __repr__(self) -> str:
        return (f"<FitResult {len(self.params)} cost(s) from {len(self.residuals)} rows: "
                f"R^2 {self.r2:.3f}, median |error| {self.mape:.1f} %>")

    def _repr_html_(self) -> str:
        esc = html.escape
        head = (f"<b>fit</b> of {len(self.params)} cost(s) to {len(self.residuals)} rows · "
                f"R² (log) <b>{self.r2:.3f}</b> · median |error| <b>{self.mape:.1f} %</b> · "
                f"{esc(self.message)}")
        cols = [c for c in ("value", "stderr", "ci_lo", "ci_hi", "start", "at_bound",
                            "identifiable", "boot_lo", "boot_hi") if c in self.params]
        table = self.params[cols].to_html(float_format=lambda x: f"{x:.4g}")
        notes = "".join(f"<br><small>{esc(n)}</small>" for n in self.notes)
        return f"<div>{head}{table}{notes}</div>"

    def plot(self, ax=None, **kwargs):
        """Measured against predicted (log-log, y = x) with residuals; returns the Axes."""
        try:
            from .plot import measured_vs_predicted
        except ImportError:
            measured_vs_predicted = None
        if measured_vs_predicted is not None:
            return measured_vs_predicted(self, ax=ax, **kwargs)
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        df = self.residuals
        for metric, g in df.groupby("metric"):
            ax.scatter(g["measured"], g["predicted"], label=metric, s=14)
            ax.vlines(g["measured"], g["measured"], g["predicted"], lw=0.6, alpha=0.5)
        lo = float(min(df["measured"].min(), df["predicted"].min()))
        hi = float(max(df["measured"].max(), df["predicted"].max()))
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set(xscale="log", yscale="log", xlabel="measured", ylabel="predicted")
        ax.legend(fontsize="small")
        return ax


def _stats(res, prob: _Problem, m: int, y: np.ndarray, pred: np.ndarray,
           J: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    names = prob.names
    n = len(names)
    dof = m - n
    theta = res.x
    issues: list[str] = []
    cov = np.full((n, n), np.nan)
    norms = np.linalg.norm(J, axis=0)
    if dof > 0:
        s2 = float(np.sum(res.fun**2)) / dof
        # (J'J)^-1 by SVD without truncation: a near-null direction gets a huge variance
        # (a truncated pseudo-inverse would give it none and fake a tiny stderr)
        _, sv, vt = np.linalg.svd(J, full_matrices=False)
        sv_full = np.zeros(n)
        sv_full[:len(sv)] = sv
        floor = max(sv_full.max(initial=0.0), 1e-300) * 1e-15
        vt_full = np.zeros((n, n))
        vt_full[:len(sv)] = vt
        if len(sv) < n:  # fewer rows than costs: complete the basis
            vt_full = np.linalg.svd(np.vstack([vt, np.zeros((n - len(sv), n))]))[2]
        cov = s2 * (vt_full.T / np.maximum(sv_full, floor) ** 2) @ vt_full
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    from scipy import stats

    tq = stats.t.ppf(0.975, dof) if dof > 0 else np.nan
    identifiable = np.ones(n, dtype=bool)
    # no influence on any row, or in the (near) null space of J, or hopelessly uncertain
    identifiable &= norms > 1e-8 * max(norms.max(initial=0.0), 1e-300)
    if n and np.all(np.isfinite(J)):
        Jn = J / np.where(norms > 0, norms, 1.0)
        _, sv, vt = np.linalg.svd(Jn, full_matrices=True)
        sv = np.concatenate([sv, np.zeros(n - len(sv))])
        null = vt[sv < 1e-6 * max(sv.max(initial=0.0), 1e-300)]
        if len(null):
            identifiable &= ~(np.abs(null).max(axis=0) > 0.1)
    identifiable &= ~(se > math.log(10.0))  # 1 se = a factor 10: the data do not pin it
    if dof <= 0:
        identifiable[:] = False
    value = np.array([prob.host(theta)[k] for k in prob.free]
                     + ([prob.batch(theta)] if prob.fit_batch else []))
    start = np.array([prob.base[k] for k in prob.free] + ([_BATCH0] if prob.fit_batch else []))
    at_bound = (res.active_mask != 0) | (theta - prob.lo < 1e-6) | (prob.hi - theta < 1e-6)
    params = pd.DataFrame({
        "value": value, "start": start, "stderr": value * se,
        "ci_lo": np.exp(np.clip(theta - tq * se, prob.lo, prob.hi)),
        "ci_hi": np.exp(np.clip(theta + tq * se, prob.lo, prob.hi)),
        "at_bound": at_bound, "identifiable": identifiable,
        "lo": np.exp(prob.lo), "hi": np.exp(prob.hi),
    }, index=pd.Index(list(names), name="name"))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / np.outer(se, se)
    correlation = pd.DataFrame(corr, index=list(names), columns=list(names))
    bad = [k for k, ok in zip(names, identifiable, strict=True) if not ok]
    if dof <= 0:
        issues.append(f"{m} row(s) for {n} free cost(s): no degrees of freedom, the "
                      "costs are not identifiable; fix some (free=...) or add data")
    elif bad:
        issues.append(f"cost(s) {', '.join(bad)} are not identifiable from these data "
                      "(no influence, collinear with others, or standard error above a "
                      "factor 10); fix them (free=...) or add rows that separate them")
    return params, correlation, issues


def fit(measurements: pd.DataFrame, free: Sequence[str] | str | None = None,
        host: HostProfile | None = None, weights: Any = None, loss: str = "linear", *,
        f_scale: float = 0.1, n_boot: int = 0, seed: int | None = None,
        executor: Executor | None = None, percentiles: str = "approx",
        sim_options: Mapping[str, Any] | None = None,
        max_nfev: int | None = None, drop_unpredictable: bool = False,
        batching: str = "stated") -> FitResult:
    """Calibrate host costs to measurements.

    Parameters
    ----------
    measurements : DataFrame
        One row per measured number: ``path``, ``metric``, ``value`` and
        optionally ``options``, ``jobs``, ``iodepth``, ``size_bytes``,
        ``rate_per_s``, ``batch``, ``think_us``, ``unit`` (the tidy schema of
        :mod:`iovmodel.datasets`).  Metrics: :data:`PREDICTABLE`.
    free : sequence of str, "all" or None
        Costs to fit.  None: the costs the measured paths use, reduced to the
        subset the data can inform (a column-pivoted QR of the log-sensitivity
        matrix at the start profile keeps the numerically independent ones;
        count costs such as ``device_blk_slots`` stay fixed).  ``"all"``: every
        cost the paths use, identifiable or not.
    host : HostProfile, optional
        Start values and the fixed costs (default :meth:`HostProfile.default`).
    weights : None, str or array-like
        Multiplies each row's log residual: None (all 1), a column name, or one
        number per row.
    loss : {"linear", "soft_l1", "huber", "cauchy", "arctan"}
        Robust loss of :func:`scipy.optimize.least_squares`; ``f_scale`` is its
        soft margin in log units (0.1: about 10 %).
    n_boot : int
        Bootstrap replicates (rows resampled with replacement, refitted);
        0 skips the bootstrap.
    seed : int, optional
        Root of ``numpy.random.SeedSequence`` for the bootstrap: same seed, same
        intervals, whatever the executor.
    executor : concurrent.futures.Executor, optional
        Runs bootstrap replicates (``executor.map``); default in this process.
    percentiles : {"approx", "sim"}
        How latency percentiles are predicted (module docstring).
    sim_options : mapping, optional
        ``requests``, ``replications``, ``seed`` of the simulator when
        ``percentiles="sim"``.
    batching : {"stated", "load"}
        Batch (requests per kick and per interrupt) of the rows whose ``batch`` is
        empty: ``"stated"`` takes 1; ``"load"`` takes the load-dependent
        ``1 / (1 - rho)`` of notification suppression (module docstring).
    drop_unpredictable : bool
        Drop the rows :func:`predictable` rejects (listed in :attr:`FitResult.notes`)
        instead of raising; the residuals then hold only the fitted rows.
    max_nfev : int, optional
        Most iterations of the optimiser (default 40 x (free + 1); each costs free + 1
        model evaluations for the finite-difference Jacobian).

    Returns
    -------
    FitResult

    Raises
    ------
    FitError
        Empty measurements, a NaN or non-positive value, an unknown path, a
        metric the path cannot predict, unknown or count costs in ``free``.

    Warns
    -----
    FitConvergenceWarning
        The optimiser stopped without converging, or a free cost is not
        identifiable from the data.
    """
    if loss not in _LOSSES:
        raise FitError(f"loss must be one of {', '.join(_LOSSES)}, got {loss!r}")
    if percentiles not in ("approx", "sim"):
        raise FitError(f"percentiles must be 'approx' or 'sim', got {percentiles!r}")
    if batching not in ("stated", "load"):
        raise FitError(f"batching must be 'stated' or 'load', got {batching!r}")
    if not isinstance(n_boot, int | np.integer) or n_boot < 0:
        raise FitError(f"n_boot must be a whole number >= 0, got {n_boot!r}")
    if not (f_scale > 0):
        raise FitError(f"f_scale must be > 0 (log units), got {f_scale!r}")
    host = host if host is not None else HostProfile.default()
    if not isinstance(host, HostProfile):
        raise FitError(f"host must be a HostProfile, got {type(host).__name__}")
    dropped = ""
    if drop_unpredictable:
        frame = _check_frame(measurements)
        ok = predictable(frame)
        if not ok["predictable"].any():
            raise FitError(f"no row is predictable; e.g. {ok['reason'].iloc[0]}")
        if not ok["predictable"].all():
            why = ok.loc[~ok["predictable"], "reason"]
            dropped = (f"dropped {len(why)} unpredictable row(s), e.g. "
                       f"{why.iloc[0]}")
            if weights is not None and not isinstance(weights, str):
                weights = np.asarray(weights, dtype=float)[ok["predictable"].to_numpy()]
            measurements = frame[ok["predictable"].to_numpy()]
    rows, ignored = _parse(measurements, weights)
    model = _Model(rows, percentiles, sim_options, batching)
    y = np.array([r.value for r in rows])
    w = np.array([r.weight for r in rows])
    used = _used_costs(rows)
    decl = parameters()
    notes: list[str] = [dropped] if dropped else []
    if ignored:
        notes.append(f"option keys ignored (neither path options nor costs): "
                     f"{', '.join(sorted(ignored))}")
    if isinstance(free, str) and free != "all":
        free = [free]
    fit_batch = free is not None and free != "all" and "batch" in free
    if fit_batch:
        if batching == "load":
            raise FitError("free names 'batch' but batching='load' derives it from the load; "
                           "use one or the other")
        free = [k for k in free if k != "batch"]
        if all(r.batch_stated for r in rows):
            raise FitError("free names 'batch' but every row states its batch")
    if free is None or free == "all":
        cand = [k for k in used if not _is_count(k)]
        if not cand:
            raise FitError("the measured paths use no fittable cost")
        if free is None:
            prob0 = _make_problem(cand, host, loss, f_scale, max_nfev)
            J0 = _log_jacobian(model, prob0, _theta0(prob0), y, w)
            free = _select_identifiable(J0, cand)
            if not free:
                raise FitError("no cost influences these measurements; nothing to fit")
            fixed = [k for k in cand if k not in free]
            if fixed:
                notes.append(f"kept at their start values (not separable from the fitted "
                             f"ones by these data): {', '.join(fixed)}")
        else:
            free = cand
    free = list(dict.fromkeys(free))
    if not free and not fit_batch:
        raise FitError("free is empty: name at least one cost (or 'batch')")
    for k in free:
        if k not in decl:
            raise FitError(f"free names unknown cost {k!r}; known: {', '.join(sorted(decl))}")
        if _is_count(k):
            raise FitError(f"{k!r} is a count (a number of servers); least squares cannot fit "
                           "it: set it in host and compare fits instead")
    unused = [k for k in free if k not in used]
    if unused:
        notes.append(f"free cost(s) no measured path uses: {', '.join(unused)}")
    prob = _make_problem(free, host, loss, f_scale, max_nfev, fit_batch)
    theta0 = _theta0(prob)
    res = _fit_theta(model, prob, theta0, y, w)
    pred = model.predict(prob.host(res.x), prob.batch(res.x))
    J = res.jac if res.jac is not None else _log_jacobian(model, prob, res.x, y, w)
    params, corr, issues = _stats(res, prob, len(rows), y, pred, J)
    if not res.success or res.status <= 0:
        issues.append(f"the optimiser did not converge: {res.message}")
    nopred = int(np.sum(~np.isfinite(pred)))
    if nopred:
        issues.append(f"{nopred} row(s) have no prediction at the fitted costs (an open "
                      "load beyond a resource's capacity)")
    boot = None
    if n_boot:
        children = np.random.SeedSequence(seed).spawn(int(n_boot))
        args = [(rows, percentiles, dict(model.sim_options), prob, res.x, c, batching)
                for c in children]
        if executor is None:
            thetas = [_boot_one(*a) for a in args]
        else:
            thetas = list(executor.map(_boot_one, *zip(*args, strict=True)))
        T = np.array(thetas, dtype=float).reshape(int(n_boot), len(prob.names))
        boot = pd.DataFrame(np.exp(T), columns=list(prob.names))
        boot.index.name = "replicate"
        ok = np.isfinite(T).all(axis=1)
        if ok.sum() >= 2:
            params["boot_lo"] = np.exp(np.percentile(T[ok], 2.5, axis=0))
            params["boot_hi"] = np.exp(np.percentile(T[ok], 97.5, axis=0))
        else:
            params["boot_lo"] = params["boot_hi"] = np.nan
        if (~ok).any():
            notes.append(f"{int((~ok).sum())} of {n_boot} bootstrap replicates failed")
    for msg in issues:
        warnings.warn(msg, FitConvergenceWarning, stacklevel=2)
    notes.extend(issues)
    out = _residual_frame(measurements, y, pred)
    with np.errstate(divide="ignore", invalid="ignore"):
        lr = np.log(pred) - np.log(y)
    fin = np.isfinite(lr)
    ly = np.log(y[fin])
    ss_tot = float(np.sum((ly - ly.mean()) ** 2))
    r2 = 1.0 - float(np.sum(lr[fin] ** 2)) / ss_tot if ss_tot > 0 else math.nan
    mape = float(np.median(np.abs(out["rel_error"].to_numpy()))) * 100.0
    profile = prob.host(res.x)
    profile = HostProfile(dict(profile), name=f"fit of {host.name}",
                          sources={**host.sources, **{k: "fitted by iovmodel.fit" for k in free}})
    return FitResult(profile=profile, start=host, params=params, residuals=out,
                     correlation=corr, r2=r2, mape=mape, dof=len(rows) - len(prob.names),
                     success=bool(res.success and res.status > 0), message=str(res.message),
                     nfev=int(res.nfev), loss=loss, boot=boot, notes=tuple(notes))


def _make_problem(free: Sequence[str], host: HostProfile, loss: str, f_scale: float,
                  max_nfev: int | None, fit_batch: bool = False) -> _Problem:
    b = [_bounds_for(k, host[k]) for k in free]
    if fit_batch:
        b.append((0.0, math.log(_BATCH_MAX)))
    return _Problem(tuple(free), dict(host), np.array([x[0] for x in b]),
                    np.array([x[1] for x in b]), loss, float(f_scale), max_nfev, fit_batch)


def _theta0(prob: _Problem) -> np.ndarray:
    v = np.array([prob.base[k] for k in prob.free] + ([_BATCH0] if prob.fit_batch else []),
                 dtype=float)
    with np.errstate(divide="ignore"):
        t = np.log(v)
    return np.clip(t, prob.lo, prob.hi)


def _residual_frame(measurements: pd.DataFrame, y: np.ndarray, pred: np.ndarray) -> pd.DataFrame:
    out = measurements.reset_index(drop=True).copy()
    out["measured"] = y
    out["predicted"] = pred
    with np.errstate(divide="ignore", invalid="ignore"):
        out["rel_error"] = (pred - y) / y
        out["log_error"] = np.log(pred) - np.log(y)
    return out


def predict(measurements: pd.DataFrame, host: HostProfile | None = None, *,
            batch: float | None = None, percentiles: str = "approx",
            sim_options: Mapping[str, Any] | None = None,
            batching: str = "stated") -> pd.DataFrame:
    """Predict every row of a measurement frame under one host profile.

    ``batch`` (e.g. :attr:`FitResult.batch`) replaces the batch of the rows that
    do not state one.  Returns the rows plus ``measured``, ``predicted``,
    ``rel_error`` ((predicted - measured) / measured) and ``log_error``; a row
    without a prediction (an open load beyond capacity) gets NaN.
    """
    host = host if host is not None else HostProfile.default()
    rows, _ = _parse(measurements)
    pred = _Model(rows, percentiles, sim_options, batching).predict(host, batch)
    return _residual_frame(measurements, np.array([r.value for r in rows]), pred)


def _train_mask(measurements: pd.DataFrame, train: Any) -> np.ndarray:
    if callable(train):
        train = train(measurements)
    if isinstance(train, pd.Series) and train.index.equals(measurements.index):
        mask = train.to_numpy()
    else:
        mask = np.asarray(train)
    if mask.dtype != bool:
        raise FitError(f"train must be a boolean mask, got dtype {mask.dtype}")
    if mask.shape != (len(measurements),):
        raise FitError(f"train has {mask.size} entries for {len(measurements)} rows")
    if mask.all():
        raise FitError("train selects every row: nothing is left to test")
    if not mask.any():
        raise FitError("train selects no row: nothing to fit")
    return mask


def crossval(measurements: pd.DataFrame, train: Any, **fit_options: Any) -> pd.DataFrame:
    """Fit where ``train`` is True and predict the other rows.

    Parameters
    ----------
    measurements : DataFrame
        As for :func:`fit`.
    train : boolean array-like or callable
        One flag per row (or a function of the frame returning it): True rows
        are fitted, False rows are predicted.
    **fit_options
        Passed to :func:`fit` (``free``, ``host``, ``loss``, ...; ``weights`` as a
        column name or one number per row of the whole frame).

    Returns
    -------
    DataFrame
        The held-out rows with ``measured``, ``predicted``, ``rel_error`` and
        ``log_error``.  ``attrs`` holds ``test_mape`` and ``train_mape`` (median
        absolute percentage errors, %), ``n_train``, ``n_test`` and ``free``.
    """
    df = _check_frame(measurements)
    mask = _train_mask(df, train)
    weights = fit_options.pop("weights", None)
    if weights is not None and not isinstance(weights, str):
        weights = np.asarray(weights, dtype=float)[mask]
    f = fit(df[mask], weights=weights, **fit_options)
    test = df[~mask]
    out = predict(test, f.profile, batch=f.batch, percentiles=fit_options.get("percentiles", "approx"),
                  sim_options=fit_options.get("sim_options"),
                  batching=fit_options.get("batching", "stated"))
    out.index = measurements.index[~mask]
    out.attrs.update({"test_mape": float(np.nanmedian(np.abs(out["rel_error"]))) * 100.0,
                      "train_mape": f.mape, "n_train": int(mask.sum()),
                      "n_test": int((~mask).sum()), "free": list(f.free)})
    return out


def fit_groups(measurements: pd.DataFrame, by: str | Sequence[str],
               **fit_options: Any) -> dict[Any, FitResult]:
    """Fit each group of rows separately (e.g. ``by="hardware"``): one profile per host."""
    df = _check_frame(measurements)
    return {k: fit(g, **fit_options) for k, g in df.groupby(by, sort=True)}



def _load_of(df: pd.DataFrame) -> np.ndarray:
    """Offered load per row: jobs x iodepth (closed) or rate_per_s (open), for splits."""
    jobs = pd.to_numeric(df.get("jobs"), errors="coerce") if "jobs" in df else None
    qd = pd.to_numeric(df.get("iodepth"), errors="coerce") if "iodepth" in df else None
    n = len(df)
    j = np.ones(n) if jobs is None else jobs.fillna(1).to_numpy(dtype=float)
    q = np.ones(n) if qd is None else qd.fillna(1).to_numpy(dtype=float)
    load = j * q
    if "rate_per_s" in df:
        rate = pd.to_numeric(df["rate_per_s"], errors="coerce").to_numpy(dtype=float)
        load = np.where(np.isfinite(rate), rate, load)
    return load


def split_low_load(df: pd.DataFrame) -> tuple[np.ndarray, str]:
    """The cross-validation split of :func:`dataset_report`: train on the rows at or
    below the median load (jobs x iodepth, or rate), test on the rest; when the load
    does not vary, train on every other row."""
    load = _load_of(df)
    mask = load <= np.median(load)
    if mask.all() or not mask.any():
        mask = np.arange(len(df)) % 2 == 0
        return mask, "alternate rows"
    return mask, "low load -> high load"


def dataset_report(names: Sequence[str] | None = None, *, by: str | None = None,
                   host: HostProfile | None = None, **fit_options: Any) -> pd.DataFrame:
    """Fit every bundled dataset's predictable rows and cross-validate.

    Parameters
    ----------
    names : sequence of str, optional
        Datasets (default: all of :func:`iovmodel.datasets.list`).
    by : str, optional
        Fit each group of this column separately (``"hardware"``, ``"source"``)
        and report the medians over the groups.
    **fit_options
        Passed to :func:`fit` and :func:`crossval` (``batching="load"``, ``loss``, ...).

    Returns
    -------
    DataFrame
        One row per dataset: ``dataset, rows, predictable, groups, free``,
        ``start_mdape`` (default profile), ``fit_mdape``, ``r2`` (log scale),
        ``split``, ``cv_train_mdape``, ``cv_test_mdape`` (median absolute
        percentage errors, %), ``note``.
    """
    from . import datasets

    names = list(datasets.list()["name"]) if names is None else list(names)
    out = []
    for name in names:
        df = datasets.load(name)
        ok = predictable(df)["predictable"].to_numpy()
        rec = {"dataset": name, "rows": len(df), "predictable": int(ok.sum()), "groups": 0,
               "free": "", "start_mdape": math.nan, "fit_mdape": math.nan, "r2": math.nan,
               "split": "", "cv_train_mdape": math.nan, "cv_test_mdape": math.nan, "note": ""}
        if not ok.any():
            rec["note"] = "no predictable rows"
            out.append(rec)
            continue
        d = df[ok].reset_index(drop=True)
        groups = [g.reset_index(drop=True) for _, g in d.groupby(by, sort=True)] if by else [d]
        start, fitted, r2, tr, te, free, splits = [], [], [], [], [], set(), set()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FitConvergenceWarning)
            for g in groups:
                p0 = predict(g, host, batching=fit_options.get("batching", "stated"))
                start.append(float(np.median(np.abs(p0["rel_error"]))) * 100)
                try:
                    f = fit(g, host=host, **fit_options)
                except FitError as exc:  # e.g. only exits_per_io rows: no cost to fit
                    rec["note"] = str(exc)
                    fitted.append(start[-1])
                    continue
                fitted.append(f.mape)
                r2.append(f.r2)
                free.update(f.free)
                if len(g) >= 4:
                    mask, split = split_low_load(g)
                    splits.add(split)
                    try:
                        cv = crossval(g, train=mask, host=host, **fit_options)
                    except FitError as exc:
                        rec["note"] = str(exc)
                    else:
                        tr.append(cv.attrs["train_mape"])
                        te.append(cv.attrs["test_mape"])
        rec.update({"groups": len(groups), "free": ", ".join(sorted(free)),
                    "start_mdape": float(np.median(start)), "fit_mdape": float(np.median(fitted)),
                    "r2": float(np.median(r2)) if r2 else math.nan, "split": "; ".join(sorted(splits)),
                    "cv_train_mdape": float(np.median(tr)) if tr else math.nan,
                    "cv_test_mdape": float(np.median(te)) if te else math.nan})
        if not tr and not rec["note"]:
            rec["note"] = "fewer than 4 rows: no cross-validation"
        out.append(rec)
    return pd.DataFrame(out)


if __name__ == "__main__":  # python -m iovmodel.fit [--catalog F] [none|hardware|source ...]
    pd.set_option("display.width", 200)
    pd.set_option("display.max_colwidth", 60)
    argv = sys.argv[1:]
    if argv[:1] == ["--catalog"]:  # a user catalog first (e.g. proposed path changes)
        from .spec.catalog import load_catalog

        print(f"user catalog {argv[1]}: {', '.join(load_catalog(argv[1], replace_existing=True))}")
        argv = argv[2:]
    groupings = [None if a == "none" else a for a in argv] or [None, "hardware"]
    for by_, batching_ in [(b, m) for b in groupings for m in ("stated", "load")]:
        table = dataset_report(by=by_, batching=batching_)
        print(f"\n== every bundled dataset, {'one joint fit' if by_ is None else 'fitted by ' + by_}"
              f", batching={batching_!r}")
        print(table.drop(columns=["free", "note"]).to_string(index=False, float_format="%.1f"))
        for _, r in table.iterrows():
            print(f"  {r['dataset']}: free {r['free'] or '-'}{'; ' + r['note'] if r['note'] else ''}")
