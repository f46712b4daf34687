"""Figure: mode switches per I/O of every catalog path (the exits that make emulation slow)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _common as C  # noqa: E402

REQUIRES: tuple[str, ...] = ()


def main(out: Path, fast: bool = False) -> dict:
    cat = C.iov.paths()
    with C.plot.style("single", height_in=3.0):
        ax = C.plot.mode_switches(list(cat["name"]))
        C.save_figure(ax.figure, out, "fig_mode_switches")
    sw = cat.set_index("name")[["vm_exits", "user_exits", "syscalls", "wakeups", "injections"]]
    total = sw.sum(axis=1)
    numbers = {f"{C.key(n)}_{c}": float(v) for n, row in sw.iterrows() for c, v in row.items()}
    numbers.update({f"{C.key(n)}_total": float(v) for n, v in total.items()})
    numbers["ide_over_virtio_blk_exits"] = float(sw.loc["emulated-ide", "vm_exits"]
                                                 / sw.loc["virtio-blk", "vm_exits"])
    C.write_numbers(out, "fig_mode_switches", numbers)
    return numbers


if __name__ == "__main__":
    C.cli(main, __doc__)
