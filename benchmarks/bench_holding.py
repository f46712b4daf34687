"""A vCPU held while QEMU emulates its exits: the layers (iovmodel.solve.holding) against the
simulator, which holds the vCPU itself, and what the layers cost a sweep.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_holding.py

Prints, for 30 closed points -- emulated-ahci (1 and 4 vCPUs), emulated-e1000 (mitigation
off; 2 vCPUs), emulated-nvme (no shadow doorbells), each with the main loop's
``bql_emulate_us`` at 1x and 4x the default, at 1x2, 1x8 and 4x8 (jobs x iodepth) -- the
analytic throughput and latency against the simulator's (20,000 requests x 4 replications),
their relative errors and the named bottleneck; then the largest and the median error; then
the time of a 64-point iodepth sweep of emulated-ahci and emulated-e1000 through
``iov.sweep`` (the layers at every point, each starting where the previous points'
stretches point: :func:`iovmodel.solve.holding.next_start`) against the same sweep of
virtio-blk (nothing held), best of five, in this process.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import iovmodel as iov  # noqa: E402
from iovmodel.solve.sim import simulate_network  # noqa: E402

CASES = [("emulated-ahci", {}), ("emulated-e1000", {"mitigation": False}),
         ("emulated-nvme", {"shadow_doorbell": False}), ("emulated-ahci", {"vcpus": 4}),
         ("emulated-e1000", {"vcpus": 2})]
LOADS = [(1, 2), (1, 8), (4, 8)]


def accuracy() -> list[float]:
    h0 = iov.HostProfile.default()
    errs = []
    for name, opts in CASES:
        for bqlx in (1.0, 4.0):
            h = h0.replace(bql_emulate_us=h0["bql_emulate_us"] * bqlx)
            for jobs, iodepth in LOADS:
                w = iov.Workload.closed(jobs, iodepth)
                a = iov.analyze(name, h, w, batching="amortised", **opts)
                net = iov.build(iov.path(name, **opts), h, w)
                s = simulate_network(net, requests=20_000, replications=4, seed=2,
                                     progress=False)
                ex = a.throughput_per_s / s.throughput_per_s - 1
                el = a.latency_us / s.latency_us - 1
                errs.append(ex)
                print(f"{name:14s} {str(opts):27s} bql_emulate x{bqlx:g} {jobs}x{iodepth:<2d} "
                      f"X {a.throughput_per_s:8.0f} vs {s.throughput_per_s:8.0f} ({ex:+.3f})  "
                      f"R {a.latency_us:8.1f} vs {s.latency_us:8.1f} ({el:+.3f})  "
                      f"bottleneck {a.bottleneck}", flush=True)
    e = np.abs(errs)
    print(f"\nthroughput against the simulator over {len(errs)} points: from "
          f"{100 * min(errs):+.1f} % to {100 * max(errs):+.1f} %, median |error| "
          f"{100 * float(np.median(e)):.1f} %")
    return errs


def sweep_speed() -> None:
    depths = list(range(1, 65))
    out = {}
    for name in ("emulated-ahci", "emulated-e1000", "virtio-blk"):
        iov.sweep(name, jobs=[1], iodepth=depths)  # warm-up
        best = min(_timed(lambda n=name: iov.sweep(n, jobs=[1], iodepth=depths)) for _ in range(5))
        out[name] = best
    print(f"64-point iodepth sweep: emulated-ahci (held vCPU) {1e3 * out['emulated-ahci']:.1f} ms, "
          f"emulated-e1000 {1e3 * out['emulated-e1000']:.1f} ms, "
          f"virtio-blk {1e3 * out['virtio-blk']:.1f} ms "
          f"({out['emulated-ahci'] / out['virtio-blk']:.1f}x)")


def _timed(f) -> float:
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


if __name__ == "__main__":
    accuracy()
    sweep_speed()
