"""How well the model predicts the bundled measurements: the project's accuracy table.

For every bundled dataset with predictable rows (the rows :func:`iovmodel.fit.predictable`
keeps; their count per dataset is frozen in ``ROWS`` below and a change is reported):

* zero-shot: the default profile (``costs.toml``), nothing fitted;
* in-sample: the MAP fit (priors from the typical ranges, soft_l1) of all its rows;
* extrapolated: fitted on one side of its main axis, predicting the other side (``AXES``
  lists the axis and the training rows of each dataset);
* leave one group out: each ``source`` (or, with one source, each ``hardware``) predicted
  by a fit of the others;
* bands: the share of the rows inside the 95 % band of the published cost ranges alone
  (zero-shot, :func:`iovmodel.fit.prior_band`), and of the extrapolated and of the held-out
  rows inside the 95 % prediction band of the fit that did not see them (:meth:`iovmodel.FitResult.predict` with
  ``level=0.95``: the costs' Laplace uncertainty plus the fit's own scatter), how honest the
  fits' uncertainty is about rows they never saw (95 % is honest, less is overconfident);
* directions: of the same-hardware pairs that differ in one condition and whose measured
  values differ by more than 10 %, the share whose predicted ratio (in-sample fit) points
  the same way (:func:`iovmodel.fit.pair_directions`); a predicted change within 1 % is a
  tie, no direction, and counts as wrong. A further line gives the share right among the
  pairs the model does not call ties: how far its predicted directions can be trusted; the
  next, the most any prediction blind to the ``hardware`` column (one profile per dataset,
  as here) could get right (:func:`iovmodel.fit.direction_ceiling`), and where the pairs not
  right are;
* directions with each hardware's own costs: the same share from the hierarchical in-sample
  fit (``iov.fit(rows, by="hardware")``: the costs of kind "hardware" in ``costs.toml``,
  device, OS stacks, copies and system calls, per hardware; the virtualization costs shared)
  on the datasets of several hardwares, the shared fit's elsewhere (and where a hardware
  has one row), with each such dataset's in-sample error and share.

Errors are median absolute percentage errors (MdAPE, %).  The last lines time the joint
fit of every bundled dataset (MAP with its Laplace intervals) and one single-dataset fit.

Run: ``PYTHONPATH=. python benchmarks/bench_fidelity.py`` (``--markdown`` prints the
README table; ``--no-joint`` skips the joint timing; ``--joint-only`` prints only it).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

import iovmodel as iov
from iovmodel.errors import FitError, FitWarning
from iovmodel.fit import crossval, direction_ceiling, pair_directions, predictable, prior_band

#: predictable rows per dataset when this table was frozen (catalog and data of main; io_comparisons
#: 48 -> 67 and network_misc 3 -> 11 when their network rows became predictable, commit d69bf25;
#: network_misc 11 -> 9 when S31's two TCG rows, accel=tcg, were refused: no path models TCG)
ROWS = {"ch_vhost_user_blk_polling": 4, "ch_virtio_blk_indirect": 9, "exit_rates": 8,
        "firecracker_ci_block": 968, "firecracker_ci_net": 925, "firecracker_docs": 10,
        "io_comparisons": 67, "kata_ci_net": 6, "network_misc": 9,
        "qemu_dataplane_batching": 3, "qemu_nvme_userspace": 8, "xen_blk_multiqueue": 30}

Mask = Callable[[pd.DataFrame], pd.Series]


def _num(d: pd.DataFrame, col: str) -> pd.Series:
    return pd.to_numeric(d[col], errors="coerce")


#: main axis of each dataset: (axis, what is trained -> what is predicted, training mask)
AXES: dict[str, tuple[str, str, Mask]] = {
    "ch_vhost_user_blk_polling": ("options", "polling=0 -> polling=1",
                                  lambda d: d["options"].str.contains("polling=0")),
    "ch_virtio_blk_indirect": ("options", "native, indirect_desc=0 -> indirect_desc=1",
                               lambda d: ~d["options"].str.contains("indirect_desc=1")),
    "exit_rates": ("options", "event_idx=0 and the net rows -> event_idx=1",
                   lambda d: ~d["options"].str.contains("event_idx=1")),
    "firecracker_ci_block": ("jobs", "jobs 1 -> 2", lambda d: _num(d, "jobs") <= 1),
    "firecracker_ci_net": ("jobs", "jobs 1 -> 2", lambda d: _num(d, "jobs") <= 1),
    "firecracker_docs": ("jobs", "jobs 1, 6 -> 8", lambda d: _num(d, "jobs") <= 6),
    "io_comparisons": ("iodepth", "iodepth 1 (and net rows) -> 64",
                       lambda d: _num(d, "iodepth").fillna(1) <= 1),
    "qemu_dataplane_batching": ("options", "batching=0 -> batching=1",
                                lambda d: d["options"].str.contains("batching=0")),
    "qemu_nvme_userspace": ("size_bytes", "4 KiB -> 512 KiB",
                            lambda d: _num(d, "size_bytes") <= 4096),
    "xen_blk_multiqueue": ("jobs", "jobs <= 8 -> 16..64", lambda d: _num(d, "jobs") <= 8),
}


def _mdape(frame: pd.DataFrame) -> float:
    return float(np.nanmedian(np.abs(frame["rel_error"].to_numpy()))) * 100.0


#: the prediction bands whose coverage of unseen rows is reported
LEVEL = 0.95

#: wrong-direction pairs the prediction calls a tie (within 1 %), by the condition that differs
FLAT: dict[str, int] = {}
#: decisive pairs whose prediction changes by more than 1 % (not a tie), and how many of
#: those point the measured way
CALLED = {"pairs": 0, "right": 0}
#: per dataset, the decisive pairs a prediction blind to the hardware could get right at best
#: (:func:`iovmodel.fit.direction_ceiling`), and the pairs not right by condition
CEILING: dict[str, tuple[int, int]] = {}
MISSED: dict[tuple[str, str], tuple[int, int]] = {}


def _share(frame: pd.DataFrame, name: str = "") -> tuple[float, int]:
    p = pair_directions(frame)
    d = p[p["decisive"]]
    c = direction_ceiling(frame, p)
    CEILING[name] = (int(c["best"].sum()), int(c["pairs"].sum()))
    for cond, g in d.groupby("condition"):
        MISSED[(name, cond)] = (int((~g["right"]).sum()), len(g))
    tie = d["tie"].to_numpy(dtype=bool)
    flat = d[tie & ~d["right"]]
    for cond, n in flat.groupby("condition").size().items():
        FLAT[cond] = FLAT.get(cond, 0) + int(n)
    CALLED["pairs"] += int((~tie).sum())
    CALLED["right"] += int(d.loc[~tie, "right"].sum())
    return (float(d["right"].mean()) if len(d) else math.nan), len(d)


def _right(frame: pd.DataFrame) -> tuple[float, int]:
    """Share of the decisive pairs pointing the measured way, and their count."""
    d = pair_directions(frame)
    d = d[d["decisive"]]
    return (float(d["right"].mean()) if len(d) else math.nan), len(d)


def _inside(cv: pd.DataFrame) -> tuple[float, int]:
    """Share (%) of a cross-validation's predicted rows inside their band, and their count."""
    inside = cv["inside"].dropna()
    return (100.0 * float(inside.mean()) if len(inside) else math.nan), len(inside)


def rows_of(name: str) -> pd.DataFrame:
    df = iov.datasets.load(name)
    return df[predictable(df)["predictable"].to_numpy()].reset_index(drop=True)


def dataset_row(name: str) -> dict:
    d = rows_of(name)
    rec: dict = {"dataset": name, "rows": len(d), "zero_shot": math.nan, "in_sample": math.nan,
                 "extrapolated": math.nan, "axis": "", "held_out": math.nan, "groups": "",
                 "right_dir": math.nan, "pairs": 0, "warnings": 0, "note": "",
                 "in_sample_hw": math.nan, "right_dir_hw": math.nan, "pairs_hw": 0,
                 "by_hw": False,
                 "zero_in": math.nan, "zero_n": 0, "extrap_in": math.nan, "extrap_n": 0,
                 "held_in": math.nan, "held_n": 0}
    if ROWS.get(name) != len(d):
        rec["note"] = f"rows changed: {ROWS.get(name)} frozen, {len(d)} now"
    if not len(d):
        return rec
    zero = prior_band(d, level=LEVEL)
    rec["zero_shot"] = _mdape(zero)
    rec["zero_in"], rec["zero_n"] = _inside(zero)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FitWarning)
        try:
            f = iov.fit(d)
        except FitError as exc:
            rec["note"] = str(exc)[:60]
            return rec
        rec["in_sample"] = f.mape
        rec["right_dir"], rec["pairs"] = _share(f.residuals, name)
        rec["in_sample_hw"], rec["right_dir_hw"], rec["pairs_hw"] = \
            rec["in_sample"], rec["right_dir"], rec["pairs"]
        if "hardware" in d and d["hardware"].nunique() >= 2:
            # the hierarchical fit: each hardware its own costs of kind "hardware"
            try:
                fh = iov.fit(d, by="hardware")
            except FitError:  # a hardware with one row: the shared fit's directions stand
                rec["note"] = "a hardware with one row: no fit by hardware"
            else:
                rec["in_sample_hw"], rec["by_hw"] = fh.mape, True
                rec["right_dir_hw"], rec["pairs_hw"] = _right(fh.residuals)
        if name in AXES:
            axis, how, mask = AXES[name]
            m = mask(d).to_numpy(dtype=bool)
            if m.any() and not m.all():
                cv = crossval(d, train=m, level=LEVEL)
                rec["extrapolated"] = cv.attrs["test_mape"]
                rec["extrap_in"], rec["extrap_n"] = _inside(cv)
                rec["axis"] = f"{axis}: {how}"
        for col in ("source", "hardware"):
            if col in d and d[col].nunique() >= 2:
                try:
                    cv = crossval(d, by=col, level=LEVEL)
                except FitError as exc:
                    rec["note"] = str(exc)[:60]
                else:
                    rec["held_out"], rec["groups"] = cv.attrs["test_mape"], \
                        f"{d[col].nunique()} {col}s"
                    rec["held_in"], rec["held_n"] = _inside(cv)
                break
    rec["warnings"] = sum(issubclass(w.category, FitWarning) for w in caught)
    return rec


def all_rows() -> pd.DataFrame:
    return pd.concat([rows_of(n).assign(dataset=n) for n in iov.datasets.list()["name"]],
                     ignore_index=True)


def _timed(frame: pd.DataFrame):
    """The default fit of ``frame``: (result, wall s, CPU s of this process)."""
    t, c = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        f = iov.fit(frame)
    return f, time.perf_counter() - t, time.process_time() - c


def joint_timing() -> dict:
    """Time the joint fit of every bundled dataset and one single-dataset fit.

    Wall and CPU seconds both (CPU time is what a loaded, shared machine does not inflate
    much; the 1-minute load average is printed beside them), the evaluations, the MdAPE.
    A warm-up fit first, so numba's compilation (cached on disk) is not timed.
    """
    one = rows_of("xen_blk_multiqueue")
    _timed(one)
    df = all_rows()
    f, wall, cpu = _timed(df)
    g, single, single_cpu = _timed(one)
    return {"rows": len(df), "joint_s": wall, "joint_cpu_s": cpu, "joint_nfev": f.nfev,
            "joint_mdape": f.mape, "free": len(f.free), "single_s": single,
            "single_cpu_s": single_cpu, "single_mdape": g.mape, "single_rows": len(one),
            "load": os.getloadavg()[0]}


def _fmt(x: float, pct: bool = True) -> str:
    if not np.isfinite(x):
        return "-"
    return f"{x:.0f} %" if pct else f"{100 * x:.0f} %"


def main(argv: list[str]) -> None:
    if "--joint-only" in argv:
        _print_joint()
        return
    recs = []
    for n in ROWS:
        t = time.perf_counter()
        recs.append(dataset_row(n))
        print(f"# {n}: {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)
    table = pd.DataFrame(recs)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=Path(__file__).resolve().parent).stdout.strip()
    md = "--markdown" in argv
    if md:
        print("| dataset | rows | zero-shot | in-sample | extrapolated (axis) | held out "
              "(groups) | in 95 % band: zero-shot, extrapolated, held out | right direction (pairs) |")
        print("|---|---:|---:|---:|---|---|---|---|")
    for _, r in table.iterrows():
        if md:
            ax = f" ({r['axis']})" if r["axis"] else ""
            gr = f" ({r['groups']})" if r["groups"] else ""
            print(f"| {r['dataset']} | {r['rows']} | {_fmt(r['zero_shot'])} | "
                  f"{_fmt(r['in_sample'])} | {_fmt(r['extrapolated'])}{ax} | "
                  f"{_fmt(r['held_out'])}{gr} | {_fmt(r['zero_in'])}, {_fmt(r['extrap_in'])}, "
                  f"{_fmt(r['held_in'])} | {_fmt(r['right_dir'], False)} ({r['pairs']}) |")
        else:
            print(f"{r['dataset']:<26} {r['rows']:>5}  zero-shot {_fmt(r['zero_shot']):>6}  "
                  f"in-sample {_fmt(r['in_sample']):>6}  extrapolated "
                  f"{_fmt(r['extrapolated']):>6}  held-out {_fmt(r['held_out']):>6} "
                  f"{r['groups']:<12} right dir {_fmt(r['right_dir'], False):>5} "
                  f"({r['pairs']} pairs)  in band {_fmt(r['zero_in'])}/{_fmt(r['extrap_in'])}/"
                  f"{_fmt(r['held_in'])}  fit warnings {r['warnings']}"
                  f"{'  ' + r['note'] if r['note'] else ''}")
    w = table["rows"].to_numpy()
    ok = table["pairs"].to_numpy() > 0
    right = float(np.nansum(table["right_dir"][ok] * table["pairs"][ok]) / table["pairs"][ok].sum())
    print(f"\nmedian over datasets: zero-shot {np.nanmedian(table['zero_shot']):.0f} %, "
          f"in-sample {np.nanmedian(table['in_sample']):.0f} %, extrapolated "
          f"{np.nanmedian(table['extrapolated']):.0f} %, held out "
          f"{np.nanmedian(table['held_out']):.0f} %; right direction on {100 * right:.0f} % "
          f"of {int(table['pairs'].sum())} decisive same-hardware pairs ({int(w.sum())} rows; "
          f"commit {commit})")
    ok = table["pairs_hw"].to_numpy() > 0
    right_hw = float(np.nansum(table["right_dir_hw"][ok] * table["pairs_hw"][ok])
                     / table["pairs_hw"][ok].sum())
    print(f"with each hardware's own costs of kind 'hardware' (iov.fit(rows, by='hardware') "
          f"on the {int(table['by_hw'].sum())} datasets of "
          f"several hardwares): right direction on {100 * right_hw:.0f} % of "
          f"{int(table['pairs_hw'].sum())} decisive pairs, in-sample median "
          f"{np.nanmedian(table['in_sample_hw']):.0f} % ("
          + ", ".join(f"{r['dataset']} {_fmt(r['in_sample_hw'])} / "
                      f"{_fmt(r['right_dir_hw'], False)}" for _, r in table.iterrows()
                      if r["by_hw"]) + ")")
    bands = []
    for col, n, what in (("extrap_in", "extrap_n", "extrapolated"), ("held_in", "held_n",
                                                                   "held-out")):
        k = table[n].to_numpy()
        share = float(np.nansum(table[col].to_numpy() * k) / k.sum()) if k.sum() else math.nan
        bands.append(f"{share:.0f} % of {int(k.sum())} {what} rows (median over datasets "
                     f"{np.nanmedian(table[col]):.0f} %)")
    print(f"inside the {100 * LEVEL:.0f} % prediction band of the fit that did not see them: "
          + "; ".join(bands))
    k = table["zero_n"].to_numpy()
    print(f"inside the {100 * LEVEL:.0f} % band of the published cost ranges alone (no fit): "
          f"{np.nansum(table['zero_in'].to_numpy() * k) / k.sum():.0f} % of {int(k.sum())} rows "
          f"(median over datasets {np.nanmedian(table['zero_in']):.0f} %)")
    print(f"wrong-direction pairs the model predicts as a tie (within 1 %), by the condition that "
          f"differs: {FLAT or 'none'}")
    if CALLED["pairs"]:
        print(f"where the model predicts a change (beyond 1 %): {CALLED['pairs']} of the "
              f"decisive pairs, {100 * CALLED['right'] / CALLED['pairs']:.0f} % of them the "
              f"measured way")
    best, n = (sum(v[i] for v in CEILING.values()) for i in (0, 1))
    if n:
        per = ", ".join(f"{k} {100 * b / m:.0f} %" for k, (b, m) in CEILING.items() if m and b < m)
        print(f"the most a prediction blind to the hardware could get right (each class of pairs "
              f"changing one condition between the same values, on any host, at its majority "
              f"direction): {100 * best / n:.0f} % of the {n} decisive pairs "
              f"({per or 'every dataset 100 %'})")
        worst = sorted(MISSED.items(), key=lambda kv: -kv[1][0])[:6]
        print("pairs not right (wrong or tie), by dataset and condition: "
              + "; ".join(f"{d} {c} {w} of {m}" for (d, c), (w, m) in worst if w))
    notes = [f"{r['dataset']}: {r['note']}" for _, r in table.iterrows() if r["note"]]
    if md and notes:  # rows that differ from the frozen set, a fit that failed; the plain
        print("notes: " + "; ".join(notes))  # listing shows them per dataset
    if "--no-joint" not in argv:
        _print_joint()


def _print_joint() -> None:
    t = joint_timing()
    print(f"joint MAP + Laplace fit of all {t['rows']} bundled rows ({t['free']} free costs): "
          f"{t['joint_s']:.1f} s wall, {t['joint_cpu_s']:.1f} s CPU, {t['joint_nfev']} "
          f"evaluations, MdAPE {t['joint_mdape']:.3f} %; one dataset (xen_blk_multiqueue, "
          f"{t['single_rows']} rows): {t['single_s']:.2f} s wall, {t['single_cpu_s']:.2f} s "
          f"CPU, MdAPE {t['single_mdape']:.3f} %; load average {t['load']:.1f}")


if __name__ == "__main__":
    main(sys.argv[1:])
