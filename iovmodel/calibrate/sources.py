"""Your own measurements as fit input: tool outputs and CSVs, and the metrics worth fitting.

:func:`read_measurements` turns fio JSON / json+ files, ``iperf3 -J`` files and tidy CSVs
(paths, globs, or a list of them) into one tidy frame; :func:`pick_metrics` keeps the rows
the model predicts and that carry their own information, and says why it left each other
row out.
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path as FsPath
from typing import Any

import pandas as pd

from ..errors import DatasetError, FitError, ParameterError
from ..solve.metrics import PREDICTABLE
from .rows import _check_frame, predictable

#: the columns that tell one measured run from another (the rows of one fio job side)
_RUN_COLUMNS = ("source", "dataset", "path", "options", "hardware", "jobs", "iodepth",
                "size_bytes", "rw", "rate_per_s", "batch", "think_us", "label")
#: a metric left out when the same run also has the one it is derived from or nested in
_REDUNDANT = {"throughput_gbps": "iops", "clat_us": "latency_us"}
#: tail percentiles: beyond what the model's gamma approximation of the response time holds
_TAIL = ("latency_p999_us", "latency_p9999_us")

Source = str | os.PathLike[str] | pd.DataFrame


def _expand(item: str | os.PathLike[str]) -> list[FsPath]:
    text = os.fspath(item)
    if any(c in text for c in "*?["):
        hits = sorted(glob.glob(text))
        if not hits:
            raise FitError(f"no file matches {text!r}")
        return [FsPath(h) for h in hits]
    p = FsPath(text)
    if not p.is_file():
        raise FitError(f"measurement file {text!r} does not exist")
    return [p]


def _read_one(file: FsPath, path: str | None, options: Any) -> pd.DataFrame:
    from ..datasets import read_fio_json, read_iperf3_json

    suffix = file.suffix.lower()
    if suffix == ".csv":
        df = pd.read_csv(file)
        if "path" not in df.columns and path:
            df["path"] = path
        if "source" not in df.columns:
            df["source"] = file.name
        return df
    if suffix != ".json":
        raise FitError(f"{file}: unknown kind of file (want .json from fio or iperf3 -J, or "
                       "a tidy .csv)")
    text = file.read_text("utf-8", errors="replace")
    start = text.find("{")
    try:  # fio prints notes before its JSON document
        doc = json.loads(text[start:]) if start >= 0 else None
    except json.JSONDecodeError as exc:
        raise FitError(f"{file}: not a JSON document ({exc})") from None
    if not isinstance(doc, dict):
        raise FitError(f"{file}: not a fio or iperf3 JSON document")
    reader = read_fio_json if "jobs" in doc else read_iperf3_json if "start" in doc and \
        "end" in doc else None
    if reader is None:
        raise FitError(f"{file}: a JSON document from neither fio (no 'jobs') nor iperf3 "
                       "(no 'start'/'end')")
    if not path:
        raise FitError(f"{file}: a {'fio' if reader is read_fio_json else 'iperf3'} output does "
                       "not say which I/O path it measured; give path= (a catalog name, "
                       "e.g. path='virtio-blk')")
    try:
        return reader(doc, path=path, options=options, source=file.name)
    except DatasetError as exc:
        raise FitError(f"{file}: {exc}") from None


def read_measurements(sources: Source | Sequence[Source], *, path: str | None = None,
                      options: Mapping[str, Any] | str | None = None) -> pd.DataFrame:
    """Read measurement files into one tidy frame.

    Parameters
    ----------
    sources : path, glob, DataFrame, or a sequence of them
        fio ``--output-format=json``/``json+`` files, ``iperf3 -J`` files (told apart
        by their content), tidy ``.csv`` files (:mod:`iovmodel.datasets` schema),
        glob patterns (``"runs/*.json"``) and frames.  Never modified.
    path : str, optional
        The catalog path the tool outputs measured (their JSON does not say); a
        CSV without a ``path`` column takes it too.
    options : mapping or str, optional
        Path options of the tool outputs' rows (``"workers=4"``).

    Returns
    -------
    DataFrame
        All rows, ``source`` naming the file each came from.

    Raises
    ------
    FitError
        A missing file, a glob that matches nothing, an unknown kind of file, a
        tool output without ``path``.
    ParameterError
        A source that is neither a path nor a frame.
    """
    if isinstance(sources, str | os.PathLike | pd.DataFrame):
        items = [sources]
    elif isinstance(sources, list | tuple):
        items = list(sources)
    else:
        raise ParameterError(f"measurements must be a pandas DataFrame, a file path, a glob or "
                             f"a list of them, got {type(sources).__name__} {sources!r:.60}")
    if not items:
        raise FitError("no measurement files given")
    frames = []
    for item in items:
        if isinstance(item, pd.DataFrame):
            frames.append(item)
            continue
        if not isinstance(item, str | os.PathLike):
            raise ParameterError(f"a measurement source must be a file path, a glob or a DataFrame, "
                           f"got {type(item).__name__}")
        frames += [_read_one(f, path, options) for f in _expand(item)]
    return pd.concat(frames, ignore_index=True)


def pick_metrics(measurements: pd.DataFrame,
                 metrics: Sequence[str] | str = "auto") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split rows into those to fit and those left out, with the reason for each.

    ``metrics="auto"`` keeps every row the model predicts (:func:`predictable`) except:
    ``throughput_gbps`` when the same run has ``iops`` (the same number times the
    block size), ``clat_us`` when it has ``latency_us`` (nested in it), and the tail
    percentiles p99.9 and p99.99 (beyond the model's gamma approximation of the
    response time).  A list keeps only those metrics (and only predictable rows).

    Returns
    -------
    kept, ignored : DataFrame
        ``kept``: the rows to fit (original index); ``ignored``: the others plus a
        ``reason`` column.
    """
    df = _check_frame(measurements)
    reason = pd.Series("", index=df.index, dtype=object)
    if not (isinstance(metrics, str) and metrics == "auto"):
        wanted = [metrics] if isinstance(metrics, str) else list(metrics)
        reason[~df["metric"].isin(wanted)] = f"metric not among metrics={wanted}"
    ok = predictable(df)
    unknown = ~df["metric"].isin(list(PREDICTABLE))
    reason[(reason == "") & unknown] = "not a metric the model predicts"
    reason[(reason == "") & ~ok["predictable"]] = ok["reason"]
    if isinstance(metrics, str) and metrics == "auto":
        cols = [c for c in _RUN_COLUMNS if c in df.columns]
        # str of every cell, missing as "" (pandas 3's str dtype keeps NaN through astype(str))
        text = df[cols].map(lambda v: "" if pd.isna(v) else str(v))
        run = text.agg("\x1f".join, axis=1) if cols else pd.Series("", df.index)
        live = reason == ""
        for metric, base in _REDUNDANT.items():
            has_base = set(run[live & (df["metric"] == base)])
            dup = live & (df["metric"] == metric) & run.isin(has_base)
            reason[dup] = f"redundant with {base} of the same run"
        reason[(reason == "") & df["metric"].isin(_TAIL)] = (
            "tail percentile beyond the model's gamma approximation of the response time")
    keep = (reason == "").to_numpy()
    ignored = df[~keep].assign(reason=reason[~keep])
    if not keep.any():
        why = ignored["reason"].iloc[0]
        raise FitError(f"no row of the {len(df)} can be fitted; e.g. row "
                       f"{ignored.index[0]}: {why}")
    return df[keep], ignored
