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

Modules: :mod:`.schema` (columns, metrics, options, validation),
:mod:`.bundled` (the bundled datasets), :mod:`.readers` (tool output).
"""

from __future__ import annotations

from .bundled import info, load
from .bundled import list as list  # noqa: A004 -- public: iov.datasets.list()
from .readers import read_fio_json, read_iperf3_json, read_perf_kvm_stat
from .schema import (
    EXTRACTIONS,
    METRICS,
    REQUIRED_COLUMNS,
    RW_VALUES,
    SCHEMA_COLUMNS,
    MetricInfo,
    _is_empty,  # noqa: F401 -- calibration reads empty cells with the schema's rule
    format_options,
    parse_options,
    validate,
)

# ``list`` is public (iov.datasets.list()) but left out of __all__ so that a star
# import cannot shadow the builtin.
__all__ = [
    "EXTRACTIONS",
    "METRICS",
    "REQUIRED_COLUMNS",
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
