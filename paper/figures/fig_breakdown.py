"""Figure: where the time of one block I/O goes, hop by hop, alone and with 32 in flight."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _common as C  # noqa: E402

REQUIRES: tuple[str, ...] = ()


def main(out: Path, fast: bool = False) -> dict:
    h = C.host()
    alone = C.iov.Workload.closed(jobs=1, iodepth=1)
    loaded = C.iov.Workload.closed(jobs=4, iodepth=8)
    r1 = [C.iov.analyze(p, h, alone) for p in C.BLK]
    r32 = [C.iov.analyze(p, h, loaded) for p in C.BLK]
    with C.plot.style("double", height_in=2.6):
        fig, (a, b) = C.plot.figure("double", ncols=2, height_in=2.6, sharey=True)
        C.plot.breakdown(r1, ax=a)
        C.plot.breakdown(r32, ax=b)
        a.set_title("(a) one request in flight")
        b.set_title("(b) 32 in flight (4 jobs × iodepth 8)")
        a.get_legend().remove()
        C.save_figure(fig, out, "fig_breakdown")
    numbers = {}
    for r in r1:
        numbers[f"{C.key(r.path)}_qd1_latency_us"] = r.latency_us
    for r in r32:
        k = C.key(r.path)
        numbers[f"{k}_qd32_latency_us"] = r.latency_us
        numbers[f"{k}_qd32_wait_us"] = float(r.breakdown["wait_us"].sum())
        numbers[f"{k}_qd32_bottleneck"] = r.bottleneck
    C.write_numbers(out, "fig_breakdown", numbers)
    return numbers


if __name__ == "__main__":
    C.cli(main, __doc__)
