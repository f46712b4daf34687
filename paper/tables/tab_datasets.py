"""Table: model against measurement, per bundled dataset (default and calibrated costs)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _common as C  # noqa: E402
import numpy as np  # noqa: E402

REQUIRES: tuple[str, ...] = ("iovmodel.datasets", "iovmodel.fit")


def _pct(v: float) -> str:
    return "–" if v != v else f"{100 * v:.0f}"


def main(out: Path, fast: bool = False) -> dict:
    cmp = C.dataset_comparison(fast)
    s = cmp["summary"]
    if s.empty:
        raise RuntimeError("no bundled dataset has enough predictable rows: "
                           + "; ".join(f"{k}: {v}" for k, v in cmp["skipped"].items()))
    df = C.pd.DataFrame({
        "dataset": s["dataset"], "rows": [f"{a}/{b}" for a, b in zip(s["rows"], s["of"],
                                                                      strict=True)],
        "paths": s["paths"], "metrics": s["metrics"],
        "default |err| %": s["default_err"], "fitted |err| %": s["fitted_err"],
        "held-out |err| %": s["heldout_err"], "in 95 % band %": s["heldout_in_band"],
        "free costs": s["free"],
    })
    C.write_table(df, out, "tab_datasets",
                  "Model against measurement for each bundled dataset: rows the model can "
                  "predict (of all rows), median absolute relative error with the default "
                  "costs, after calibrating the dataset's own costs (in-sample), and on "
                  "held-out rows (fit on two rows in three, predict the third), with the "
                  "share of the held-out rows inside the 95 % prediction band of the fit "
                  "that left them out.",
                  formats={"default |err| %": _pct, "fitted |err| %": _pct,
                           "held-out |err| %": _pct, "in 95 % band %": _pct},
                  align="lrllrrrrr")
    d, f = cmp["default"], cmp["fitted"]
    cv = s["heldout_err"].dropna()
    biggest = s.loc[s["rows"].idxmax()]
    numbers = {
        "datasets": len(s), "skipped": len(cmp["skipped"]),
        "rows": int(s["rows"].sum()), "rows_total": int(s["of"].sum()),
        # each dataset weighs the same (one lab, one machine): medians of per-dataset medians
        "default_err_pct": 100 * float(s["default_err"].median()),
        "fitted_err_pct": 100 * float(s["fitted_err"].median()),
        "heldout_err_pct": 100 * float(cv.median()) if len(cv) else None,
        "heldout_datasets": len(cv),
        # pooled over the held-out rows: how often the 95 % bands held rows their fit never saw
        "heldout_band_pct": (100 * float(np.nansum(s["heldout_in_band"] * s["heldout_n"])
                                         / s["heldout_n"].sum()) if s["heldout_n"].sum()
                             else None),
        "heldout_band_rows": int(s["heldout_n"].sum()),
        # pooled over rows: dominated by the largest datasets
        "pooled_default_err_pct": 100 * float(d["rel_error"].abs().median()),
        "pooled_fitted_err_pct": 100 * float(f["rel_error"].abs().median()),
        "biggest_dataset": str(biggest["dataset"]),
        "biggest_share_pct": 100 * float(biggest["rows"] / s["rows"].sum()),
        "within_25_default": int((d["rel_error"].abs() <= 0.25).sum()),
        "within_25_fitted": int((f["rel_error"].abs() <= 0.25).sum()),
        "worst_dataset": str(s.loc[s["fitted_err"].idxmax(), "dataset"]),
        "worst_fitted_err_pct": 100 * float(s["fitted_err"].max()),
        "best_dataset": str(s.loc[s["fitted_err"].idxmin(), "dataset"]),
        "best_fitted_err_pct": 100 * float(s["fitted_err"].min()),
        "no_prediction": int(s["no_prediction"].sum()),
        "not_identifiable": int(s["not_identifiable"].sum()),
        "free": int(s["free"].sum()),
    }
    C.write_numbers(out, "tab_datasets", numbers)
    return numbers


if __name__ == "__main__":
    C.cli(main, __doc__)
