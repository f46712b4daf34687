"""Figure: mean network latency against offered load (open workload, M/G/c per station)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _common as C  # noqa: E402

REQUIRES: tuple[str, ...] = ()


def main(out: Path, fast: bool = False) -> dict:
    h = C.host()
    with C.plot.style("single"):
        df = C.open_load_sweep(C.NET, h, points=8 if fast else 40)
        ax = C.plot.latency_vs_load(df, logy=True)
        C.save_figure(ax.figure, out, "fig_latency_load")
    numbers = {}
    for p in C.NET:
        r0 = C.iov.analyze(p, h, C.iov.Workload.closed(1, 1))
        k = C.key(p)
        numbers[f"{k}_zero_load_us"] = r0.zero_load_latency_us
        numbers[f"{k}_bottleneck"] = r0.bottleneck
        if C.math.isfinite(r0.saturation_per_s):  # a path of delay stations never saturates
            numbers[f"{k}_sat_kiops"] = r0.saturation_per_s / 1e3
            r = C.iov.analyze(p, h, C.iov.Workload.open(0.8 * r0.saturation_per_s))
            numbers[f"{k}_at80_latency_us"] = r.latency_us
    C.write_numbers(out, "fig_latency_load", numbers)
    return numbers


if __name__ == "__main__":
    C.cli(main, __doc__)
