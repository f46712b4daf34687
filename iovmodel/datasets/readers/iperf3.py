"""``iperf3 -J`` output -> the tidy schema."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ...errors import DatasetError
from ._common import _context, _join, _load_json, _Rows, guarded

__all__ = ["read_iperf3_json"]

# ------------------------------------------------------------------ iperf3
@guarded("iperf3 JSON")
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
    if doc.get("error"):  # an interrupted run also writes a partial "end": not a measurement
        raise DatasetError(f"{where}: iperf3 reported an error: {doc['error']!r}")
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
