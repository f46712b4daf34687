"""Figure: block throughput against requests in flight, with each path's saturation bound."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _common as C  # noqa: E402

REQUIRES: tuple[str, ...] = ()


def main(out: Path, fast: bool = False) -> dict:
    h = C.host()
    values = [1, 4, 16, 64] if fast else [1, 2, 4, 8, 16, 32, 64, 128, 256]
    frames = [C.iov.sweep(p, h, C.iov.Workload.closed(1, 1), iodepth=values) for p in C.BLK]
    df = C.pd.concat(frames, ignore_index=True)
    with C.plot.style("single"):
        ax = C.plot.throughput_vs_load(df, knob="iodepth")
        C.save_figure(ax.figure, out, "fig_throughput")
    numbers = {}
    for name, d in df.groupby("path", sort=False):
        k = C.key(name)
        sat = float(d["saturation_per_s"].iloc[0])
        numbers[f"{k}_sat_kiops"] = sat / 1e3
        numbers[f"{k}_bottleneck"] = str(d["bottleneck"].iloc[0])
        numbers[f"{k}_qd1_kiops"] = float(d["throughput_per_s"].iloc[0]) / 1e3
        # the smallest iodepth that reaches 90 % of the bound: the "knee"
        knee = d[d["throughput_per_s"] >= 0.9 * sat]["iodepth"]
        numbers[f"{k}_knee_iodepth"] = int(knee.min()) if len(knee) else None
    numbers["iothread_over_virtio_blk"] = (numbers["virtio_blk_iothread_sat_kiops"]
                                           / numbers["virtio_blk_sat_kiops"])
    numbers["vhost_scsi_over_virtio_blk"] = (numbers["vhost_scsi_sat_kiops"]
                                             / numbers["virtio_blk_sat_kiops"])
    C.write_numbers(out, "fig_throughput", numbers)
    return numbers


if __name__ == "__main__":
    C.cli(main, __doc__)
