"""Measured datasets in one tidy schema, and loaders for lab tool output.

Every frame this module returns has one row per measured number and the
columns of :data:`SCHEMA_COLUMNS`:

``source, path, metric, value, unit``
    where the number comes from (a source id of ``data/datasets.toml`` or a
    file name), the I/O path it was measured on (a catalog name such as
    ``virtio-blk``), what it is (a name of :data:`METRICS`), its value and
    unit (the metric's unit: µs, IOPS, Gbps, ...).
``jobs, iodepth, size_bytes, rw, rate_per_s, batch``
    the workload that produced it, explicitly; empty where the source does not
    say (``jobs`` empty means "not stated", not 1).
``options``
    path options and configuration labels as ``key=value;key=value``
    (``workers=4;iothread=1``); :func:`parse_options` reads them.
``hardware, note``
    the machine, and anything a reader needs to interpret the number.
``label, extraction, dataset``
    what the number is about inside one measurement (a fio job, an iperf3
    side, a KVM exit reason, a microbenchmark test), how it was obtained
    (:data:`EXTRACTIONS`), and the bundled dataset it belongs to.

The bundled datasets live in ``data/`` of the source tree (shipped inside the
package as ``iovmodel/_data``): :func:`list` shows them, :func:`load` reads one
and checks it; :func:`validate` checks any frame, e.g. before a fit.
:func:`read_fio_json`, :func:`read_iperf3_json` and :func:`read_perf_kvm_stat`
turn raw tool output into the same schema.
"""

from __future__ import annotations

import json
import math
import os
import re
import tomllib
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from .errors import DatasetError

# ``list`` is public (iov.datasets.list()) but left out of __all__ so that a star
# import cannot shadow the builtin.
__all__ = [
    "EXTRACTIONS",
    "METRICS",
    "RW_VALUES",
    "SCHEMA_COLUMNS",
    "MetricInfo",
    "format_options",
    "info",
    "load",
    "parse_options",
    "read_fio_json",
    "read_iperf3_json",
    "read_perf_kvm_stat",
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
        raise DatasetError(f"validate() needs a pandas DataFrame, got {type(df).__name__}")
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


# --------------------------------------------------------- bundled datasets
def _default_data_dir() -> Path:
    here = Path(__file__).resolve().parent
    for cand in (Path(__file__).parent / "_data", here / "_data", here.parent / "data"):
        if (cand / "datasets.toml").is_file():
            return cand
    raise DatasetError(
        f"the bundled datasets are missing: no datasets.toml in {here / '_data'} "
        f"or {here.parent / 'data'} (is the package installed with its data?)")


def _data_dir(data_dir: str | os.PathLike[str] | None) -> Path:
    if data_dir is None:
        env = os.environ.get("IOVMODEL_DATA_DIR")
        return Path(env) if env else _default_data_dir()
    return Path(data_dir)


@lru_cache(maxsize=8)
def _read_metadata(meta_path: str, mtime_ns: int) -> dict[str, Any]:
    del mtime_ns  # part of the cache key only
    try:
        with open(meta_path, "rb") as fh:
            meta = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DatasetError(f"{meta_path}: cannot read dataset metadata: {exc}") from None
    if meta.get("format_version") != 1:
        raise DatasetError(f"{meta_path}: format_version must be 1, got {meta.get('format_version')!r}")
    datasets = meta.get("datasets")
    if not isinstance(datasets, dict) or not datasets:
        raise DatasetError(f"{meta_path}: no [datasets.<name>] tables")
    for name, entry in datasets.items():
        for key in ("file", "title", "sources", "hardware", "extraction", "notes"):
            if key not in entry:
                raise DatasetError(f"{meta_path}: dataset {name!r} lacks the key {key!r}")
        for sid in entry["sources"]:
            if sid not in meta.get("sources", {}):
                raise DatasetError(f"{meta_path}: dataset {name!r} cites unknown source {sid!r}")
    return meta


def _metadata(data_dir: str | os.PathLike[str] | None) -> tuple[Path, dict[str, Any]]:
    root = _data_dir(data_dir)
    meta_path = root / "datasets.toml"
    try:
        mtime = meta_path.stat().st_mtime_ns
    except OSError:
        raise DatasetError(f"{meta_path}: dataset metadata file not found") from None
    return root, _read_metadata(str(meta_path), mtime)


def info(name: str, *, data_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Metadata of one bundled dataset: title, file, sources (with citations),
    hardware, extraction (how the numbers were read) and notes."""
    _, meta = _metadata(data_dir)
    entry = _entry(meta, name)
    out = dict(entry)
    out["name"] = name
    out["sources"] = {sid: dict(meta["sources"][sid]) for sid in entry["sources"]}
    return out


def _entry(meta: dict[str, Any], name: str) -> dict[str, Any]:
    if not isinstance(name, str) or name not in meta["datasets"]:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(sorted(meta['datasets']))}")
    return meta["datasets"][name]


@lru_cache(maxsize=64)
def _load_cached(file: str, mtime_ns: int, name: str) -> pd.DataFrame:
    del mtime_ns
    try:
        raw = pd.read_csv(file, dtype=str, keep_default_na=False, na_values=[])
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{file}: cannot read CSV: {exc}") from None
    df = _validate(raw, where=file, row_offset=2, strict=True)
    df["dataset"] = pd.Series([name] * len(df), index=df.index, dtype=object)  # as validate's
    return df


def load(name: str, *, data_dir: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Load one bundled dataset as a tidy frame (checked against the schema).

    Parameters
    ----------
    name : str
        A name from :func:`list`, e.g. ``"firecracker_ci_block"``.
    data_dir : path, optional
        Read another directory with the same layout (``datasets.toml`` + CSV).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`SCHEMA_COLUMNS`; ``df.attrs["dataset"]`` holds
        :func:`info` of the dataset. A fresh copy on every call.

    Raises
    ------
    DatasetError
        Unknown name, or a malformed file (naming file, line and column).
    """
    root, meta = _metadata(data_dir)
    entry = _entry(meta, name)
    file = root / entry["file"]
    try:
        mtime = file.stat().st_mtime_ns
    except OSError:
        raise DatasetError(f"{file}: data file of dataset {name!r} not found") from None
    df = _load_cached(str(file), mtime, name).copy()
    df.attrs["dataset"] = info(name, data_dir=root)
    return df


def list(*, data_dir: str | os.PathLike[str] | None = None) -> pd.DataFrame:  # noqa: A001
    """The bundled datasets, one row each.

    Returns
    -------
    pandas.DataFrame
        Columns ``name, rows, paths, metrics, source, hardware, extraction,
        title``: ``paths`` and ``metrics`` list the distinct values (comma
        separated), ``source`` the cited source ids.
    """
    root, meta = _metadata(data_dir)
    records = []
    for name in sorted(meta["datasets"]):
        entry = meta["datasets"][name]
        df = load(name, data_dir=root)
        records.append({
            "name": name,
            "rows": len(df),
            "paths": ", ".join(sorted(set(df["path"]))),
            "metrics": ", ".join(sorted(set(df["metric"]))),
            "source": ", ".join(entry["sources"]),
            "hardware": entry["hardware"],
            "extraction": entry["extraction"],
            "title": entry["title"],
        })
    return pd.DataFrame.from_records(records, columns=["name", "rows", "paths", "metrics", "source",
                                                      "hardware", "extraction", "title"])


# ------------------------------------------------------------- row builder
class _Rows:
    """Accumulates tidy rows sharing the same context columns."""

    def __init__(self, **context: Any) -> None:
        self.context = context
        self.rows: Any = []

    def add(self, metric: str, value: Any, **cols: Any) -> None:
        if value is None:
            return
        value = float(value)
        if not math.isfinite(value):
            return
        row = {c: "" for c in SCHEMA_COLUMNS}
        for c in ("jobs", "iodepth", "size_bytes", "batch", "rate_per_s"):
            row[c] = None
        row.update(self.context)
        row.update(cols)
        row["metric"] = metric
        row["value"] = value
        row["unit"] = METRICS[metric].unit
        self.rows.append(row)

    def frame(self, where: str) -> pd.DataFrame:
        df = pd.DataFrame.from_records(self.rows, columns=SCHEMA_COLUMNS)
        return _validate(df, where=where, row_offset=1, strict=False)


def _context(kind: str, source: str | None, origin: str, path: str, options: Any, hardware: str,
             note: str) -> dict[str, Any]:
    if path and not _NAME_RE.match(path):
        raise DatasetError(f"path {path!r} is not a path name (lowercase, digits, '-', e.g. 'virtio-blk')")
    return {
        "source": source or origin or kind,
        "path": path or "unknown",
        "options": format_options(options),
        "hardware": hardware or "",
        "note": note or "",
        "extraction": "tool_output",
    }


def _read_text(obj: Any, what: str) -> tuple[str, str]:
    """Return (text, origin name) from a path, a text, bytes or a file object."""
    if hasattr(obj, "read"):
        data = obj.read()
        text = data.decode() if isinstance(data, bytes) else str(data)
        return text, str(getattr(obj, "name", ""))
    if isinstance(obj, bytes):
        return obj.decode(), ""
    if isinstance(obj, os.PathLike) or (isinstance(obj, str) and "\n" not in obj
                                         and not obj.lstrip().startswith("{")):
        p = Path(obj)
        try:
            with open(p, encoding="utf-8", errors="replace") as fh:
                return fh.read(), p.name
        except OSError as exc:
            raise DatasetError(f"cannot read {what} file {str(p)!r}: {exc.strerror}") from None
    if isinstance(obj, str):
        return obj, ""
    raise DatasetError(f"{what}: expected a file path, text or file object, got {type(obj).__name__}")


def _load_json(obj: Any, what: str) -> tuple[dict[str, Any], str]:
    if isinstance(obj, Mapping):
        return json.loads(json.dumps(obj)), ""  # a private deep copy
    text, origin = _read_text(obj, what)
    start = text.find("{")  # fio may print notes before the JSON document
    if start < 0:
        raise DatasetError(f"{origin or what}: no JSON object found")
    try:
        doc, _ = json.JSONDecoder().raw_decode(text[start:])
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{origin or what}: invalid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise DatasetError(f"{origin or what}: the JSON document is not an object")
    return doc, origin


# --------------------------------------------------------------------- fio
_FIO_SIDES = ("read", "write", "trim")
_FIO_PERCENTILES = {50.0: "latency_p50_us", 90.0: "latency_p90_us", 95.0: "latency_p95_us",
                    99.0: "latency_p99_us", 99.9: "latency_p999_us", 99.99: "latency_p9999_us"}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?)(b?)\s*$", re.IGNORECASE)


def _fio_size(text: Any, kb_base: int = 1024) -> int | None:
    """fio size string ('4k', '1M', '4096', '4KiB') -> bytes; None if unreadable."""
    m = _SIZE_RE.match(str(text))
    if not m:
        return None
    number, prefix, iec, _ = m.groups()
    power = "kmgtp".find(prefix.lower()) + 1 if prefix else 0
    base = 1024 if (iec or kb_base == 1024) else 1000
    value = float(number) * base**power
    return int(value) if value >= 1 and value == int(value) else None


def _fio_block_sizes(opts: Mapping[str, str]) -> dict[str, int | None]:
    kb_base = 1000 if str(opts.get("kb_base", "1024")) == "1000" else 1024
    bs = opts.get("bs", opts.get("blocksize"))
    if bs is None:
        if any(k in opts for k in ("bsrange", "bssplit", "blocksize_range")):
            return dict.fromkeys(_FIO_SIDES)
        bs = "4k"  # fio's default
    parts = [p for p in str(bs).split(",")]
    sizes = [_fio_size(p, kb_base) if p.strip() else None for p in parts]
    if len(sizes) == 1:
        sizes = sizes * 3
    elif len(sizes) == 2:
        sizes = [sizes[0], sizes[1], sizes[1]]  # trim uses the write size unless given
    return dict(zip(_FIO_SIDES, sizes[:3], strict=True))


def _percentile_from_bins(bins: Mapping[str, int], pcts: Any) -> dict[float, float]:
    """fio's rule: the first bin whose cumulative count reaches p% of all samples."""
    items = sorted((int(k), int(v)) for k, v in bins.items())
    total = sum(v for _, v in items)
    out: dict[float, float] = {}
    if total <= 0:
        return out
    for p in pcts:
        need = p / 100.0 * total
        cum = 0
        for value_ns, count in items:
            cum += count
            if cum >= need:
                out[float(p)] = float(value_ns)
                break
    return out


def read_fio_json(
    file_or_str: Any,
    *,
    path: str = "",
    options: Mapping[str, Any] | str | None = None,
    hardware: str = "",
    source: str | None = None,
    note: str = "",
    percentiles: tuple[float, ...] = (50.0, 90.0, 95.0, 99.0, 99.9, 99.99),
    combine_jobs: bool = True,
) -> pd.DataFrame:
    """Read fio ``--output-format=json`` or ``json+`` output into the tidy schema.

    One block of rows per job entry and direction (read, write, trim) that did
    I/O: ``iops``, ``throughput_gbps``, ``latency_us`` (fio ``lat`` mean, with
    min, max, stdev), ``clat_us``, ``slat_us``, latency percentiles
    (``latency_p50_us`` ...; fio's completion-latency percentiles unless the
    job set ``lat_percentiles``, then total latency; with ``json+`` they are
    recomputed from the histogram bins with fio's own rule), ``ios``,
    ``io_bytes``, ``duration_s``; and per job ``cpu_util_usr_pct`` and
    ``cpu_util_sys_pct``. ``label`` is the job name.

    Workload columns come from the job's options merged over the global ones
    and fio's defaults (``rw=read, bs=4k, iodepth=1, numjobs=1``):
    ``jobs`` is the number of jobs the rows describe: ``numjobs`` for a
    ``group_reporting`` entry, and also when fio printed one entry per job
    and ``combine_jobs`` merged them (IOPS, bandwidth, I/O counts and CPU
    summed; mean latencies weighted by I/O count; standard deviations pooled;
    min/max over jobs; percentiles from the merged json+ histogram, or left out
    for plain json, where they cannot be merged); ``rate_per_s`` is the job's
    ``rate_iops`` cap when set.

    Parameters
    ----------
    file_or_str : path, str, bytes, file object or dict
        fio output (a file, its text, or the parsed JSON). Text before the JSON
        document (fio's notes) is skipped. Never modified.
    path, options, hardware, note : optional
        Fill those columns (``path`` defaults to ``"unknown"``: give the catalog
        name; ``options`` as a dict or ``"k=v;k=v"``).
    source : str, optional
        Default: the file name, or ``"fio"``.
    percentiles : tuple of float
        Percentiles to report, from 50, 90, 95, 99, 99.9, 99.99.
    combine_jobs : bool
        Merge the per-job entries of a run without ``group_reporting`` into
        one block (default); ``False`` keeps one block per job (``jobs`` 1).

    Returns
    -------
    pandas.DataFrame
        Tidy frame, columns :data:`SCHEMA_COLUMNS`.

    Raises
    ------
    DatasetError
        Not fio JSON (no ``jobs`` list), or unreadable.
    """
    doc, origin = _load_json(file_or_str, "fio JSON")
    where = origin or "fio JSON"
    jobs = doc.get("jobs")
    if not isinstance(jobs, type([])) or not jobs:
        raise DatasetError(f"{where}: not fio JSON output (no 'jobs' list)")
    bad = [p for p in percentiles if float(p) not in _FIO_PERCENTILES]
    if bad:
        raise DatasetError(f"percentiles {bad} not supported; choose from {sorted(_FIO_PERCENTILES)}")
    rows = _Rows(**_context("fio", source, origin, path, options, hardware, note))
    global_opts = {str(k): str(v) for k, v in (doc.get("global options") or {}).items()}
    # group_reporting is not echoed in the options: without it, numjobs=N gives N entries
    # with the same name and group; with it, one entry stands for all N jobs
    entries: dict[tuple[str, Any], Any] = {}
    for job in jobs:
        entries.setdefault((str(job.get("jobname")), job.get("groupid")), []).append(job)
    if combine_jobs:
        jobs = [grp[0] if len(grp) == 1 else _merge_fio_jobs(grp) for grp in entries.values()]
    for idx, job in enumerate(jobs):
        opts = dict(global_opts)
        opts.update({str(k): str(v) for k, v in (job.get("job options") or {}).items()})
        merged = job.get("_iovmodel_merged", 0)
        grouped = bool(merged) or (
            opts.get("group_reporting", "0") != "0" if "group_reporting" in opts
            else len(entries[(str(job.get("jobname")), job.get("groupid"))]) == 1)
        rw = str(opts.get("rw", opts.get("readwrite", "read"))).split(":")[0].strip()
        rw = {"rw": "readwrite"}.get(rw, rw)
        try:
            numjobs = int(opts.get("numjobs", "1"))
            iodepth = int(opts.get("iodepth", "1"))
        except ValueError:
            raise DatasetError(f"{where}: job {idx + 1}: numjobs/iodepth are not integers") from None
        sizes = _fio_block_sizes(opts)
        rate_cap = opts.get("rate_iops")
        rate = None
        if rate_cap and rate_cap.split(",")[0].strip().isdigit():
            rate = float(rate_cap.split(",")[0]) or None
        name = str(job.get("jobname", f"job{idx + 1}"))
        common = {
            "jobs": (merged or numjobs) if grouped else 1,
            "iodepth": iodepth,
            "rw": rw if rw in RW_VALUES else "",
            "rate_per_s": rate,
            "label": name,
        }
        if numjobs > 1 and not grouped:
            common["note"] = _join(note, f"one of {numjobs} jobs (no group_reporting)")
        elif merged:
            common["note"] = _join(note, f"{merged} job entries combined by iovmodel "
                                         "(CPU summed over jobs)")
        total_ios = 0
        for side in _FIO_SIDES:
            st = job.get(side)
            if not isinstance(st, dict) or not st.get("total_ios") and not st.get("io_bytes"):
                continue
            ios = st.get("total_ios", 0) or 0
            total_ios += ios
            size = sizes.get(side)
            cols = {**common, "size_bytes": size, "label": f"{name} {side}"}
            if rw in ("readwrite", "randrw", "trimwrite", "randtrimwrite"):
                cols["note"] = _join(cols.get("note", note), f"{side} side of a mixed workload")
            bw_bytes = st.get("bw_bytes")
            if bw_bytes is None and st.get("bw") is not None:
                bw_bytes = float(st["bw"]) * 1024.0  # fio's bw is KiB/s
            rows.add("iops", st.get("iops"), **cols)
            if bw_bytes is not None:
                rows.add("throughput_gbps", float(bw_bytes) * 8e-9, **cols)
            rows.add("ios", ios, **cols)
            rows.add("io_bytes", st.get("io_bytes"), **cols)
            if st.get("runtime"):
                rows.add("duration_s", float(st["runtime"]) / 1e3, **cols)
            lat = _fio_lat(st, "lat")
            if lat:
                rows.add("latency_us", lat["mean"], **cols)
                rows.add("latency_min_us", lat.get("min"), **cols)
                rows.add("latency_max_us", lat.get("max"), **cols)
                rows.add("latency_stdev_us", lat.get("stddev"), **cols)
            clat = _fio_lat(st, "clat")
            if clat:
                rows.add("clat_us", clat["mean"], **cols)
            slat = _fio_lat(st, "slat")
            if slat and slat.get("N", 1):
                rows.add("slat_us", slat["mean"], **cols)
            pct, which = _fio_percentiles(st, percentiles)
            for p, value_us in pct.items():
                rows.add(_FIO_PERCENTILES[p], value_us,
                         **{**cols, "note": _join(cols.get("note", note), f"fio {which} percentile")})
        if total_ios or job.get("usr_cpu") or job.get("sys_cpu"):
            rows.add("cpu_util_usr_pct", job.get("usr_cpu"), **common)
            rows.add("cpu_util_sys_pct", job.get("sys_cpu"), **common)
    return rows.frame(where)


def _merge_fio_jobs(group: Any) -> dict[str, Any]:
    """One fio job entry standing for several (fio without group_reporting)."""
    out: dict[str, Any] = {"jobname": group[0].get("jobname"), "groupid": group[0].get("groupid"),
                           "job options": dict(group[0].get("job options") or {}),
                           "_iovmodel_merged": len(group)}
    for key in ("usr_cpu", "sys_cpu"):
        out[key] = sum(float(j.get(key) or 0.0) for j in group)
    for side in _FIO_SIDES:
        sts = [j[side] for j in group if isinstance(j.get(side), dict)]
        if not sts:
            continue
        st: dict[str, Any] = {}
        for key in ("total_ios", "io_bytes", "iops", "bw_bytes", "bw"):
            if all(key in x for x in sts):
                st[key] = sum(float(x[key] or 0) for x in sts)
        st["runtime"] = max(float(x.get("runtime") or 0) for x in sts)
        for kind in ("slat_ns", "clat_ns", "lat_ns", "slat", "clat", "lat"):
            blks = [x[kind] for x in sts if isinstance(x.get(kind), dict)]
            if len(blks) == len(sts):
                st[kind] = _merge_lat(blks)
        out[side] = st
    return out


def _merge_lat(blks: Any) -> dict[str, Any]:
    n = np.array([float(b.get("N", 0) or 0) for b in blks])
    total = float(n.sum())
    out: dict[str, Any] = {"N": total}
    if total <= 0:
        return {"N": 0.0, "mean": 0.0}
    means = np.array([float(b.get("mean", 0.0)) for b in blks])
    mean = float((n * means).sum() / total)
    out["mean"] = mean
    live = n > 0
    out["min"] = min(float(b["min"]) for b, ok in zip(blks, live, strict=True) if ok and "min" in b)
    out["max"] = max(float(b["max"]) for b, ok in zip(blks, live, strict=True) if ok and "max" in b)
    if all("stddev" in b for b in blks):  # pooled: E[x^2] over all samples, less the mean^2
        sd = np.array([float(b["stddev"]) for b in blks])
        out["stddev"] = float(np.sqrt(max((n * (sd**2 + means**2)).sum() / total - mean**2, 0.0)))
    if all(isinstance(b.get("bins"), dict) for b in blks):
        bins: dict[str, int] = {}
        for b in blks:
            for k, v in b["bins"].items():
                bins[str(k)] = bins.get(str(k), 0) + int(v)
        out["bins"] = bins
    return out


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def _fio_lat(st: Mapping[str, Any], kind: str) -> dict[str, float] | None:
    """fio latency block in µs (handles the newer *_ns and older *_us keys)."""
    if isinstance(st.get(f"{kind}_ns"), dict):
        blk, scale = st[f"{kind}_ns"], 1e-3
    elif isinstance(st.get(kind), dict):
        blk, scale = st[kind], 1.0  # fio < 3.0 reported µs
    else:
        return None
    if not blk.get("N", 1) and not blk.get("mean"):
        return None
    out = {k: float(blk[k]) * scale for k in ("min", "max", "mean", "stddev") if k in blk}
    out["N"] = float(blk.get("N", 1))
    return out if "mean" in out else None


def _fio_percentiles(st: Mapping[str, Any], wanted: tuple[float, ...]) -> tuple[dict[float, float], str]:
    for kind in ("lat", "clat"):
        blk = st.get(f"{kind}_ns")
        if not isinstance(blk, dict):
            continue
        label = "total-latency" if kind == "lat" else "completion-latency"
        if isinstance(blk.get("bins"), dict) and blk["bins"]:
            vals = _percentile_from_bins(blk["bins"], wanted)
            return {p: v / 1e3 for p, v in vals.items()}, f"{label} (from json+ bins)"
        if isinstance(blk.get("percentile"), dict):
            table = {round(float(k), 4): float(v) for k, v in blk["percentile"].items()}
            vals = {float(p): table[round(float(p), 4)] / 1e3 for p in wanted
                    if round(float(p), 4) in table}
            return vals, label
    return {}, ""


# ------------------------------------------------------------------ iperf3
def read_iperf3_json(
    file_or_str: Any,
    *,
    path: str = "",
    options: Mapping[str, Any] | str | None = None,
    hardware: str = "",
    source: str | None = None,
    note: str = "",
    per_stream: bool = False,
) -> pd.DataFrame:
    """Read ``iperf3 -J`` output (client or server side) into the tidy schema.

    Rows: ``throughput_gbps`` and ``io_bytes`` of the sender and the receiver
    (``label`` "sender" / "receiver"), ``retransmits`` (TCP), ``tcp_rtt_us``
    (mean of the streams' smoothed RTT), ``cpu_util_local_pct`` and
    ``cpu_util_remote_pct`` (iperf3's host_total and remote_total),
    ``jitter_us`` and ``loss_pct`` for UDP, ``duration_s``; with
    ``per_stream=True`` also per stream throughput (``label`` "stream N sender").
    ``jobs`` is the number of parallel streams, ``size_bytes`` the block
    (``--len``) size, ``rw`` ``tx`` when this endpoint sent, ``rx`` when it
    received (``-R`` reverses), ``bidir`` for ``--bidir``; ``rate_per_s`` is
    the ``-b`` target in blocks per second when one was set.

    Parameters
    ----------
    file_or_str : path, str, bytes, file object or dict
        iperf3 JSON output. Never modified.
    path, options, hardware, note : optional
        Fill those columns (``path`` defaults to ``"unknown"``: give the catalog
        name). ``hardware`` defaults to iperf3's ``system_info``.
    source : str, optional
        Default: the file name, or ``"iperf3"``.
    per_stream : bool
        Add per-stream rows.

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    DatasetError
        Not iperf3 JSON, or iperf3 reported an error (its message is quoted).
    """
    doc, origin = _load_json(file_or_str, "iperf3 JSON")
    where = origin or "iperf3 JSON"
    if doc.get("error") and not doc.get("end"):
        raise DatasetError(f"{where}: iperf3 reported an error: {doc['error']}")
    start, end = doc.get("start"), doc.get("end")
    if not isinstance(start, dict) or not isinstance(end, dict):
        raise DatasetError(f"{where}: not iperf3 -J output (no 'start'/'end' objects)")
    test = start.get("test_start") or {}
    ctx = _context("iperf3", source, origin, path, options,
                   hardware or str(start.get("system_info", "")).strip(), note)
    rows = _Rows(**ctx)
    protocol = str(test.get("protocol", "TCP")).upper()
    is_client = "connecting_to" in start
    reverse = bool(test.get("reverse"))
    sending = is_client != reverse  # a client sends unless -R; a server the opposite
    # iperf3 3.12 does not echo --bidir in test_start; the reverse sums show it
    bidir = bool(test.get("bidir")) or isinstance(end.get("sum_sent_bidir_reverse"), dict)
    rw = "bidir" if bidir else ("tx" if sending else "rx")
    blksize = test.get("blksize") or None
    target = float(test.get("target_bitrate") or 0)
    rate = target / (8.0 * blksize) if target > 0 and blksize else None
    common = {
        "jobs": int(test.get("num_streams") or 1),
        "size_bytes": int(blksize) if blksize else None,
        "rw": rw,
        "rate_per_s": rate,
        "note": _join(note, f"iperf3 {protocol} {'client' if is_client else 'server'}"),
    }
    for key, label in (("sum_sent", "sender"), ("sum_received", "receiver")):
        s = end.get(key)
        if protocol == "UDP" and not isinstance(s, dict) and label == "sender":
            s = end.get("sum")  # iperf3 < 3.10 reports UDP only in "sum"
        if not isinstance(s, dict) or (not s.get("bytes") and label == "sender" and not sending):
            continue  # a receiving endpoint reports an empty sender sum
        rows.add("throughput_gbps", _gbps(s.get("bits_per_second")), **common, label=label)
        rows.add("io_bytes", s.get("bytes"), **common, label=label)
        rows.add("duration_s", s.get("seconds"), **common, label=label)
        if protocol == "TCP" and label == "sender" and "retransmits" in s:
            rows.add("retransmits", s["retransmits"], **common, label=label)
    if protocol == "UDP":
        s = end.get("sum") or {}
        rows.add("jitter_us", _scale(s.get("jitter_ms"), 1e3), **common, label="receiver")
        rows.add("loss_pct", s.get("lost_percent"), **common, label="receiver")
    else:
        rtts = [st["sender"]["mean_rtt"] for st in end.get("streams", [])
                if isinstance(st.get("sender"), dict) and st["sender"].get("mean_rtt") is not None
                and st["sender"].get("sender", True)]
        if rtts:
            rows.add("tcp_rtt_us", float(np.mean(rtts)), **common, label="sender")
    if bidir:
        for key, label in (("sum_sent_bidir_reverse", "reverse sender"),
                           ("sum_received_bidir_reverse", "reverse receiver")):
            s = end.get(key)
            if isinstance(s, dict):
                rows.add("throughput_gbps", _gbps(s.get("bits_per_second")), **common, label=label)
                rows.add("io_bytes", s.get("bytes"), **common, label=label)
                rows.add("duration_s", s.get("seconds"), **common, label=label)
                if protocol == "TCP" and label == "reverse sender" and "retransmits" in s:
                    rows.add("retransmits", s["retransmits"], **common, label=label)
        fwd, rev = end.get("sum_received"), end.get("sum_received_bidir_reverse")
        if isinstance(fwd, dict) and isinstance(rev, dict):
            rows.add("throughput_gbps",
                     _gbps(float(fwd.get("bits_per_second", 0)) + float(rev.get("bits_per_second", 0))),
                     **{**common, "note": _join(common["note"], "sum of both directions' receivers")},
                     label="total")
    if per_stream:
        for i, st in enumerate(end.get("streams", []), start=1):
            for side in ("sender", "receiver", "udp"):
                s = st.get(side)
                if isinstance(s, dict) and (s.get("bytes") or side != "sender" or sending):
                    sock = s.get("socket", i)
                    way = "reverse " if bidir and s.get("sender") is False else ""
                    rows.add("throughput_gbps", _gbps(s.get("bits_per_second")),
                             **{**common, "jobs": 1}, label=f"{way}stream {sock} {side}")
    cpu = end.get("cpu_utilization_percent") or {}
    rows.add("cpu_util_local_pct", cpu.get("host_total"), **common, label="local")
    if cpu.get("remote_total") or cpu.get("remote_user") or cpu.get("remote_system"):
        rows.add("cpu_util_remote_pct", cpu.get("remote_total"), **common, label="remote")
    return rows.frame(where)


def _gbps(bits_per_second: Any) -> float | None:
    return None if bits_per_second is None else float(bits_per_second) / 1e9


def _scale(value: Any, factor: float) -> float | None:
    return None if value is None else float(value) * factor


# ------------------------------------------------------------ perf kvm stat
_PERF_HEADER = re.compile(
    r"^\s*(VM-EXIT|IO Port Access|MMIO Access|[A-Za-z][\w -]*?)\s+Samples\s+Samples%\s+Time%\s+(.*)$")
_PERF_TOTAL = re.compile(
    r"Total Samples:\s*(\d+),\s*Total events handled time:\s*([\d.]+)\s*us", re.IGNORECASE)
_TIME = r"([\d.]+)us"
_PERF_ROW_FULL = re.compile(
    rf"^\s*(\S+(?:\s\S+)*?)\s+(\d+)\s+([\d.]+)%\s+([\d.]+)%\s+{_TIME}\s+{_TIME}\s+{_TIME}"
    r"(?:\s*\(\s*\+-\s*([\d.]+)%\s*\))?\s*$")
_PERF_ROW_SHORT = re.compile(
    rf"^\s*(\S+(?:\s\S+)*?)\s+(\d+)\s+([\d.]+)%\s+([\d.]+)%\s+{_TIME}"
    r"(?:\s*\(\s*\+-\s*([\d.]+)%\s*\))?\s*$")


def read_perf_kvm_stat(
    text_or_file: Any,
    *,
    path: str = "",
    options: Mapping[str, Any] | str | None = None,
    hardware: str = "",
    source: str | None = None,
    note: str = "",
    duration_s: float | None = None,
    ios: float | None = None,
) -> pd.DataFrame:
    """Read ``perf kvm stat report`` text into the tidy schema.

    Handles the VM-EXIT, IO Port Access and MMIO Access tables, with the Min
    and Max Time columns or without them (older perf). Per exit reason
    (``label``): ``exits`` (Samples), ``exit_share_pct`` (Samples%),
    ``exit_time_share_pct`` (Time%), ``exit_time_us`` (Avg time),
    ``exit_time_min_us``, ``exit_time_max_us``, ``exit_time_sem_pct`` (the
    ``+-`` column, perf's relative error of the mean); for the whole report
    (``label`` "total") ``exits`` and ``exit_time_total_us``. Lines quoted in
    an e-mail (leading ``>``) are accepted.

    Parameters
    ----------
    text_or_file : path, str, bytes or file object
        The report. Never modified.
    path, options, hardware, note : optional
        Fill those columns (``path`` defaults to ``"unknown"``: give the catalog name).
    source : str, optional
        Default: the file name, or ``"perf kvm stat"``.
    duration_s : float, optional
        Length of the recording, seconds: adds ``exits_per_s`` rows.
    ios : float, optional
        I/Os completed during the recording: adds ``exits_per_io`` rows.

    Returns
    -------
    pandas.DataFrame
        Empty (with the schema's columns) when the report has no samples.

    Raises
    ------
    DatasetError
        No ``perf kvm stat`` table header in the text, a table row that cannot
        be read, or a non-positive ``duration_s`` / ``ios``.
    """
    text, origin = _read_text(text_or_file, "perf kvm stat")
    where = origin or "perf kvm stat report"
    for name, val in (("duration_s", duration_s), ("ios", ios)):
        if val is not None and not (math.isfinite(float(val)) and float(val) > 0):
            raise DatasetError(f"{name} must be a positive number, got {val!r}")
    rows = _Rows(**_context("perf kvm stat", source, origin, path, options, hardware, note))
    lines = [re.sub(r"^\s*(?:>\s?)+", "", ln) for ln in text.splitlines()]
    table: str | None = None
    has_minmax = False
    seen_header = False
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        head = _PERF_HEADER.match(line)
        if head and "Avg" in head.group(2):
            table, has_minmax, seen_header = head.group(1).strip(), "Min" in head.group(2), True
            continue
        tot = _PERF_TOTAL.search(line)
        if tot:
            kind = table or "VM-EXIT"
            rows.add("exits", int(tot.group(1)), label="total", note=_join(note, kind))
            rows.add("exit_time_total_us", float(tot.group(2)), label="total", note=_join(note, kind))
            _rates(rows, int(tot.group(1)), "total", note, kind, duration_s, ios)
            table = None
            continue
        if table is None or line.lstrip().startswith(("Analyze events", "#")):
            continue
        m = (_PERF_ROW_FULL if has_minmax else _PERF_ROW_SHORT).match(line)
        if not m:
            raise DatasetError(f"{where}: line {lineno}: cannot read the {table} row {line.strip()!r}")
        g = m.groups()
        label, samples = g[0], int(g[1])
        cols = {"label": label, "note": _join(note, table)}
        rows.add("exits", samples, **cols)
        rows.add("exit_share_pct", float(g[2]), **cols)
        rows.add("exit_time_share_pct", float(g[3]), **cols)
        if has_minmax:
            rows.add("exit_time_min_us", float(g[4]), **cols)
            rows.add("exit_time_max_us", float(g[5]), **cols)
            rows.add("exit_time_us", float(g[6]), **cols)
            sem = g[7]
        else:
            rows.add("exit_time_us", float(g[4]), **cols)
            sem = g[5]
        if sem is not None:
            rows.add("exit_time_sem_pct", float(sem), **cols)
        _rates(rows, samples, label, note, table, duration_s, ios)
    if not seen_header:
        raise DatasetError(f"{where}: no 'perf kvm stat report' table (a header with "
                           "'Samples  Samples%  Time% ... Avg time') found")
    return rows.frame(where)


def _rates(rows: _Rows, count: int, label: str, note: str, kind: str,
           duration_s: float | None, ios: float | None) -> None:
    if duration_s is not None:
        rows.add("exits_per_s", count / float(duration_s), label=label,
                 note=_join(note, kind, f"derived: exits / {duration_s} s"), extraction="derived")
    if ios is not None:
        rows.add("exits_per_io", count / float(ios), label=label,
                 note=_join(note, kind, f"derived: exits / {ios} I/Os"), extraction="derived")
