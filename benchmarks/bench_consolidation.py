"""Many VMs on one host (issue 12): how fast a Scenario solves, and the approximation
against line-solver's.

Prints (1) the time of a 16-VM scenario (goal < 50 ms, so the consolidation widget stays
live); (2) the time of an ``iov.sweep(scenario, vms=range(1, 65))`` for three paths (goal
< 1 s each); (3) iovmodel's Bard-Schweitzer over VM kinds against line-solver's
``pfqn_bs`` (Bard-Schweitzer over every VM as a class) on the same network: throughput
difference and the ratio of times (goal >= 10x); (4) the exact scenario against
line-solver's exact ``pfqn_mva`` on a 3-VM network.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_consolidation.py

Times are best-of-N wall times in one process on a shared machine: ratios measured in the
same run are what to read.
"""

from __future__ import annotations

import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _timing import best_of  # noqa: E402

import iovmodel as iov  # noqa: E402
from iovmodel.solve.consolidation import solve  # noqa: E402

#: a product-form toy VM: own vCPU and mutex, a shared back-end thread, a delay
HOPS = [iov.Hop("guest", resource="vcpu", cost=5.0),
        iov.Hop("vmm under the mutex", resource="bql", cost=8.0),
        iov.Hop("shared back-end", resource="backend_thread", cost=2.0),
        iov.Hop("host + wire", resource="host", cost=20.0)]


def scenarios() -> dict[str, iov.Scenario]:
    return {
        "virtio-blk, 4 vCPUs, 4x8 in flight, 32 cores": iov.Scenario(
            [iov.Guest("virtio-blk", iov.Workload.closed(4, 8), count=16, vcpus=4)], cores=32),
        "vhost-user-blk, 1 shared polling core, 32 cores": iov.Scenario(
            [iov.Guest("vhost-user-blk", iov.Workload.closed(1, 32), count=16, vcpus=2)],
            cores=32, shared={"backend": 1}),
        "vhost-scsi, 2 vCPUs, 2x4 in flight, 16 cores": iov.Scenario(
            [iov.Guest("vhost-scsi", iov.Workload.closed(2, 4), count=16, vcpus=2)], cores=16),
    }


def speed() -> None:
    for name, sc in scenarios().items():
        iov.analyze(sc)
        t = best_of(lambda s=sc: iov.analyze(s), 5)
        r = iov.analyze(sc)
        print(f"16 VMs, {name}: {t * 1e3:6.1f} ms ({r.method}; {r.throughput_per_s:,.0f} IO/s, "
              f"bottleneck {r.bottleneck})")
    for name, sc in scenarios().items():
        t = best_of(lambda s=sc: iov.sweep(s, vms=range(1, 65)), 2)
        print(f"sweep vms=1..64, {name}: {t * 1e3:6.0f} ms")


def toy(vms: int, iodepth: int) -> iov.Scenario:
    p = iov.Path.from_hops("toy", HOPS, servers={"backend_thread": 1})
    return iov.Scenario([iov.Guest(p, iov.Workload.closed(1, iodepth), count=vms, vcpus=1)],
                        shared={"backend_thread": 1}, contention=False)


def expanded(sc: iov.Scenario) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The scenario with one class per VM, as line-solver takes it: L (M x R), N, Z."""
    g = sc.guests[0]
    n, N = g.count, g.workload.population
    # stations: vcpu_i, bql_i for each VM, the shared back-end; the delay as think time
    L = np.zeros((2 * n + 1, n))
    for i in range(n):
        L[2 * i, i] = 5.0
        L[2 * i + 1, i] = 8.0
        L[2 * n, i] = 2.0
    return L, np.full(n, float(N)), np.full(n, 20.0)


def versus_line_solver() -> None:
    try:
        from line_solver.api.pfqn import pfqn_bs, pfqn_mva
    except ImportError:
        print("line-solver not installed (pip install line-solver, in the dev extra): no ratio")
        return
    for vms, depth in ((16, 8), (64, 8)):
        sc = toy(vms, depth)
        X = solve(sc, "schweitzer")["X"][0] * vms
        t_ours = best_of(lambda s=sc: solve(s, "schweitzer"), 20)
        L, N, Z = expanded(sc)
        Xl = float(np.sum(pfqn_bs(L, N, Z, tol=1e-10, maxiter=100_000)[0]))
        t_line = best_of(lambda L=L, N=N, Z=Z: pfqn_bs(L, N, Z, tol=1e-10, maxiter=100_000), 3)
        print(f"Bard-Schweitzer, {vms} VMs x {depth} in flight ({2 * vms + 1} stations): "
              f"iovmodel {t_ours * 1e3:.2f} ms, line-solver pfqn_bs {t_line * 1e3:.1f} ms: "
              f"{t_line / t_ours:,.0f}x; |dX|/X {abs(X - Xl) / Xl:.1e}")
    sc = toy(3, 4)
    X = solve(sc, "exact")["X"][0] * 3
    t_ours = best_of(lambda: solve(sc, "exact"), 20)
    L, N, Z = expanded(sc)
    Xl = float(np.sum(pfqn_mva(L, N, Z)[0]))
    t_line = best_of(lambda: pfqn_mva(L, N, Z), 3)
    print(f"exact MVA, 3 VMs x 4 in flight: iovmodel {t_ours * 1e3:.2f} ms, line-solver "
          f"pfqn_mva {t_line * 1e3:.1f} ms: {t_line / t_ours:,.0f}x; |dX|/X "
          f"{abs(X - Xl) / Xl:.1e}")


if __name__ == "__main__":
    print(f"load average {os.getloadavg()[0]:.1f}; {math.inf:g} cores means a core per thread")
    speed()
    versus_line_solver()
