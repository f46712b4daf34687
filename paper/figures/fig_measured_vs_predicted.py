"""Figure: predicted against measured for the bundled datasets, default vs calibrated costs."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _common as C  # noqa: E402

REQUIRES: tuple[str, ...] = ("iovmodel.datasets", "iovmodel.fit")


def main(out: Path, fast: bool = False) -> dict:
    cmp = C.dataset_comparison(fast)
    if cmp["summary"].empty:
        raise RuntimeError("no bundled dataset has enough predictable rows")
    with C.plot.style("double", height_in=4.2):
        fig, axes = C.plot.figure("double", nrows=2, ncols=2, height_in=4.2,
                                  gridspec_kw={"height_ratios": [3, 1]})
        for col, (which, title) in enumerate([("default", "(a) default costs"),
                                              ("fitted", "(b) calibrated per dataset")]):
            res = cmp[which].dropna(subset=["predicted"])
            res = res.assign(path=res["dataset"])  # colour by dataset (one lab each)
            ax = C.plot.measured_vs_predicted(res, ax=axes[0, col], residual_ax=axes[1, col],
                                              band=0.25)
            ax.set_title(title)
            axes[1, col].set_yscale("symlog", linthresh=100)
            leg = ax.get_legend()
            if col == 0:  # one legend for both panels, below them
                fig.legend(handles=leg.legend_handles, labels=[t.get_text() for t in
                                                                 leg.get_texts()],
                           loc="outside lower center", ncol=5, fontsize=5.5)
            leg.remove()
        C.save_figure(fig, out, "fig_measured_vs_predicted")
    numbers = {"points": int(cmp["fitted"]["predicted"].notna().sum())}
    C.write_numbers(out, "fig_measured_vs_predicted", numbers)
    return numbers


if __name__ == "__main__":
    C.cli(main, __doc__)
