"""Table: every catalog path alone and at saturation (exits, latency, bound, CPU)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _common as C  # noqa: E402

REQUIRES: tuple[str, ...] = ()


def main(out: Path, fast: bool = False) -> dict:
    h = C.host()
    cmp = C.iov.compare(list(C.iov.paths()["name"]), h, C.iov.Workload.closed(1, 1))
    df = C.pd.DataFrame({
        "path": cmp["path"],
        "exits/IO": cmp["vm_exits"] + cmp["user_exits"],
        "switches/IO": cmp[["vm_exits", "user_exits", "syscalls", "wakeups",
                            "injections"]].sum(axis=1),
        "latency QD1 (µs)": cmp["latency_us"],
        "bound (kIO/s)": cmp["saturation_per_s"] / 1e3,
        "bottleneck": cmp["bottleneck"],
        "host CPU (µs/IO)": cmp["cpu_us_per_io"],
    })
    C.write_table(df, out, "tab_paths",
                  "Each path with one request in flight (exact MVA, default costs): VM exits "
                  "(to KVM and on to userspace) and all mode switches per I/O, mean latency, "
                  "the throughput bound of its bottleneck, and host CPU per I/O.",
                  formats={"exits/IO": ".3g", "switches/IO": ".3g", "latency QD1 (µs)": ".1f",
                           "bound (kIO/s)": lambda v: "∞" if v == float("inf") else f"{v:.0f}",
                           "host CPU (µs/IO)": ".1f"})
    numbers = {}
    for _, r in df.iterrows():
        k = C.key(r["path"])
        numbers[f"{k}_latency_us"] = float(r["latency QD1 (µs)"])
        numbers[f"{k}_cpu_us"] = float(r["host CPU (µs/IO)"])
        numbers[f"{k}_exits"] = float(r["exits/IO"])
    numbers["paths"] = len(df)
    C.write_numbers(out, "tab_paths", numbers)
    return numbers


if __name__ == "__main__":
    C.cli(main, __doc__)
