"""Hardware threads sharing a core (``Scenario.threads_per_core``, issue 12).

Reference values are closed forms of the mechanism in
:mod:`iovmodel.solve.consolidation` (module docstring, "Hardware threads sharing a core"):
a physical core with all its k hardware threads busy delivers 1 + y times one thread's
throughput (Marr et al., "Hyper-Threading Technology Architecture and Microarchitecture",
Intel Technology Journal 6(1), 2002: y up to 0.3), and the scheduler gives a busy thread an
idle physical core while there is one.
"""

from __future__ import annotations

import math

import pytest

import iovmodel as iov
from iovmodel.errors import ParameterError

C_US = 10.0  # CPU work per request on the VM's vCPU (µs)


def cpu_bound(vms: int, cores: int, threads_per_core: int, contention: bool = True,
              y: float = 0.3) -> float:
    """Aggregate I/O per s of ``vms`` VMs whose whole request is C_US of vCPU work."""
    p = iov.Path.from_hops("cpu-bound", [iov.Hop("guest", resource="vcpu", cost=C_US)])
    host = iov.HostProfile.default().replace(smt_yield_ratio=y)
    g = iov.Guest(p, iov.Workload.closed(1, 1), count=vms, vcpus=1)
    sc = iov.Scenario([g], host=host, cores=cores, threads_per_core=threads_per_core,
                      contention=contention)
    return iov.analyze(sc).throughput_per_s


@pytest.mark.parametrize("vms", [1, 3, 4])
def test_no_slowdown_while_the_busy_threads_fit_the_physical_cores(vms):
    # 4 physical cores of 2 threads: up to 4 always-busy vCPUs each get a core of their own
    assert math.isclose(cpu_bound(vms, 8, 2), vms / C_US * 1e6, rel_tol=1e-6)
    assert math.isclose(cpu_bound(vms, 8, 2), cpu_bound(vms, 8, 1), rel_tol=1e-9)


@pytest.mark.parametrize("vms,y", [(5, 0.3), (6, 0.3), (8, 0.3), (6, 0.2), (8, 0.0)])
def test_siblings_deliver_one_plus_yield_per_core(vms, y):
    # N always-busy threads on P = 4 cores (N <= 2P hardware threads): P cores run one
    # thread's worth each and the N - P doubled-up cores add y each:
    # X = (P + y (N - P)) / c
    expect = (4 + y * (vms - 4)) / C_US * 1e6
    assert math.isclose(cpu_bound(vms, 8, 2, y=y), expect, rel_tol=1e-3)


def test_one_thread_per_core_and_plain_queueing_are_unchanged():
    assert math.isclose(cpu_bound(8, 8, 1), 8 / C_US * 1e6, rel_tol=1e-6)
    assert math.isclose(cpu_bound(8, 8, 2, contention=False), 8 / C_US * 1e6, rel_tol=1e-6)


def test_more_busy_threads_never_deliver_less_while_hardware_threads_are_free():
    x = [cpu_bound(n, 16, 2) for n in range(1, 17)]
    assert all(b >= a * (1 - 1e-9) for a, b in zip(x, x[1:], strict=False))


@pytest.mark.parametrize("kw,needle", [({"cores": 7, "threads_per_core": 2}, "7"),
                                       ({"cores": 8, "threads_per_core": 0}, "threads_per_core"),
                                       ({"cores": 8, "threads_per_core": 1.5}, "1.5")])
def test_bad_threads_per_core_raise_naming_the_value(kw, needle):
    g = iov.Guest("virtio-blk", iov.Workload.closed(1, 1))
    with pytest.raises(ParameterError, match=needle):
        iov.Scenario([g], **kw)


def test_a_yield_beyond_the_threads_per_core_raises_naming_the_value():
    with pytest.raises(ParameterError, match="1.5"):
        cpu_bound(6, 8, 2, y=1.5)
