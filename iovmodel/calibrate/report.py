"""Reports over fits: cross-validation, fits per group, every bundled dataset.

``python -m iovmodel.calibrate.report`` (or ``python -m iovmodel.fit``) prints the fit and
cross-validation error of every bundled dataset (:func:`dataset_report`).
"""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import FitError, FitWarning, ParameterError
from ..spec.profile import HostProfile
from .bands import check_level
from .fit import fit
from .predict import predict
from .result import FitResult
from .rows import _check_frame, predictable


def _train_mask(measurements: pd.DataFrame, train: Any) -> np.ndarray:
    if callable(train):
        train = train(measurements)
    if isinstance(train, pd.Series) and train.index.equals(measurements.index):
        mask = train.to_numpy()
    else:
        mask = np.asarray(train)
    if mask.dtype != bool:
        raise ParameterError(f"train must be a boolean mask, got dtype {mask.dtype}")
    if mask.shape != (len(measurements),):
        raise ParameterError(f"train has {mask.size} entries for {len(measurements)} rows")
    if mask.all():
        raise ParameterError("train selects every row: nothing is left to test")
    if not mask.any():
        raise ParameterError("train selects no row: nothing to fit")
    return mask


def crossval(measurements: pd.DataFrame, host: HostProfile | None = None, *,
             train: Any = None, by: str | None = None, level: float | None = None,
             **fit_options: Any) -> pd.DataFrame:
    """Fit some rows and predict the others: a training mask, or leave one group out.

    Parameters
    ----------
    measurements : DataFrame
        As for :func:`fit`.
    host : HostProfile, optional
        Start values and the fixed costs, as for :func:`fit`.
    train : boolean array-like or callable, optional
        One flag per row (or a function of the frame returning it): True rows
        are fitted, False rows are predicted (e.g. ``df["jobs"] <= 1``: low
        concurrency -> high).
    by : str, optional
        Instead of ``train``: leave each value of this column out in turn
        (``by="source"``: fit every other source, predict this one).
    level : float, optional
        Also give each predicted row the fit's prediction band at this level (``0.95``;
        :meth:`FitResult.predict`): columns ``predicted_lo``, ``predicted_hi``,
        ``band_log_halfwidth`` and ``inside``, and ``attrs["coverage"]``, the share of the
        predicted rows the bands hold (near ``level`` when the fit's uncertainty is honest
        about rows it did not see).
    **fit_options
        Passed to :func:`fit` (``free``, ``loss``, ...; ``weights`` as a
        column name or one number per row of the whole frame).

    Returns
    -------
    DataFrame
        The held-out rows with ``measured``, ``predicted``, ``rel_error`` and
        ``log_error`` (with ``by``: every row, predicted by the fit that left its
        group out, and a ``held_out`` column naming that group).  ``attrs`` holds
        ``test_mape`` and ``train_mape`` (median absolute percentage errors, %),
        ``n_train``, ``n_test``, ``free``, ``per_group`` (with ``by``: MdAPE per
        held-out group) and ``directions`` (:func:`pair_directions` of the
        held-out rows: the share of same-hardware pairs whose ratio the
        prediction gets the right way round).

    Raises
    ------
    ParameterError
        Neither or both of ``train`` and ``by``; a bad mask; ``by`` naming a missing
        column or a column with one value.
    """
    df = _check_frame(measurements)
    if (train is None) == (by is None):
        raise ParameterError("crossval needs exactly one of train= (a mask) and by= (a column "
                             "whose groups are left out in turn)")
    if by is not None:
        _check_by(df, by, "measurements")
        keys = df[by].astype(str).fillna("")
        values = list(dict.fromkeys(keys))
        if len(values) < 2:
            raise ParameterError(f"by={by!r} has one value ({values[0]!r}): nothing to leave out")
        parts, per = [], {}
        for v in values:
            held = (keys == v).to_numpy()
            cv = crossval(measurements, host, train=~held, level=level, **fit_options)
            parts.append(cv.assign(held_out=v))
            per[v] = cv.attrs["test_mape"]
        out = pd.concat(parts).loc[measurements.index]
        out.attrs.update({"test_mape": float(np.nanmedian(np.abs(out["rel_error"]))) * 100.0,
                          "per_group": per, "n_test": len(out), "by": by,
                          "directions": _share_right(pair_directions(out))})
        if level is not None:
            out.attrs.update(_coverage(out, level))
        return out
    if level is not None:
        check_level(level)
    mask = _train_mask(df, train)
    weights = fit_options.pop("weights", None)
    if weights is not None and not isinstance(weights, str):
        weights = np.asarray(weights, dtype=float)[mask]
    f = fit(df[mask], host, weights=weights, **fit_options)
    test = df[~mask]
    if level is not None:
        out = f.predict(test, level=level)
    else:
        out = predict(test, f.profile, batch=f.batch,
                      percentiles=fit_options.get("percentiles", "approx"),
                      sim_options=fit_options.get("sim_options"),
                      batching=fit_options.get("batching"))
    out.index = measurements.index[~mask]
    out.attrs.update({"test_mape": float(np.nanmedian(np.abs(out["rel_error"]))) * 100.0,
                      "train_mape": f.mape, "n_train": int(mask.sum()),
                      "n_test": int((~mask).sum()), "free": list(f.free),
                      "directions": _share_right(pair_directions(out))})
    if level is not None:
        out.attrs.update(_coverage(out, level))
    return out


def _coverage(out: pd.DataFrame, level: float) -> dict:
    """The share of predicted rows inside their band (NaN bands left out)."""
    inside = out["inside"].dropna()
    return {"level": level, "coverage": float(inside.mean()) if len(inside) else float("nan")}


#: the conditions of a measured row: pairs that differ in exactly one of them are compared
CONDITIONS = ("path", "options", "jobs", "iodepth", "size_bytes", "rw", "rate_per_s", "batch",
              "think_us")


def _text(x: pd.Series | pd.DataFrame) -> pd.Series | pd.DataFrame:
    """Cells as str, a missing one as "": pandas 3's ``astype(str)`` keeps NaN, which never
    equals itself (every pair would differ there) and drops out of a groupby."""
    return x.astype(object).where(x.notna(), "").astype(str)


def pair_directions(rows: pd.DataFrame, *, min_change: float = 0.10,
                    tie: float = 0.01) -> pd.DataFrame:
    """Same-hardware pairs: does the prediction move the right way between two rows?

    For every pair of rows with the same ``hardware`` (``source`` when there is no
    hardware column), the same metric and ``label``, that differ in exactly one of
    :data:`CONDITIONS`: the measured ratio, the predicted ratio, and whether both lie on
    the same side of 1.  Pairs whose measured values differ by less than ``min_change``
    (10 %) are kept but flagged ``decisive = False`` (a direction within noise).  A
    predicted ratio within ``tie`` (1 %) of 1 is a tie: the model says the condition does
    not matter, which is no direction, so such a pair is never ``right`` (a change of a
    few parts per million, numerical noise of the solver, would otherwise count as a
    direction half the time).

    Parameters
    ----------
    rows : DataFrame
        Rows with ``measured`` and ``predicted`` (from :func:`predict`, :func:`crossval`
        or :attr:`FitResult.residuals`).

    Returns
    -------
    DataFrame
        One row per pair: ``first, second`` (index labels), ``metric``, ``hardware``,
        ``condition`` (the column that differs), ``measured_ratio``,
        ``predicted_ratio``, ``right`` (bool), ``decisive`` (bool), ``tie`` (bool: the
        predicted ratio within ``tie`` of 1, or not a positive number).
    """
    for c in ("measured", "predicted", "metric"):
        if c not in rows.columns:
            raise ParameterError(f"pair_directions needs column {c!r}; give it the output of "
                                 "predict, crossval or FitResult.residuals")
    for name, v in (("min_change", min_change), ("tie", tie)):
        try:
            ok = not isinstance(v, bool) and math.isfinite(float(v)) and float(v) >= 0
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ParameterError(f"pair_directions: {name} must be a finite share >= 0, "
                                 f"got {v!r}")
    hw = "hardware" if "hardware" in rows.columns else "source" if "source" in rows.columns \
        else None
    conds = [c for c in CONDITIONS if c in rows.columns]
    key = [c for c in (hw, "metric", "label") if c is not None and c in rows.columns]
    out = []
    codes = _text(rows[conds]).to_numpy() if conds else np.empty((len(rows), 0))
    meas = rows["measured"].to_numpy(dtype=float)
    pred = rows["predicted"].to_numpy(dtype=float)
    labels = rows.index.to_numpy()
    pos = pd.RangeIndex(len(rows))
    for _, g in pd.Series(pos, index=rows.index).groupby(
            [_text(rows[c]) for c in key] if key else np.zeros(len(rows)), sort=False):
        idx = g.to_numpy()
        if len(idx) < 2:
            continue
        c = codes[idx]
        diff = (c[:, None, :] != c[None, :, :])  # pairs x conditions
        i, j = np.nonzero(np.triu(diff.sum(axis=2) == 1, k=1))
        for a, b in zip(idx[i], idx[j], strict=True):
            cond = conds[int(np.flatnonzero(codes[a] != codes[b])[0])]
            mr, pr = meas[b] / meas[a], pred[b] / pred[a]
            tied = not (np.isfinite(pr) and pr > 0) or abs(np.log(pr)) <= np.log1p(tie)
            out.append({"first": labels[a], "second": labels[b],
                        "metric": rows["metric"].iloc[a],
                        "hardware": rows[hw].iloc[a] if hw else "", "condition": cond,
                        "measured_ratio": mr, "predicted_ratio": pr,
                        "right": bool(not tied
                                      and np.sign(np.log(mr)) == np.sign(np.log(pr))),
                        "decisive": bool(abs(np.log(mr)) > np.log1p(min_change)),
                        "tie": bool(tied)})
    cols = ["first", "second", "metric", "hardware", "condition", "measured_ratio",
            "predicted_ratio", "right", "decisive", "tie"]
    return pd.DataFrame(out, columns=cols).astype({"right": bool, "decisive": bool,
                                                    "tie": bool,
                                                    "measured_ratio": float,
                                                    "predicted_ratio": float})


def direction_ceiling(rows: pd.DataFrame, pairs: pd.DataFrame | None = None) -> pd.DataFrame:
    """The most decisive pair directions a prediction blind to the hardware can get right.

    A prediction whose inputs are the conditions of a row (:data:`CONDITIONS`, the metric,
    the label) but not its ``hardware`` (one profile fitted to rows of several hosts, as
    :func:`fit` does unless told ``by=``) predicts the same ratio for every pair that
    changes the same condition between the same two values with everything else equal, on
    whichever host. Such a class of pairs can at best all point its majority's way, so the
    share of decisive pairs a hardware-blind prediction can get right is
    :math:`\\sum_c \\max(u_c, d_c) / \\sum_c (u_c + d_c)`, :math:`u_c` and :math:`d_c` the
    pairs of class c whose measured value rises and falls. Where hosts disagree on a
    direction, no such prediction gets all of them.

    Parameters
    ----------
    rows : DataFrame
        The rows :func:`pair_directions` read (``measured``, ``metric`` and the conditions).
    pairs : DataFrame, optional
        Their :func:`pair_directions` (computed when not given).

    Returns
    -------
    DataFrame
        One row per class of decisive pairs: ``metric``, ``condition``, ``values`` (the two
        values, in the order the pairs are counted), ``pairs``, ``up`` (the measured value
        rises from the first value to the second), ``best`` (the pairs its majority
        direction gets right, max(up, pairs - up)). ``attrs["ceiling"]``: the share of all
        decisive pairs, ``best.sum() / pairs.sum()`` (NaN without a decisive pair).
    """
    if pairs is None:
        pairs = pair_directions(rows)
    cols = ["metric", "condition", "values", "pairs", "up", "best"]
    d = pairs[pairs["decisive"]] if len(pairs) else pairs
    if not len(d):
        out = pd.DataFrame(columns=cols)
        out.attrs["ceiling"] = math.nan
        return out
    conds = [c for c in CONDITIONS if c in rows.columns]
    codes = _text(rows[conds])
    label = _text(rows["label"]) if "label" in rows.columns else None
    recs = []
    for first, second, cond, ratio in zip(d["first"], d["second"], d["condition"],
                                          d["measured_ratio"], strict=True):
        a, b = codes.at[first, cond], codes.at[second, cond]
        up = bool(ratio > 1)
        if b < a:  # count every pair of the class from the same value to the other
            a, b, up = b, a, not up
        rest = "\x1f".join(codes.loc[first, [c for c in conds if c != cond]])
        recs.append((str(rows.at[first, "metric"]), label.at[first] if label is not None
                     else "", cond, f"{a} -> {b}", rest, up))
    k = pd.DataFrame(recs, columns=["metric", "label", "condition", "values", "rest", "up"])
    out = (k.groupby(["metric", "label", "condition", "values", "rest"], sort=False)["up"]
           .agg(pairs="size", up="sum").reset_index())
    out["up"] = out["up"].astype(int)
    out["best"] = np.maximum(out["up"], out["pairs"] - out["up"])
    out.attrs["ceiling"] = float(out["best"].sum() / out["pairs"].sum())
    return out[cols]


def _share_right(pairs: pd.DataFrame) -> float:
    """Share of the decisive pairs whose direction the prediction gets right (NaN: none)."""
    d = pairs[pairs["decisive"]] if len(pairs) else pairs
    return float(d["right"].mean()) if len(d) else math.nan


def fit_groups(measurements: pd.DataFrame, host: HostProfile | None = None, *,
               by: str | Sequence[str], **fit_options: Any) -> dict[Any, FitResult]:
    """Fit each group of rows separately (e.g. ``by="hardware"``): one profile per host."""
    df = _check_frame(measurements)
    _check_by(df, by, "measurements")
    return {k: fit(g, host, **fit_options) for k, g in df.groupby(by, sort=True)}


def _check_by(df: pd.DataFrame, by: str | Sequence[str] | None, what: str) -> None:
    cols = [] if by is None else [by] if isinstance(by, str) else list(by)
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ParameterError(f"by names column(s) {', '.join(map(repr, missing))}, which {what} "
                             f"lacks; its columns: {', '.join(map(str, df.columns))}")



def _load_of(df: pd.DataFrame) -> np.ndarray:
    """Offered load per row: jobs x iodepth (closed) or rate_per_s (open), for splits."""
    jobs = pd.to_numeric(df.get("jobs"), errors="coerce") if "jobs" in df else None
    qd = pd.to_numeric(df.get("iodepth"), errors="coerce") if "iodepth" in df else None
    n = len(df)
    j = np.ones(n) if jobs is None else jobs.fillna(1).to_numpy(dtype=float)
    q = np.ones(n) if qd is None else qd.fillna(1).to_numpy(dtype=float)
    load = j * q
    if "rate_per_s" in df:
        rate = pd.to_numeric(df["rate_per_s"], errors="coerce").to_numpy(dtype=float)
        load = np.where(np.isfinite(rate), rate, load)
    return load


def split_low_load(df: pd.DataFrame) -> tuple[np.ndarray, str]:
    """The cross-validation split of :func:`dataset_report`: train on the rows at or
    below the median load (jobs x iodepth, or rate), test on the rest; when the load
    does not vary, train on every other row."""
    load = _load_of(df)
    mask = load <= np.median(load)
    if mask.all() or not mask.any():
        mask = np.arange(len(df)) % 2 == 0
        return mask, "alternate rows"
    return mask, "low load -> high load"


def dataset_report(names: Sequence[str] | None = None, host: HostProfile | None = None, *,
                   by: str | None = None, **fit_options: Any) -> pd.DataFrame:
    """Fit every bundled dataset's predictable rows and cross-validate.

    Parameters
    ----------
    names : sequence of str, optional
        Datasets (default: all of :func:`iovmodel.datasets.list`).
    by : str, optional
        Fit each group of this column separately (``"hardware"``, ``"source"``)
        and report the medians over the groups.
    host : HostProfile, optional
        Start values and the fixed costs, as for :func:`fit`.
    **fit_options
        Passed to :func:`fit` and :func:`crossval` (``batching="load"``, ``loss``, ...).

    Returns
    -------
    DataFrame
        One row per dataset: ``dataset, rows, predictable, groups, free``,
        ``start_mdape`` (default profile), ``fit_mdape``, ``r2`` (log scale),
        ``split``, ``cv_train_mdape``, ``cv_test_mdape`` (median absolute
        percentage errors, %), ``note``.
    """
    from .. import datasets

    names = list(datasets.list()["name"]) if names is None else list(names)
    out = []
    for name in names:
        df = datasets.load(name)
        ok = predictable(df)["predictable"].to_numpy()
        rec = {"dataset": name, "rows": len(df), "predictable": int(ok.sum()), "groups": 0,
               "free": "", "start_mdape": math.nan, "fit_mdape": math.nan, "r2": math.nan,
               "split": "", "cv_train_mdape": math.nan, "cv_test_mdape": math.nan, "note": ""}
        if not ok.any():
            rec["note"] = "no predictable rows"
            out.append(rec)
            continue
        d = df[ok].reset_index(drop=True)
        _check_by(d, by, f"dataset {name!r}")
        groups = [g.reset_index(drop=True) for _, g in d.groupby(by, sort=True)] if by else [d]
        start, fitted, r2, tr, te, free, splits = [], [], [], [], [], set(), set()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FitWarning)
            for g in groups:
                p0 = predict(g, host, batching=fit_options.get("batching"))
                start.append(float(np.median(np.abs(p0["rel_error"]))) * 100)
                try:
                    f = fit(g, host, **fit_options)
                except FitError as exc:  # e.g. only exits_per_io rows: no cost to fit
                    rec["note"] = str(exc)
                    fitted.append(start[-1])
                    continue
                fitted.append(f.mape)
                r2.append(f.r2)
                free.update(f.free)
                if len(g) >= 4:
                    mask, split = split_low_load(g)
                    splits.add(split)
                    try:
                        cv = crossval(g, host, train=mask, **fit_options)
                    except FitError as exc:
                        rec["note"] = str(exc)
                    else:
                        tr.append(cv.attrs["train_mape"])
                        te.append(cv.attrs["test_mape"])
        rec.update({"groups": len(groups), "free": ", ".join(sorted(free)),
                    "start_mdape": float(np.median(start)), "fit_mdape": float(np.median(fitted)),
                    "r2": float(np.median(r2)) if r2 else math.nan, "split": "; ".join(sorted(splits)),
                    "cv_train_mdape": float(np.median(tr)) if tr else math.nan,
                    "cv_test_mdape": float(np.median(te)) if te else math.nan})
        if not tr and not rec["note"]:
            rec["note"] = "fewer than 4 rows: no cross-validation"
        out.append(rec)
    return pd.DataFrame(out)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m iovmodel.fit [--catalog F] [none|hardware|source ...]``."""
    import argparse

    from ..errors import IovModelError

    ap = argparse.ArgumentParser(prog="python -m iovmodel.fit",
                                 description="fit every bundled dataset and report the errors")
    ap.add_argument("--catalog", help="a user catalog TOML loaded first (e.g. proposed paths)")
    ap.add_argument("groupings", nargs="*", metavar="BY",
                    help="'none' (one joint fit) or a column to fit by (default: none hardware)")
    args = ap.parse_args(list(sys.argv[1:] if argv is None else argv))
    pd.set_option("display.width", 200)
    pd.set_option("display.max_colwidth", 60)
    try:
        _main(args)
    except IovModelError as exc:
        print(f"{ap.prog}: error: {exc}", file=sys.stderr)
        return 2
    return 0


def _main(args: Any) -> None:
    if args.catalog:  # a user catalog first (e.g. proposed path changes)
        from ..spec.catalog import load_catalog

        names = load_catalog(args.catalog, replace_existing=True)
        print(f"user catalog {args.catalog}: {', '.join(names)}")
    groupings = [None if a == "none" else a for a in args.groupings] or [None, "hardware"]
    for by_, batching_ in [(b, m) for b in groupings for m in ("amortised", "load")]:
        table = dataset_report(by=by_, batching=batching_)
        print(f"\n== every bundled dataset, {'one joint fit' if by_ is None else 'fitted by ' + by_}"
              f", batching={batching_!r}")
        print(table.drop(columns=["free", "note"]).to_string(index=False, float_format="%.1f"))
        for _, r in table.iterrows():
            print(f"  {r['dataset']}: free {r['free'] or '-'}{'; ' + r['note'] if r['note'] else ''}")


if __name__ == "__main__":
    raise SystemExit(main())
