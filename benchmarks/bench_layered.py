"""Finite vCPUs, host cores and multiclass MVA: accuracy against the simulator, speed against
line-solver, and the interactive sweep (issue "Finite CPUs, threads and queues").

    .venv/bin/python benchmarks/bench_layered.py [--quick]

Prints (1) analyze's throughput and latency against the simulator's 95 % interval over a grid
of paths x (jobs, iodepth) x host cores with 4 vCPUs; (2) exact multiclass MVA's time at the
size of a layered sweep's exact upper layer, and against line-solver's pfqn_mva on the same
network (ratio of times, same process); (3) the time of a 64-point sweep of a path with
4 vCPUs, 4 queues and host cores (goal: < 10 ms), and what starting each point's layers from
the previous point's saves there; (4) the explorer's load
curve on the paths whose batch follows the load, each point its own fixed point, beside
virtio-blk's (the callback's budget: 100 ms).
"""

from __future__ import annotations

import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from _timing import best_of  # noqa: E402

import iovmodel as iov  # noqa: E402
from iovmodel.solve.analytic.multiclass import mva_multiclass  # noqa: E402


def accuracy(quick: bool) -> None:
    h = iov.HostProfile.default().replace(device_blk_us=10.0)
    grid = [("virtio-blk-iothread", {"iothreads": 4}), ("vhost-scsi", {"workers": 4}),
            ("virtio-blk", {})]
    loads = [(1, 8), (3, 4), (8, 2)] if quick else [(1, 8), (2, 4), (3, 4), (8, 2), (12, 1)]
    cores = [math.inf, 4, 2]
    print(f"load average {open('/proc/loadavg').read().split()[0]}")
    print(f"{'path':<22}{'jobs x qd':>10}{'cores':>7}{'analyze X':>12}{'sim X':>12}"
          f"{'err X':>8}{'analyze R':>11}{'sim R':>9}{'err R':>8}")
    errs = []
    for name, opt in grid:
        for jobs, qd in loads:
            for c in cores:
                o = {**opt, "vcpus": 4, "cores": c}
                w = iov.Workload.closed(jobs, qd)
                a = iov.analyze(name, h, w, **o)
                s = iov.simulate(name, h, w, requests=20_000 if quick else 60_000,
                                 replications=4, seed=7, progress=False, **o)
                ex = a.throughput_per_s / s.throughput_per_s - 1
                er = a.latency_us / s.latency_us - 1
                errs.append(abs(ex))
                print(f"{name:<22}{f'{jobs}x{qd}':>10}{c:>7g}{a.throughput_per_s:>12,.0f}"
                      f"{s.throughput_per_s:>12,.0f}{ex:>8.1%}{a.latency_us:>11.1f}"
                      f"{s.latency_us:>9.1f}{er:>8.1%}")
    print(f"|throughput error|: median {np.median(errs):.1%}, max {max(errs):.1%} "
          f"over {len(errs)} points")


def speed() -> None:
    rng = np.random.default_rng(1)
    # the size of a layered sweep's exact upper layer (4 vCPU groups, jobs 5 x iodepth 4:
    # 9 x 5^3 = 1,125 population vectors), a 4-server station among 10
    D4 = np.random.default_rng(0).uniform(0.1, 3.0, size=(4, 10))
    m4 = [1, 1, 1, 1, math.inf, 4, math.inf, math.inf, 1, math.inf]
    t4 = best_of(lambda: mva_multiclass(D4, [8, 4, 4, 4], servers=m4, method="exact"), 20)
    print(f"exact multiclass MVA, 4 classes (8, 4, 4, 4), 10 stations one of 4 servers: "
          f"{t4 * 1e6:.0f} us")
    D = rng.uniform(0.1, 2.0, size=(3, 5))
    N = [6, 6, 6]
    t_ours = best_of(lambda: mva_multiclass(D, N, method="exact"), 20)
    try:
        from line_solver.api.pfqn import pfqn_mva
    except ImportError:
        print(f"exact multiclass MVA, 3 classes x 6, 5 stations: {t_ours * 1e3:.2f} ms "
              "(line-solver not installed, pip install line-solver: no speed ratio)")
        return
    X = mva_multiclass(D, N, method="exact").X
    Xl = np.asarray(pfqn_mva(D.T.copy(), np.array(N, dtype=float), np.zeros(3))[0]).ravel()
    t_line = best_of(lambda: pfqn_mva(D.T.copy(), np.array(N, dtype=float), np.zeros(3)), 3)
    print(f"exact multiclass MVA, 3 classes x 6, 5 stations: iovmodel {t_ours * 1e3:.2f} ms, "
          f"line-solver pfqn_mva {t_line * 1e3:.1f} ms: {t_line / t_ours:,.0f}x "
          f"(max |dX|/X {np.max(np.abs(X - Xl) / Xl):.1e})")


def _best_cpu(fn, repeat: int) -> float:
    """Best process CPU time of ``repeat`` calls, seconds (less inflated than wall time
    when other work shares the cores: waiting for a core is not counted)."""
    best = math.inf
    for _ in range(repeat):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return best


def sweep_time() -> None:
    """The 64-point sweep at three host-core counts, best of 15 (wall and process CPU), and
    at 4 cores the same sweep with each point's layers started cold (from no stretch, as
    analyze does), in the same process: the ratio is what the warm start saves."""
    from iovmodel.solve import analyze as A

    h = iov.HostProfile.default()
    w = iov.Workload.closed(1, 4)
    kw = dict(jobs=list(range(1, 65)), iothreads=[4], vcpus=[4], queues=[4])
    print(f"load average {open('/proc/loadavg').read().split()[0]}")
    for cores in (math.inf, 8, 4):
        iov.sweep("virtio-blk-iothread", h, w, cores=[cores], **kw)  # compiles on first use
        t = best_of(lambda c=cores: iov.sweep("virtio-blk-iothread", h, w, cores=[c], **kw), 15)
        c = _best_cpu(lambda c=cores: iov.sweep("virtio-blk-iothread", h, w, cores=[c], **kw), 15)
        print(f"64-point sweep, 4 vCPUs, 4 queues, cores={cores:g}: {t * 1e3:.1f} ms "
              f"(CPU {c * 1e3:.1f} ms)")
    xru = A.solve_closed_layered_xru
    A.solve_closed_layered_xru = lambda pn, f0=None: xru(pn, None)
    try:
        cold = _best_cpu(lambda: iov.sweep("virtio-blk-iothread", h, w, cores=[4], **kw), 15)
    finally:
        A.solve_closed_layered_xru = xru
    print(f"  the same sweep at cores=4 with every point's layers started cold: CPU "
          f"{cold * 1e3:.1f} ms ({cold / c:.2f}x the warm-started sweep)")


def explorer_curves() -> None:
    """The explorer's load curve (its ``_curve``: 40 populations closed, 37 rates open),
    best of 5, for paths whose batch follows the load (``Path.batching == "load"``: each
    point its own fixed point) beside virtio-blk's, whose points share one MVA pass, in the
    same process; the explorer's callback budget is 100 ms."""
    from iovmodel.widgets.app import _curve

    h = iov.HostProfile.default()
    for name in ("virtio-blk", "firecracker-virtio-blk", "cloudhv-virtio-blk"):
        p = iov.path(name)
        out = []
        for w in (iov.Workload.closed(1, 32), iov.Workload.open(20_000.0)):
            _curve(p, h, w)
            out.append(best_of(lambda p=p, w=w: _curve(p, h, w), 5))
        print(f"explorer curve {name} ({p.batching}): closed {out[0] * 1e3:.1f} ms, "
              f"open {out[1] * 1e3:.1f} ms")


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    speed()
    sweep_time()
    explorer_curves()
    accuracy(quick)
