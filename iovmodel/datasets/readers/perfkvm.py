"""``perf kvm stat report`` text -> the tidy schema."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import pandas as pd

from ...errors import DatasetError
from ._common import _context, _join, _read_text, _Rows, guarded

__all__ = ["read_perf_kvm_stat"]

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


@guarded("perf kvm stat report")
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
        for col, pct in (("Samples%", g[2]), ("Time%", g[3])):
            if float(pct) > 100.0 + 0.01:  # perf rounds to two decimals
                raise DatasetError(f"{where}: line {lineno}: {col} = {pct}% of {label!r} is over "
                                   "100 %")
        if has_minmax and float(g[4]) > float(g[5]):
            raise DatasetError(f"{where}: line {lineno}: Min {g[4]}us > Max {g[5]}us for "
                               f"{label!r}")
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
