"""The mutex model against the measured grid: :func:`compare_mutex` predicts every
point of the mutex experiment from single-thread costs (:func:`mutex_inputs`)."""

from __future__ import annotations

import math

import pandas as pd

from ..errors import ParameterError
from .mutex import MutexComparison, predict_mutex
from .results import _pick


def mutex_inputs(df: pd.DataFrame, guest: str) -> dict[str, float]:
    """Single-thread costs the mutex model needs, from probe results of one guest mode.

    ``cycle_us``, ``cycle_p50_us``, ``cycle_p99_us``: mean, median and p99 per-exit time of
    one vCPU thread with S = 0 and no mutex; ``wake_us``, ``wake_p99_us``:
    eventfd-wake-blocked median and p99; ``wake_cost_us``: eventfd-write-waking median;
    ``slice_us``, ``preempt_gap_us``: sched-run-length and sched-preempt-gap medians;
    ``host_cpus``; ``cpus_available``: the
    host-cpu-available measured around that guest's mutex grid, in CPUs.
    """
    g = df["guest"].fillna("").astype(str)
    m = ((df["path"] == "mutex-exits") & (g == guest) & (df["vcpus"] == 1)
         & (df["hold_us"] == 0) & (df["mutex"].astype("boolean") == False))  # noqa: E712
    rows = df[m]

    def metric(name: str) -> float:
        v = rows.loc[rows["metric"] == name, "value"]
        return float(v.iloc[0]) if len(v) else math.nan

    if math.isnan(metric("latency_us")):
        raise ParameterError(f"results have no single-thread mutex-exits row for guest {guest!r} "
                             "(vcpus=1, hold_us=0, mutex=False)")
    return {
        "cycle_us": metric("latency_us"),
        "cycle_p50_us": metric("latency_p50_us"),
        "cycle_p99_us": metric("latency_p99_us"),
        "wake_us": _pick(df, "eventfd-wake-blocked", "latency_p50_us"),
        "wake_p99_us": _pick(df, "eventfd-wake-blocked", "latency_p99_us"),
        "wake_cost_us": _pick(df, "eventfd-write-waking", "latency_p50_us"),
        "slice_us": _pick_guest(df, "sched-run-length", "latency_p50_us", guest),
        "preempt_gap_us": _pick_guest(df, "sched-preempt-gap", "latency_p50_us", guest),
        "preempt_gap_p99_us": _pick_guest(df, "sched-preempt-gap", "latency_p99_us", guest),
        "host_cpus": int(df["host_cpus"].dropna().iloc[0]),
        "cpus_available": _cpus_available(df, guest),
    }


def _pick_guest(df: pd.DataFrame, path: str, metric: str, guest: str) -> float:
    """The guest's own row (measured around its mutex grid), else the host-level one."""
    v = _pick(df, path, metric, guest)
    return v if not math.isnan(v) else _pick(df, path, metric, "")


def _cpus_available(df: pd.DataFrame, guest: str) -> float:
    """CPUs available around the mutex grid of ``guest`` (else at the start), or P."""
    v = _pick_guest(df, "host-cpu-available", "cpu_util_pct", guest)
    return v / 100.0 if not math.isnan(v) else float(df["host_cpus"].dropna().iloc[0])


def compare_mutex(df: pd.DataFrame, seed: int = 0) -> MutexComparison:
    """Predict every mutex-experiment point from single-thread costs; compare with data.

    The model is :func:`iovmodel.probe.mutex.predict_mutex`, fed by :func:`mutex_inputs`
    (nothing is fitted to the multi-thread points).
    """
    if not isinstance(df, pd.DataFrame) or "path" not in df.columns:
        raise ParameterError("results must be the DataFrame returned by iovmodel.probe.run()")
    df = df.copy()
    df["guest"] = df["guest"].fillna("").astype(str)
    mx = df[df["path"] == "mutex-exits"]
    if mx.empty:
        raise ParameterError("results contain no mutex-exits rows")
    rows, inputs = [], []
    for g in sorted(set(mx["guest"])):
        inp = mutex_inputs(df, g)
        inputs.append({"guest": g, **inp})
        sub = mx[mx["guest"] == g]
        for (v, s, use), grp in sub.groupby(["vcpus", "hold_us", "mutex"]):
            pred = predict_mutex(int(v), float(s), mutex=bool(use), seed=seed, **inp)
            for metric in ("exits_per_s", "latency_p50_us", "latency_p99_us"):
                meas = grp.loc[grp["metric"] == metric, "value"]
                if not len(meas):
                    continue
                measured = float(meas.iloc[0])
                predicted = float(getattr(pred, metric))
                rows.append(dict(guest=g, metric=metric, vcpus=int(v), hold_us=float(s),
                                 mutex=bool(use), measured=measured, predicted=predicted,
                                 rel_error=(predicted - measured) / measured if measured else
                                 math.nan, bound=pred.bound))
    return MutexComparison(pd.DataFrame(rows), pd.DataFrame(inputs))
