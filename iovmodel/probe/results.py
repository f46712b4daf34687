"""Probe results as a tidy DataFrame: the columns, the row collector, saving and
loading, the recorded reference run and a compact summary."""

from __future__ import annotations

import math
import os
from importlib import resources
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from .. import _validate
from .._io import write_atomic
from ..errors import DatasetError, ParameterError
from .kvm import Detection

SOURCE = "probe"

#: columns of the measured-data schema (DESIGN.md), then the probe's own
SCHEMA = ["source", "path", "metric", "value", "unit", "jobs", "iodepth", "size_bytes", "rw",
          "rate_per_s", "batch", "options", "hardware", "note"]
EXTRA = ["stat", "spread", "runs", "samples", "guest", "guest_exec", "kvm_regime", "vcpus",
         "hold_us", "mutex", "host_cpus"]
COLUMNS = SCHEMA + EXTRA


def _stats(s: np.ndarray) -> dict[str, float]:
    if len(s) == 0:
        return {"p50": math.nan, "p99": math.nan, "mean": math.nan}
    p50, p99 = np.percentile(s, [50, 99])
    return {"p50": float(p50), "p99": float(p99), "mean": float(np.mean(s))}


_METRIC = {"p50": "latency_p50_us", "p99": "latency_p99_us", "mean": "latency_us"}
_STAT = {"p50": "median", "p99": "p99", "mean": "mean"}


class _Collector:
    """Accumulates rows; knows the host description."""

    def __init__(self, det: Detection):
        self.det = det
        self.rows: list[dict] = []

    def add(self, path: str, metric: str, value: float, unit: str, *, stat: str,
            spread: float = math.nan, runs: int = 1, samples: int = 0, guest: str = "",
            guest_exec: str = "", note: str = "", options: str = "", **extra) -> None:
        row = dict.fromkeys(COLUMNS, None)
        row.update(source=SOURCE, path=path, metric=metric, value=float(value), unit=unit,
                   hardware=self.det.hardware, note=note, options=options, stat=stat,
                   spread=float(spread), runs=int(runs), samples=int(samples), guest=guest,
                   guest_exec=guest_exec, kvm_regime=self.det.regime,
                   host_cpus=self.det.host_cpus)
        row.update(extra)
        self.rows.append(row)

    def latency(self, path: str, runs: list[np.ndarray], note: str, *, guest: str = "",
                guest_exec: str = "", options: str = "", **extra) -> None:
        """Rows p50/p99/mean of repeated sample sets: pooled value, spread over runs."""
        pooled = np.concatenate(runs) if runs else np.array([])
        if len(pooled) == 0:  # e.g. no preemption seen: nothing to report
            return
        whole = _stats(pooled)
        per_run = [_stats(r) for r in runs]
        for key in ("p50", "p99", "mean"):
            vals = [p[key] for p in per_run]
            self.add(path, _METRIC[key], whole[key], "us", stat=_STAT[key],
                     spread=float(np.ptp(vals)) if vals else math.nan, runs=len(runs),
                     samples=len(pooled), guest=guest, guest_exec=guest_exec, note=note,
                     options=options, **extra)

    def frame(self) -> pd.DataFrame:
        df = pd.DataFrame(self.rows, columns=COLUMNS)
        for col in ("jobs", "iodepth", "size_bytes", "batch", "vcpus", "host_cpus"):
            df[col] = df[col].astype("Int64")
        for col in ("rate_per_s", "hold_us", "value", "spread"):
            df[col] = df[col].astype(float)
        df["mutex"] = df["mutex"].astype("boolean")
        return df


def save(df: pd.DataFrame, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write probe results as CSV, atomically; refuse an existing file unless asked.

    Parameters
    ----------
    df : pandas.DataFrame
        Results of :func:`run`.
    path : path-like
        Destination file (``.csv``).
    overwrite : bool
        Replace an existing file.

    Raises
    ------
    FileExistsError
        ``path`` exists and ``overwrite`` is False (the file is left untouched).
    """
    if not isinstance(df, pd.DataFrame):
        raise ParameterError(f"df must be a pandas DataFrame, got {type(df).__name__} {df!r:.80}")
    p = Path(path)
    if p.exists() and not overwrite:
        raise FileExistsError(f"{p} exists; pass overwrite=True (CLI: --overwrite) to replace it")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise ParameterError(f"path: directory {parent} does not exist")
    write_atomic(p, df.to_csv(index=False), overwrite=overwrite)
    return p


def load(path: str | os.PathLike | BinaryIO) -> pd.DataFrame:
    """Read probe results written by :func:`save` (a path or a binary file object)."""
    # exact float round trip: pandas 3 does it by default (and deprecates the option)
    exact = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}
    if isinstance(path, str | os.PathLike):
        _validate.input_file(path, "probe results file", error=DatasetError)
    try:
        df = pd.read_csv(path, keep_default_na=True, **exact)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: not probe results ({type(exc).__name__}: {exc})") from None
    missing = [c for c in ("source", "path", "metric", "value", "unit") if c not in df.columns]
    if missing:
        raise DatasetError(f"{path}: not probe results, missing columns {missing}")
    for col in ("guest", "guest_exec", "options", "note", "stat", "rw", "kvm_regime"):
        if col in df.columns:
            df[col] = df[col].astype(object).fillna("").astype(str)
    for col in ("jobs", "iodepth", "size_bytes", "batch", "vcpus", "host_cpus", "runs",
                "samples"):
        if col in df.columns:
            df[col] = df[col].astype("Int64")
    if "mutex" in df.columns:
        df["mutex"] = df["mutex"].astype("boolean")
    return df


REFERENCE_FILE = "reference_run.csv"


def reference() -> pd.DataFrame:
    """A full probe run recorded on the machine this package was developed on.

    For notebooks and calibration where ``/dev/kvm`` is not available: AMD EPYC guest
    with 2 CPUs running a software-assisted nested KVM (``kvm_pvm``, Linux 6.18), the
    other tenants' load of the moment in the ``host-cpu-available`` rows.  Provenance is
    in ``df.attrs["provenance"]``.
    """
    with resources.files("iovmodel.probe").joinpath(REFERENCE_FILE).open("rb") as f:
        df = load(f)
    hw = df["hardware"].iloc[0] if len(df) else ""
    df.attrs["provenance"] = (f"measured here by iovmodel.probe.run() (full), on {hw}; "
                              "file iovmodel/probe/" + REFERENCE_FILE)
    return df


# -------------------------------------------------------------------- costs


def _pick(df: pd.DataFrame, path: str, metric: str, guest: str | None = None) -> float:
    m = (df["path"] == path) & (df["metric"] == metric)
    if guest is not None:
        m &= df["guest"].fillna("") == guest
    vals = df.loc[m, "value"]
    return float(vals.iloc[0]) if len(vals) else math.nan


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """Compact wide view for people: one row per (guest, path), p50/p99/cost columns."""
    d = df[df["path"] != "mutex-exits"].copy()
    d["guest"] = d["guest"].fillna("").astype(str)
    wide = d.pivot_table(index=["guest", "path"], columns="metric", values="value",
                         aggfunc="first")
    order = [c for c in ("latency_p50_us", "latency_p99_us", "latency_us", "exit_time_us")
             if c in wide.columns]
    return wide[order].reset_index()
