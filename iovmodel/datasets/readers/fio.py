"""fio ``--output-format=json`` / ``json+`` output -> the tidy schema."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ...errors import DatasetError
from ..schema import RW_VALUES
from ._common import _context, _join, _load_json, _Rows, guarded, nonneg

__all__ = ["read_fio_json"]

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


@guarded("fio JSON")
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
    for i, job in enumerate(jobs):
        _check_job(job, f"{where}: job {i + 1}")
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


def _check_job(job: Any, where: str) -> None:
    """Counts, rates, times and histogram bins of one job entry are numbers >= 0, before
    anything is summed (a job with ``"iops": -5`` must not vanish into a merged row)."""
    if not isinstance(job, dict):
        raise DatasetError(f"{where}: a job entry must be an object, got {job!r}")
    for key in ("usr_cpu", "sys_cpu"):
        nonneg(where, key, job.get(key))
    for side in _FIO_SIDES:
        st = job.get(side)
        if not isinstance(st, dict):
            continue
        for key in ("total_ios", "io_bytes", "iops", "bw_bytes", "bw", "runtime"):
            nonneg(where, f"{side}.{key}", st.get(key))
        for kind in ("slat_ns", "clat_ns", "lat_ns", "slat", "clat", "lat"):
            blk = st.get(kind)
            if not isinstance(blk, dict):
                continue
            for key in ("N", "min", "max", "mean", "stddev"):
                nonneg(where, f"{side}.{kind}.{key}", blk.get(key))
            bins = blk.get("bins")
            if isinstance(bins, dict):
                for k, v in bins.items():
                    if not str(k).isdigit():
                        raise DatasetError(f"{where}: {side}.{kind}.bins key {k!r} is not a "
                                           "latency in ns")
                    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                        raise DatasetError(f"{where}: {side}.{kind}.bins[{k!r}] = {v!r} must "
                                           "be a count >= 0")


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
