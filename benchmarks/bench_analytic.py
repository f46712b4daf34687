"""Analytic speed: a 64-point iov.sweep of catalog paths, then exact MVA against LINE.

Run: ``.venv/bin/python benchmarks/bench_analytic.py`` (``make bench``).

Part 1 times ``iov.sweep`` over 64 points (jobs 1..64 and iodepth 1..64 by one MVA pass;
64 open rates by one vectorised solution) against the plain loop of 64 ``iov.analyze``
calls in the same process, and against the issue's goal of 5 ms.  Part 2 is
``bench_mva.py``: exact MVA for N = 1..64 (think 1.0, demands 0.2 and 0.1) against
line-solver in the same process, printed as ratios.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

import iovmodel as iov

HERE = Path(__file__).resolve().parent


def median_time(fn, repeat: int = 30) -> float:
    fn()  # warm-up (numba cache load, sympy-free)
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def main() -> int:
    host = iov.HostProfile.default()
    print("Part 1: 64-point sweeps (median of 30 runs, after a warm-up)\n")
    print(f"{'path':<22}{'knob':<12}{'sweep ms':>10}{'analyze loop ms':>17}{'ratio':>8}{'< 5 ms':>8}")
    cases = []
    for name in ("virtio-blk", "vhost-scsi", "emulated-e1000"):
        sat = iov.analyze(name, host, iov.Workload.open(1.0, size_bytes=64)).saturation_per_s
        rates = list(np.linspace(0.01, 0.95, 64) * sat)
        cases += [(name, "jobs", list(range(1, 65))), (name, "iodepth", list(range(1, 65))),
                  (name, "rate_per_s", rates)]
    for name, knob, vals in cases:
        t_sweep = median_time(lambda name=name, knob=knob, vals=vals: iov.sweep(name, host, **{knob: vals}))

        def loop(name=name, knob=knob, vals=vals):
            for v in vals:
                w = (iov.Workload.open(v) if knob == "rate_per_s"
                     else iov.Workload.closed(**{"jobs": 1, "iodepth": 1, knob: v}))
                iov.analyze(name, host, w)

        t_loop = median_time(loop, repeat=5)
        ok = "yes" if t_sweep < 5e-3 else "NO"
        print(f"{name:<22}{knob:<12}{t_sweep * 1e3:>10.2f}{t_loop * 1e3:>17.1f}"
              f"{t_loop / t_sweep:>7.0f}x{ok:>8}")
    print("\nPart 2: exact MVA vs line-solver (benchmarks/bench_mva.py)\n")
    sys.path.insert(0, str(HERE))
    import bench_mva

    return int(bench_mva.main([]) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
