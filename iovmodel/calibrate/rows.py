"""Measurement rows: parse and check a tidy measurement frame against the catalog.

Every row names a path, a metric, a value and its workload; a bad row raises
:class:`~iovmodel.errors.FitError` naming its index, column and value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from ..datasets import _is_empty as _empty
from ..datasets import parse_options
from ..errors import DatasetError, FitError, IovModelError, ParameterError
from ..network import vcpu_groups
from ..solve.metrics import (
    LOAD_DEPENDENT,
    PREDICTABLE,
    QUANTILES,
    VMM_RESOURCES,
)
from ..solve.streams import STREAMS
from ..spec.catalog import CHOICES, Path
from ..spec.catalog import path as get_path
from ..spec.profile import parameters
from ..spec.traffic import Traffic
from ..spec.workload import RW_KINDS, Workload


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
    #: the prediction times this (qperf's *_lat reports half the round trip: 0.5)
    scale: float = 1.0
    unit: str = ""  # the row's group in a hierarchical fit (its value of the by column)

    def group_key(self) -> tuple:
        """Rows with the same key share one network (closed: one MVA pass over their
        populations)."""
        w = self.workload
        shape = ("open", w.size_bytes, w.batch) if w.is_open else \
            ("closed", w.size_bytes, w.batch, w.think_us)
        shape += (w.rw, w.rwmixread, w.fsync)
        opts = tuple(sorted((k, str(v)) for k, v in self.path.options.items()))
        if not w.is_open and _structured(self.path, w):
            # jobs over vCPUs, host cores or an in-flight limit: the network depends on the
            # jobs and iodepth themselves, so each (jobs, iodepth) is its own network
            shape += (w.jobs, w.iodepth)
        return (self.path.name, id(self.path) if self.path.name not in _catalog_names() else 0,
                opts, self.overrides, shape, self.batch_stated, self.saturated, self.unit)

    def with_batch(self, batch: float | None) -> _Row:
        """This row with an effective batch (only when its own batch is not stated)."""
        if batch is None or self.batch_stated:
            return self
        # a fitted batch is a mean, not a whole number: bypass Workload's integer check
        cap = self.workload.population or math.inf  # a batch never exceeds the requests in flight
        return replace(self, workload=replace(self.workload, batch=min(float(batch), cap)))


def _catalog_names() -> set[str]:
    from ..spec.catalog import path_names

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
    accel = opts.get("accel", "kvm")
    if str(accel) != "kvm":
        raise FitError(f"{where}: options accel={accel}: the catalog's paths are KVM's "
                       "(accel=kvm); QEMU's TCG translates the guest's code and emulates its "
                       "devices without VM exits, which no path models")
    vms = opts.get("vms", 1)
    if isinstance(vms, int | float) and vms > 1:
        raise FitError(f"{where}: the row measures {vms:g} VMs on one host (options vms="
                       f"{vms:g}); one path's prediction is one VM's: model it with "
                       "iov.Scenario (tests/solve/test_consolidation_data.py does for P08, P10)")
    costs = parameters()
    path_opts, overrides = {}, {}
    for k, v in opts.items():
        if k in p.options and isinstance(p.options[k], str) and p.options[k] != "inf" \
                and v not in CHOICES.get(k, ()):
            ignored.add(k)  # a label the model has no word for (S40's aio=custom: QEMU 2.0's own AIO)
        elif k in p.options:
            path_opts[k] = v
        elif isinstance(v, str) and isinstance(p.options.get(f"{k}_{v}"), bool):
            path_opts[f"{k}_{v}"] = True  # a label key=word sets the boolean option key_word
        elif isinstance(v, str) and len(flags := _word_flags(p, k)) == 1:
            path_opts[flags[0]] = False  # another word (engine=sync) clears the one key_word
        elif k in costs:
            try:
                overrides[k] = costs[k].check(v)
            except IovModelError as exc:
                raise FitError(f"{where}, column 'options': {exc}") from None
        elif k == "cpu_of":  # whose CPU a cpu_us_per_io row measured: read below
            pass
        elif k == "accel":  # kvm, checked above
            pass
        elif k == "rwmixread" and p.device == "blk":  # fio's read percent of a mix: below
            pass
        elif not (p.device == "net" and k in TRAFFIC_OPTIONS):  # read by traffic_of
            ignored.add(k)
    try:
        p = p.with_options(**path_opts)
    except IovModelError as exc:
        raise FitError(f"{where}, column 'options': {exc}") from None
    stated = {c: not _empty(row.get(c)) for c in ("jobs", "iodepth", "rate_per_s", "size_bytes")}
    rw0 = "" if _empty(row.get("rw")) else str(row.get("rw")).strip()
    if p.device == "net" and rw0 == "bidir" and metric in STREAM_METRICS \
            and not stated["iodepth"]:
        raise FitError(f"{where}: a two-way stream (iperf3 --bidir): the model's streams run "
                       "one way (Traffic directions tx, rx, vm2vm, hosts); fit the one-way rows")
    streams = _count(row, "jobs", 1, where) if not stated["iodepth"] else None
    try:
        said = p.device == "net" and traffic_of(opts, rw0, metric, 1,
                                                streams=streams)[0] is not None
    except IovModelError as exc:
        raise FitError(f"{where}: {exc}") from None
    if metric in LOAD_DEPENDENT and any(c in row for c in ("jobs", "iodepth", "rate_per_s")) \
            and not (stated["jobs"] or stated["iodepth"] or stated["rate_per_s"] or said):
        raise FitError(f"{where}: the workload is not stated (jobs, iodepth and rate_per_s are "
                       f"all empty), so {metric!r} cannot be predicted")
    if metric == "throughput_gbps" and "size_bytes" in row and not stated["size_bytes"] \
            and not said:
        raise FitError(f"{where}: size_bytes is empty; it is needed to turn I/O per second "
                       "into Gbps")
    rw = "" if _empty(row.get("rw")) else str(row.get("rw")).strip()
    # a block row's fio rw (randread, randwrite, ...) is the workload's; network rows' rw
    # (tx, rx, rr) name a traffic pattern instead
    io = {"rw": rw} if p.device == "blk" and rw in RW_KINDS else {}
    if "rwmixread" in opts and p.device == "blk":
        if not io:
            raise FitError(f"{where}, column 'options': rwmixread={opts['rwmixread']!r} needs "
                           f"a mix in column 'rw' (randrw or rw), got {rw!r}")
        io["rwmixread"] = opts["rwmixread"]
    try:
        size = _count(row, "size_bytes", 4096, where)
        batch = _count(row, "batch", 1, where)
        rate = row.get("rate_per_s")
        if not _empty(rate):
            w = Workload.open(float(rate), size_bytes=size, batch=batch, **io)
        else:
            think = row.get("think_us")
            w = Workload.closed(_count(row, "jobs", 1, where), _count(row, "iodepth", 1, where),
                                think_us=0.0 if _empty(think) else float(think),
                                size_bytes=size, batch=batch, **io)
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
    cpu_of = opts.get("cpu_of")
    if cpu_of is not None:
        metric = _cpu_of(where, p, metric, cpu_of)
    scale = 1.0
    if p.device == "net":
        try:
            rate = float(row["rate_per_s"]) if stated["rate_per_s"] else None
            t, scale = traffic_of(opts, rw, metric, None if not stated["size_bytes"] else size,
                                  rate, streams)
        except IovModelError as exc:
            raise FitError(f"{where}: {exc}") from None
        if t is not None:
            w = Workload.of(t)
            return _Row(i, p, tuple(sorted(overrides.items())), w, metric, value, weight,
                        batch_stated=True, scale=scale)
    saturated = (p.device == "net" and rw in STREAMS and not w.is_open
                 and "iodepth" in row and not stated["iodepth"]
                 and metric in LOAD_DEPENDENT - set(QUANTILES) - {"latency_us", "clat_us"})
    return _Row(i, p, tuple(sorted(overrides.items())), w, metric, value, weight,
                batch_stated="batch" in row and not _empty(row.get("batch")),
                saturated=saturated)


#: options of a network row that say what traffic it measured (:func:`traffic_of`)
TRAFFIC_OPTIONS = frozenset({"scope", "test", "mss"})

#: ``cpu_of`` values of a ``cpu_us_per_io`` row: the benchmark process's own CPU (fio's
#: usr + sys), in the guest of a VM path or on the host of a native one
CPU_OF = {"guest_fio": "guest", "host_fio": "native"}


def _cpu_of(where: str, p: Path, metric: str, cpu_of: Any) -> str:
    """The metric a ``cpu_us_per_io`` row with option ``cpu_of`` measures: the process's
    CPU per I/O is the demand at the vCPU threads (the application's CPU, natively)."""
    if metric != "cpu_us_per_io":
        raise FitError(f"{where}: option cpu_of={cpu_of!r} says whose CPU a cpu_us_per_io "
                       f"row measured; this row's metric is {metric!r}")
    kind = CPU_OF.get(str(cpu_of))
    if kind is None:
        raise FitError(f"{where}: option cpu_of={cpu_of!r} is not one of "
                       f"{', '.join(CPU_OF)}")
    native = p.family == "native"
    if (kind == "native") != native:
        raise FitError(f"{where}: cpu_of={cpu_of!r} on path {p.name!r}: "
                       + ("a native path has no guest; fio ran on the host (host_fio)"
                          if native else "fio ran in the guest of a VM path (guest_fio)"))
    if "vcpu" not in p.resources:
        raise FitError(f"{where}: path {p.name!r} has no vcpu resource, so the CPU of the "
                       "process that ran fio cannot be predicted")
    return "vcpu_cpu_us_per_io"


#: qperf tests (``test=`` in a row's options): (traffic kind, protocol, prediction scale);
#: qperf's tcp_lat / udp_lat print half the ping-pong round trip (qperf.c, "latency" = RTT / 2)
QPERF = {"tcp_lat": ("rr", "tcp", 0.5), "udp_lat": ("rr", "udp", 0.5),
         "tcp_bw": ("stream", "tcp", 1.0), "udp_bw": ("stream", "udp", 1.0)}


#: metrics of a bulk stream (iperf3 with the CPU of each side): a row with ``rw`` tx or rx
#: and one of these, no iodepth stated, is a stream
STREAM_METRICS = frozenset({"throughput_gbps", "cpu_util_vcpu_pct", "cpu_util_vmm_pct",
                            "cpu_util_host_pct"})


def traffic_of(opts: Mapping[str, Any], rw: str, metric: str,
               size: int | None, rate: float | None = None,
               streams: int | None = None) -> tuple[Traffic | None, float]:
    """The Traffic a network measurement row describes, and the prediction's scale.

    ``scope`` in the options gives the direction ("vm-to-vm same host": ``vm2vm``; "across
    hosts" / "host-to-host": ``hosts``, with the far end on the row's path for "vm-to-vm
    across hosts" and "host-to-host", ``peer="vm"``: a VM, or a host's own stack); a qperf
    ``test`` (tcp_lat, udp_lat, tcp_bw, udp_bw) the kind; a packet rate measured one way
    (``rw`` tx or rx, no test) is a packet generator (pktgen, testpmd txonly) as fast as the
    path takes it, with pktgen's default 60-byte frame when the size is not stated
    (``pkt_size`` = ETH_ZLEN, net/core/pktgen.c), at the row's ``rate_per_s`` when it states one (an offered rate: packets beyond what the path
    delivers are dropped, the prediction is the delivered rate). A throughput or CPU
    utilisation measured one way (``rw`` tx or rx, no offered rate) with ``streams`` given
    (the row's jobs, when it states no iodepth) is that many bulk TCP streams of ``size``
    writes (iperf3's default 128 KiB ``--len``), of ``mss`` segments where the options give
    one (iperf3 ``-M``). Rows that say none of this keep the
    request/response exchange of the catalog (None).
    """
    scope = str(opts.get("scope", "")).lower()
    direction = ("vm2vm" if "same host" in scope else
                 "hosts" if ("across" in scope or "host-to-host" in scope) else
                 rw if rw in ("tx", "rx") else "hosts")
    # "vm-to-vm across hosts": the far end is a VM on the same path (Traffic's peer "vm");
    # "host-to-host": the far host runs the same native path, its own stack (peer "vm" too:
    # "another endpoint on the same path"), not a fixed turnaround; otherwise the kind's
    # default far end
    peer = "vm" if direction == "hosts" and ("vm-to-vm" in scope
                                             or "host-to-host" in scope) else None
    test = str(opts.get("test", "")).split()[-1] if opts.get("test") else ""
    if test in QPERF:
        kind, proto, scale = QPERF[test]
        n = size or 1
        if kind == "rr":
            return Traffic.rr(n, proto, direction, peer=peer), scale
        return Traffic.stream(n, proto, direction, fragment=proto == "udp", peer=peer), scale
    if test == "iperf" and metric == "throughput_gbps":
        return Traffic.stream(size or 131072, "tcp", direction, peer=peer), 1.0
    if metric == "packets_per_s" and rw in ("tx", "rx"):
        return Traffic.flood(size or 60, rate_pps=rate, direction=direction), 1.0
    if metric in STREAM_METRICS and rw in ("tx", "rx") and streams is not None and rate is None:
        t = Traffic.stream(size or 131072, "tcp", direction, streams=streams)
        mss = opts.get("mss")  # iperf3 -M, its writes iperf3's default --len
        if mss is not None:
            if isinstance(mss, bool) or not isinstance(mss, int | float) or mss != int(mss) \
                    or mss < 1:
                raise ParameterError(f"option mss (the TCP segment, iperf3 -M) must be a whole "
                                     f"number of bytes >= 1, got {mss!r}")
            # TCP_MAXSEG is a ceiling: the kernel takes the smaller of it and what the path's
            # MTU carries (net/ipv4/tcp_output.c tcp_sync_mss), 1460 -> 1448 with timestamps
            t = replace(t, mss=min(int(mss), t.segment_bytes))
        return t, 1.0
    return None, 1.0


def _weights(df: pd.DataFrame, weights: Any) -> np.ndarray:
    m = len(df)
    if weights is None:
        return np.ones(m)
    if isinstance(weights, str):
        if weights not in df.columns:
            raise ParameterError(f"weights names column {weights!r}, which the measurements lack")
        w = pd.to_numeric(df[weights], errors="coerce").to_numpy(dtype=float)
    else:
        w = np.asarray(weights, dtype=float).ravel()
    if w.shape != (m,):
        raise ParameterError(f"weights has {w.size} entries for {m} rows")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ParameterError("weights must be finite and >= 0")
    return w


def _check_frame(measurements: Any) -> pd.DataFrame:
    if not isinstance(measurements, pd.DataFrame):
        raise ParameterError(f"measurements must be a pandas DataFrame, got {type(measurements).__name__} {measurements!r:.80}")
    if len(measurements) == 0:
        raise FitError("measurements is empty: nothing to fit")
    missing = [c for c in ("path", "metric", "value") if c not in measurements.columns]
    if missing:
        raise FitError(f"measurements lack column(s) {', '.join(missing)} "
                       "(needs path, metric, value; see iovmodel.datasets.SCHEMA_COLUMNS)")
    return measurements.reset_index(drop=True)


def _parse(measurements: pd.DataFrame, weights: Any = None,
           by: str | None = None) -> tuple[list[_Row], set[str]]:
    df = _check_frame(measurements)
    w = _weights(df, weights)
    if by is not None and by not in df.columns:
        raise ParameterError(f"by names column {by!r}, which the measurements lack")
    ignored: set[str] = set()
    records = df.to_dict("records")
    rows = [_parse_row(i, r, float(w[i]), ignored) for i, r in enumerate(records)]
    if by is not None:
        rows = [replace(r, unit="" if _empty(rec[by]) else str(rec[by]))
                for r, rec in zip(rows, records, strict=True)]
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


def _structured(path: Path, w: Workload) -> bool:
    """Whether the path's network depends on the workload's jobs and iodepth beyond the
    population (vCPU groups, finite host cores, an in-flight limit)."""
    return (bool(vcpu_groups(path, w)) or math.isfinite(path.options.get("cores", math.inf))
            or math.isfinite(path.inflight) or path.inflight_rule is not None)


def _word_flags(path, key: str) -> list[str]:
    """The path's boolean options named ``key_<word>`` (``engine_async`` for ``engine``)."""
    return [o for o, d in path.options.items() if o.startswith(f"{key}_") and isinstance(d, bool)]
