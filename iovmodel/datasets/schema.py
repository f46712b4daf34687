"""The tidy measurement schema: its columns, metrics and units, the ``options``
cell, and :func:`validate`, which checks any frame against it.

Every frame of :mod:`iovmodel.datasets` has one row per measured number and the
columns of :data:`SCHEMA_COLUMNS` (see the package docstring for their meaning).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from ..errors import DatasetError

__all__ = [
    "EXTRACTIONS",
    "METRICS",
    "REQUIRED_COLUMNS",
    "RW_VALUES",
    "SCHEMA_COLUMNS",
    "MetricInfo",
    "format_options",
    "parse_options",
    "validate",
]

#: Columns of every tidy frame, in order. The DESIGN.md schema plus
#: ``label``, ``extraction`` and ``dataset``.
SCHEMA_COLUMNS: tuple[str, ...] = (
    "source",
    "path",
    "metric",
    "value",
    "unit",
    "jobs",
    "iodepth",
    "size_bytes",
    "rw",
    "rate_per_s",
    "batch",
    "options",
    "hardware",
    "note",
    "label",
    "extraction",
    "dataset",
)

#: Columns a frame handed to :func:`validate` must have; the others are added
#: empty when missing.
REQUIRED_COLUMNS: tuple[str, ...] = ("source", "path", "metric", "value", "unit")

_COUNT_COLUMNS = ("jobs", "iodepth", "size_bytes", "batch")
_TEXT_COLUMNS = ("source", "path", "metric", "unit", "rw", "options", "hardware", "note",
                 "label", "extraction", "dataset")


class MetricInfo(NamedTuple):
    """Declaration of one metric: its unit, meaning, and whether it may be negative."""

    unit: str
    description: str
    signed: bool = False


def _m(unit: str, description: str, signed: bool = False) -> MetricInfo:
    return MetricInfo(unit, description, signed)


_LAT = "latency of one I/O or request/response, submission to completion"
#: Known metrics: name -> :class:`MetricInfo` (unit, description, signed).
METRICS: Mapping[str, MetricInfo] = MappingProxyType({
    # throughput
    "iops": _m("IOPS", "I/O operations completed per second"),
    "throughput_gbps": _m("Gbps", "payload throughput in 10^9 bit per second"),
    "packets_per_s": _m("1/s", "packets per second"),
    "transactions_per_s": _m("1/s", "request/response transactions per second (netperf TCP_RR)"),
    # latency (µs)
    "latency_us": _m("us", f"mean {_LAT} (fio lat, ping RTT)"),
    "latency_min_us": _m("us", f"minimum {_LAT}"),
    "latency_max_us": _m("us", f"maximum {_LAT}"),
    "latency_stdev_us": _m("us", f"standard deviation of the {_LAT}"),
    "latency_p50_us": _m("us", f"median {_LAT}"),
    "latency_p90_us": _m("us", f"90th percentile {_LAT}"),
    "latency_p95_us": _m("us", f"95th percentile {_LAT}"),
    "latency_p99_us": _m("us", f"99th percentile {_LAT}"),
    "latency_p999_us": _m("us", f"99.9th percentile {_LAT}"),
    "latency_p9999_us": _m("us", f"99.99th percentile {_LAT}"),
    "clat_us": _m("us", "mean completion latency (fio clat: submission done -> completion)"),
    "slat_us": _m("us", "mean submission latency (fio slat)"),
    "jitter_us": _m("us", "packet delay variation (iperf3 UDP jitter)"),
    "tcp_rtt_us": _m("us", "sender's smoothed TCP round-trip time (TCP_INFO, iperf3 mean_rtt)"),
    "ctxsw_us": _m("us", "time per context switch in a guest context-switch benchmark"),
    # CPU
    "cpu_us_per_io": _m("us", "CPU time spent per I/O"),
    "cpu_util_pct": _m("%", "CPU utilisation, percent of one core"),
    "cpu_util_usr_pct": _m("%", "user-mode CPU of the measuring process (fio usr_cpu), % of one core"),
    "cpu_util_sys_pct": _m("%", "kernel-mode CPU of the measuring process (fio sys_cpu), % of one core"),
    "cpu_util_vmm_pct": _m("%", "CPU of the VMM's non-vCPU threads (device emulation), % of one core"),
    "cpu_util_vcpu_pct": _m("%", "CPU of all vCPU threads, % of one core"),
    "cpu_util_host_pct": _m("%", "CPU of the host, percent of one core"),
    "cpu_util_local_pct": _m("%", "CPU of the local endpoint (iperf3 host_total, netperf local)"),
    "cpu_util_remote_pct": _m("%", "CPU of the remote endpoint (iperf3 remote_total, netperf remote)"),
    "cpu_util_change_pct": _m("%", "relative change of CPU utilisation", signed=True),
    "service_demand_us_per_kb": _m("us/KB", "CPU time per KB transferred (netperf service demand)"),
    # exits and events
    "exits": _m("count", "VM exits counted in the measurement window (label: exit reason)"),
    "exits_per_io": _m("per_io", "VM exits per I/O"),
    "exits_per_s": _m("1/s", "VM exits per second (label: exit reason or kvm_exit)"),
    "events_per_s": _m("1/s", "KVM trace events per second (label: the tracepoint)"),
    "exit_share_pct": _m("%", "share of all exits (perf kvm stat Samples%)"),
    "exit_time_share_pct": _m("%", "share of all exit handling time (perf kvm stat Time%)"),
    "exit_time_us": _m("us", "mean time from VM exit to the next entry (perf kvm stat Avg time)"),
    "exit_time_min_us": _m("us", "minimum exit handling time"),
    "exit_time_max_us": _m("us", "maximum exit handling time"),
    "exit_time_sem_pct": _m("%", "relative standard error of the mean exit time (perf '+-')"),
    "exit_time_total_us": _m("us", "total exit handling time in the window"),
    # counters
    "io_bytes": _m("bytes", "bytes transferred in the measurement window"),
    "ios": _m("count", "I/Os completed in the measurement window"),
    "retransmits": _m("count", "TCP retransmissions in the measurement window"),
    "loss_pct": _m("%", "datagrams lost, percent"),
    "duration_s": _m("s", "length of the measurement window"),
    # per-event costs (cycles are kept as cycles: no clock is assumed)
    "round_trip_cycles": _m("cycles", "guest -> exit -> handler -> entry round trip of a microbenchmark"),
    "ipi_latency_cycles": _m("cycles", "IPI send -> acknowledge latency in a guest"),
    "cost_cycles": _m("cycles", "cost of one component of an exit (label names it)"),
    "saving_cycles": _m("cycles", "cycles saved by a change"),
    "overhead_pct": _m("%", "relative overhead of a change", signed=True),
    # ratios and scores
    "fraction_of_native": _m("ratio", "performance as a fraction of bare metal"),
    "speedup": _m("ratio", "performance ratio against a baseline configuration"),
    "score": _m("arbitrary", "benchmark result in the source's own, unstated unit"),
})

#: Values of the ``rw`` column: fio's ``rw`` values, and for networks
#: ``tx`` (the measured endpoint sends), ``rx`` (it receives), ``bidir``,
#: ``rr`` (request/response, including ping).
RW_VALUES: frozenset[str] = frozenset({
    "read", "write", "trim", "randread", "randwrite", "randtrim", "readwrite", "randrw",
    "trimwrite", "randtrimwrite", "tx", "rx", "bidir", "rr",
})

#: Values of the ``extraction`` column (flags of shared/data/SOURCES.md plus
#: ``tool_output`` for rows parsed from a tool's raw output).
EXTRACTIONS: Mapping[str, str] = MappingProxyType({
    "read_directly": "number printed in the source text or table",
    "read_directly_approx": "the source itself gives it as '~x' / 'around x'",
    "author_derived": "the source's author computed it",
    "derived": "computed from printed numbers (formula in note)",
    "ci_baseline_target": "CI regression-baseline value (mean of prior runs)",
    "spec_claim": "a design target, not a measurement",
    "abstract_claim": "a paper-abstract claim, not a table value",
    "tool_output": "parsed from a tool's raw output (fio, iperf3, perf)",
})

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.+-]*$")
_KEY_RE = re.compile(r"^[a-z][a-z0-9_]*$")


# ----------------------------------------------------------------- options
def parse_options(text: str | Mapping[str, Any] | None) -> dict[str, int | float | str]:
    """Read an ``options`` cell (``"workers=4;iothread=1"``) into a dict.

    Numbers become int or float, everything else stays a string; an empty
    cell gives ``{}``.

    Raises
    ------
    DatasetError
        If an entry is not ``key=value`` or a key repeats.
    """
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return {}
    if isinstance(text, Mapping):
        text = format_options(text)
    out: dict[str, int | float | str] = {}
    for part in str(text).split(";"):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not _KEY_RE.match(key) or not value:
            raise DatasetError(
                f"options entry {part!r} is not key=value with a lowercase key "
                f"(e.g. 'workers=4;iothread=1')")
        if key in out:
            raise DatasetError(f"options key {key!r} is given twice in {text!r}")
        out[key] = _number_or_str(value)
    return out


def format_options(options: Mapping[str, Any] | str | None) -> str:
    """Write options as the ``key=value;key=value`` cell, keys in given order."""
    if options is None:
        return ""
    if isinstance(options, str):
        parse_options(options)  # check it
        return options.strip()
    parts = []
    for key, value in options.items():
        if not _KEY_RE.match(str(key)):
            raise DatasetError(f"option name {key!r} must be lowercase letters, digits, '_'")
        text = str(value).strip()
        if not text or ";" in text or "=" in text:
            raise DatasetError(f"option {key}={value!r}: value must be non-empty without ';' or '='")
        parts.append(f"{key}={text}")
    return ";".join(parts)


def _number_or_str(text: str) -> int | float | str:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return text
    return value if math.isfinite(value) else text


# -------------------------------------------------------------- validation
def validate(df: pd.DataFrame, *, source: str | None = None) -> pd.DataFrame:
    """Check a measurement frame against the schema; return a normalised copy.

    The input is never modified. Missing optional columns are added empty,
    schema columns come first in :data:`SCHEMA_COLUMNS` order, extra columns
    follow unchanged. ``value`` becomes float, the count columns nullable
    integers, the text columns strings (``""`` when empty).

    Parameters
    ----------
    df : pandas.DataFrame
        One row per measured number.
    source : str, optional
        Name used in error messages (default ``"<DataFrame>"``).

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    DatasetError
        Naming the frame, the row (1-based) and the column: a missing required
        column, an unknown metric, a unit that is not the metric's, a NaN or
        infinite value, a negative value of a non-negative metric, a count
        (jobs, iodepth, size_bytes, batch) that is not a positive integer, an
        unknown ``rw``, ``extraction``, a malformed path name or options cell.
    """
    if not isinstance(df, pd.DataFrame):
        raise DatasetError(f"validate() needs a pandas DataFrame, got {type(df).__name__} {df!r:.80}")
    return _validate(df, where=source or "<DataFrame>", row_offset=1, strict=False)


def _validate(df: pd.DataFrame, *, where: str, row_offset: int, strict: bool) -> pd.DataFrame:
    """Validate; row numbers in messages are position + ``row_offset``.

    ``strict`` (files): every schema column except ``dataset`` must be present
    and no other column is allowed.
    """
    cols = [str(c) for c in df.columns]
    required = [c for c in SCHEMA_COLUMNS if c != "dataset"] if strict else REQUIRED_COLUMNS
    for col in required:
        if col not in cols:
            raise DatasetError(f"{where}: missing column '{col}' (needs {', '.join(required)})")
    if len(set(cols)) != len(cols):
        dup = sorted({c for c in cols if cols.count(c) > 1})
        raise DatasetError(f"{where}: column(s) {dup} appear more than once")
    if strict:
        extra = [c for c in cols if c not in SCHEMA_COLUMNS]
        if extra:
            raise DatasetError(f"{where}: unknown column(s) {extra}; schema: {', '.join(SCHEMA_COLUMNS)}")
    out = pd.DataFrame(index=pd.RangeIndex(len(df)))
    src = df.reset_index(drop=True)

    def fail(i: int, col: str, msg: str) -> DatasetError:
        return DatasetError(f"{where}: row {i + row_offset}, column '{col}': {msg}")

    # text columns
    for col in _TEXT_COLUMNS:
        if col in src.columns:
            values = []
            for i, v in enumerate(src[col].tolist()):
                if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
                    values.append("")
                elif isinstance(v, str):
                    if "\n" in v or "\r" in v:
                        raise fail(i, col, "contains a line break")
                    values.append(v.strip())
                else:
                    values.append(str(v))
            out[col] = pd.Series(values, dtype=object)
        else:
            out[col] = pd.Series([""] * len(src), dtype=object)
    # numbers
    values = np.empty(len(src))
    for i, v in enumerate(src["value"].tolist()):
        try:
            x = float(v)
        except (TypeError, ValueError):
            raise fail(i, "value", f"{v!r} is not a number") from None
        if not math.isfinite(x):
            raise fail(i, "value", f"{v!r} is not a finite number (NaN or infinite)")
        values[i] = x
    out["value"] = values
    for col in _COUNT_COLUMNS:
        data = src[col].tolist() if col in src.columns else [None] * len(src)
        ints: list[Any] = []
        for i, v in enumerate(data):
            if _is_empty(v):
                ints.append(pd.NA)
                continue
            try:
                x = float(v)
            except (TypeError, ValueError):
                raise fail(i, col, f"{v!r} is not a number") from None
            if not math.isfinite(x) or x != int(x) or x < 1:
                kind = "negative" if x < 0 else "not a positive integer"
                raise fail(i, col, f"count {v!r} is {kind} (a count must be an integer >= 1)")
            ints.append(int(x))
        out[col] = pd.array(ints, dtype="Int64")
    rates = np.full(len(src), np.nan)
    if "rate_per_s" in src.columns:
        for i, v in enumerate(src["rate_per_s"].tolist()):
            if _is_empty(v):
                continue
            try:
                x = float(v)
            except (TypeError, ValueError):
                raise fail(i, "rate_per_s", f"{v!r} is not a number") from None
            if not math.isfinite(x) or x <= 0:
                raise fail(i, "rate_per_s", f"rate {v!r} per second must be a positive number")
            rates[i] = x
    out["rate_per_s"] = rates
    # row-wise rules
    for i in range(len(src)):
        metric = out.at[i, "metric"]
        if metric not in METRICS:
            raise fail(i, "metric", f"unknown metric {metric!r} (known: {', '.join(METRICS)})")
        mi = METRICS[metric]
        if out.at[i, "unit"] != mi.unit:
            raise fail(i, "unit", f"unit {out.at[i, 'unit']!r} is not {mi.unit!r}, the unit of {metric!r}")
        if not mi.signed and values[i] < 0:
            raise fail(i, "value", f"{values[i]!r} is negative; {metric!r} cannot be")
        if not out.at[i, "source"]:
            raise fail(i, "source", "is empty")
        path = out.at[i, "path"]
        if not _NAME_RE.match(path):
            raise fail(i, "path", f"{path!r} is not a path name (lowercase, digits, '-', e.g. 'virtio-blk')")
        rw = out.at[i, "rw"]
        if rw and rw not in RW_VALUES:
            raise fail(i, "rw", f"{rw!r} is not one of {', '.join(sorted(RW_VALUES))}")
        ext = out.at[i, "extraction"]
        if ext and ext not in EXTRACTIONS:
            raise fail(i, "extraction", f"{ext!r} is not one of {', '.join(EXTRACTIONS)}")
        try:
            parse_options(out.at[i, "options"])
        except DatasetError as exc:
            raise fail(i, "options", str(exc)) from None
    order = [*SCHEMA_COLUMNS, *[c for c in src.columns if c not in SCHEMA_COLUMNS]]
    for col in order[len(SCHEMA_COLUMNS):]:  # extra columns keep their dtype (pandas 3: str)
        out[col] = pd.Series(src[col].to_numpy(), index=out.index, dtype=src[col].dtype)
    return out[order]


def _is_empty(v: Any) -> bool:
    if v is None or v is pd.NA:
        return True
    if isinstance(v, str):
        return not v.strip()
    try:
        return bool(np.isnan(v))
    except (TypeError, ValueError):
        return False
