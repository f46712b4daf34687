"""Many VMs on one host (iovmodel.solve.consolidation): the three solutions agree, contention
shows where it should and only there, and bad scenarios raise.

References: exact multiclass MVA (Reiser & Lavenberg 1980) is itself checked against
line-solver in tests/analytic/test_multiclass.py; here the scenario's exact solution is
checked against (a) the same network written as one Network with a group per VM, solved
by iovmodel.solve.layered (a separate column construction) and simulated by the numba
simulator (within its 99.9 % interval), and (b) Bard-Schweitzer over VM kinds.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

import iovmodel as iov
from iovmodel.errors import ParameterError
from iovmodel.network import Network, build
from iovmodel.solve.consolidation import analyze_scenario
from iovmodel.solve.layered import solve_closed_layered

# exponential hops, each resource visited once: a product-form network, so exact MVA is
# exact and the simulator must agree with it
HOPS = [
    iov.Hop("guest: submit", resource="vcpu", cost=4.0),
    iov.Hop("vmm: emulate under the mutex", resource="bql", cost=3.0),
    iov.Hop("back-end thread", resource="backend_thread", cost=2.5),
    iov.Hop("device", resource="device", cost=20.0),
    iov.Hop("host stack", resource="host", cost=2.0),
]


def toy(**servers):
    return iov.Path.from_hops("toy", HOPS, servers={"backend_thread": 1, "device": 4, **servers})


def scenario(vms=3, iodepth=2, shared=None, cores=math.inf, contention=False):
    g = iov.Guest(toy(), iov.Workload.closed(1, iodepth), count=vms, vcpus=1)
    return iov.Scenario([g], shared=shared if shared is not None else
                        {"backend_thread": 1, "device": 4}, cores=cores,
                        contention=contention)


def as_group_network(sc):
    """The homogeneous scenario as one Network with a group per VM: the VM's own stations
    private (an instance per group), the shared ones not."""
    g = sc.guests[0]
    net = build(g.path, sc.host, g.workload)
    st = tuple(s if s.is_delay else
               replace(s, servers=sc.shared.get(s.name, s.servers),
                       private=s.name not in sc.shared)
               for s in net.stations)
    pop = g.workload.population
    return Network("groups", st, net.route, population=pop * g.count,
                   groups=tuple([float(pop)] * g.count), cores=sc.cores)


@pytest.mark.parametrize("vms,iodepth", [(2, 1), (3, 2), (4, 3)])
def test_exact_matches_group_network(vms, iodepth):
    sc = scenario(vms, iodepth)
    r = analyze_scenario(sc, method="exact")
    X, R, _, _, _ = solve_closed_layered(as_group_network(sc))
    assert r.method == "exact"
    assert r.throughput_per_s == pytest.approx(X, rel=1e-9)
    assert r.latency_us == pytest.approx(R, rel=1e-9)


def test_exact_with_finite_cores_matches_layers():
    # without contention the core layer is the method of layers of solve/layered.py
    sc = scenario(4, 2, cores=3)
    r = analyze_scenario(sc, method="exact")
    X, R, _, _, _ = solve_closed_layered(as_group_network(sc))
    assert r.throughput_per_s == pytest.approx(X, rel=2e-3)


@pytest.mark.parametrize("slots", [2, 4, 8])
@pytest.mark.parametrize("vms,iodepth", [(2, 2), (3, 1), (4, 2), (6, 1), (10, 1), (3, 4)])
def test_schweitzer_close_to_exact(vms, iodepth, slots):
    # Bard-Schweitzer over VM kinds against exact MVA with one class per VM: within 7 %
    # (the largest error on this grid is 6.4 %, 4 device slots and 6 requests: the
    # approximation is worst just past the servers, as Schweitzer's is at few requests)
    g = iov.Guest(toy(device=slots), iov.Workload.closed(1, iodepth), count=vms, vcpus=1)
    sc = iov.Scenario([g], shared={"backend_thread": 1, "device": slots}, contention=False)
    ex = analyze_scenario(sc, method="exact")
    ap = analyze_scenario(sc, method="schweitzer")
    assert ap.method == "schweitzer"
    assert ap.throughput_per_s == pytest.approx(ex.throughput_per_s, rel=0.07)
    assert ap.latency_us == pytest.approx(ex.latency_us, rel=0.07)


@pytest.mark.parametrize("vms,iodepth", [(3, 2)])
def test_simulator_agrees_within_ci(vms, iodepth):
    from iovmodel.solve.sim import simulate_network

    sc = scenario(vms, iodepth)
    ex = analyze_scenario(sc, method="exact")
    s = simulate_network(as_group_network(sc), requests=60_000, replications=8, seed=12,
                         progress=False)
    for metric, truth in (("latency_us", ex.latency_us),
                          ("throughput_per_s", ex.throughput_per_s)):
        lo, hi = s.interval(metric, 0.999)
        assert lo <= truth <= hi, f"{metric}: MVA {truth:.5g} outside [{lo:.5g}, {hi:.5g}]"


def test_per_vm_and_aggregate_consistent():
    sc = scenario(4, 2)
    r = iov.analyze(sc)
    row = r.per_vm.iloc[0]
    assert r.throughput_per_s == pytest.approx(4 * row["throughput_per_s"])
    # Little's law per VM: N = X R
    assert row["throughput_per_s"] * row["latency_us"] / 1e6 == pytest.approx(2.0)
    assert row["p99_us"] > row["p50_us"] > 0
    assert r.bottleneck in r.utilization
    assert 0 < r.utilization["backend_thread"] <= 1


def test_heterogeneous_guests_share_the_backend():
    a = iov.Guest(toy(), iov.Workload.closed(1, 2), count=2, vcpus=1, name="a")
    b = iov.Guest(toy(), iov.Workload.closed(1, 1), count=3, vcpus=1, name="b")
    sc = iov.Scenario([a, b], shared={"backend_thread": 1, "device": 4}, contention=False)
    ex = analyze_scenario(sc, method="exact")
    ap = analyze_scenario(sc, method="schweitzer")
    assert list(ex.per_vm["guest"]) == ["a", "b"]
    np.testing.assert_allclose(ap.per_vm["throughput_per_s"], ex.per_vm["throughput_per_s"],
                               rtol=0.06)


def test_sweep_vms_plain_queueing_never_falls():
    # product-form MVA: throughput never falls as VMs are added (no contention)
    # (exact up to 8 VMs here, Bard-Schweitzer beyond: the switch may step by its error,
    # well under 1 %)
    df = iov.sweep(scenario(contention=False), vms=[1, 2, 4, 8, 16, 32])
    x = df["throughput_per_s"].to_numpy()
    assert (np.diff(x) >= -0.01 * x[:-1]).all()
    assert x[-1] > 3 * x[0]
    assert list(df["vms_per_guest"]) == [1, 2, 4, 8, 16, 32]


def test_lock_contention_gives_a_peak_and_decline():
    # virtio-blk: each VM's own global mutex, but the host cores are shared; with lock
    # hand-off growing with waiters and threads outnumbering cores, adding VMs past the
    # cores lowers the aggregate
    g = iov.Guest("virtio-blk", iov.Workload.closed(4, 8), count=1, vcpus=4)
    sc = iov.Scenario([g], cores=4, contention=True)
    df = iov.sweep(sc, vms=[1, 2, 4, 8, 16])
    x = df["throughput_per_s"].to_numpy()
    peak = int(np.argmax(x))
    assert 0 < peak < len(x) - 1 and x[-1] < 0.95 * x[peak]
    # same scenario without contention: no decline
    df0 = iov.sweep(sc.replace(contention=False), vms=[1, 2, 4, 8, 16])
    x0 = df0["throughput_per_s"].to_numpy()
    assert (np.diff(x0) >= -1e-3 * x0[:-1]).all()


def test_handoff_grows_with_waiters_at_one_lock():
    # one emulated-e1000 VM, its vCPU threads' register exits emulated under its global
    # mutex: with contention the mutex's hand-off grows with the waiting vCPU threads and
    # throughput peaks, then falls (the probe's mutex experiment shows two contending
    # threads running no faster than one); without, MVA never falls
    def x(jobs, contention):
        g = iov.Guest("emulated-e1000", iov.Workload.closed(jobs, 1), vcpus=jobs)
        return iov.analyze(iov.Scenario([g], contention=contention)).throughput_per_s

    on = [x(j, True) for j in (1, 2, 4, 8, 16, 32)]
    off = [x(j, False) for j in (1, 2, 4, 8, 16, 32)]
    assert on[-1] < 0.8 * max(on) and 0 < int(np.argmax(on)) < len(on) - 1
    assert all(b >= a * (1 - 1e-9) for a, b in zip(off, off[1:], strict=False))


def test_no_lock_contention_where_only_the_main_loop_takes_the_mutex():
    # virtio-blk kicks through ioeventfd: only the main loop takes its mutex, so requests
    # queued there wait for the loop, not for a lock; no hand-off cost, whatever the load
    def x(jobs, contention):
        g = iov.Guest("virtio-blk", iov.Workload.closed(jobs, 1), vcpus=jobs)
        return iov.analyze(iov.Scenario([g], contention=contention)).throughput_per_s

    for j in (1, 8, 32):
        assert x(j, True) == pytest.approx(x(j, False), rel=1e-12)


def test_inflight_limit_is_kept():
    # PIIX3 IDE: one command in flight whatever the jobs; latency by Little's law over all
    g = iov.Guest("emulated-ide", iov.Workload.closed(4, 1), vcpus=4)
    r = iov.analyze(iov.Scenario([g], contention=False))
    one = iov.analyze(iov.Scenario([g.__class__("emulated-ide", iov.Workload.closed(1, 1),
                                                vcpus=4)], contention=False))
    assert r.throughput_per_s == pytest.approx(one.throughput_per_s, rel=1e-9)
    assert r.latency_us == pytest.approx(4 * one.latency_us, rel=1e-9)


def test_polling_scan_grows_with_queues():
    # one shared polling core serving 16 VMs' queues checks 15 more per loop than with one
    # VM: poll_scan_us x 15 more per visit (and nothing without contention)
    from iovmodel.solve.consolidation import _columns, _scan_demand

    host = iov.HostProfile.default()
    g = iov.Guest("vhost-user-blk", iov.Workload.closed(1, 4), vcpus=1)
    sc = iov.Scenario([g], shared={"backend": 1}, cores=64).with_vms(16)
    md = _columns(sc)
    k = md.cols.index("backend")
    extra = _scan_demand(sc, md)
    assert extra[0, k] == pytest.approx(md.V[0, k] * host["poll_scan_us"] * 15)
    assert not _scan_demand(sc.replace(contention=False), md).any()
    assert not _scan_demand(sc.with_vms(1), _columns(sc.with_vms(1))).any()


# --------------------------------------------------------------------------- bad input
def test_bad_scenarios_raise_naming_the_value():
    w = iov.Workload.closed(1, 1)
    with pytest.raises(ParameterError, match="at least one guest"):
        iov.Scenario([])
    with pytest.raises(ParameterError, match="count must be .* got 0"):
        iov.Guest("virtio-blk", w, count=0)
    with pytest.raises(ParameterError, match="count"):
        iov.Guest("virtio-blk", w, count=1.5)
    with pytest.raises(ParameterError, match="'bql' of path 'virtio-blk' is not shareable"):
        iov.Scenario([iov.Guest("virtio-blk", w, count=2)], shared={"bql": 1})
    with pytest.raises(ParameterError, match="used by no guest"):
        iov.Scenario([iov.Guest("virtio-blk", w)], shared={"backend": 1})
    with pytest.raises(ParameterError, match="12 thread.*8 core"):
        iov.Scenario([iov.Guest("vhost-user-blk", w, count=2)], shared={"backend": 12},
                     cores=8)
    with pytest.raises(ParameterError, match="closed workloads"):
        iov.Guest("virtio-blk", iov.Workload.open(1e4))
    with pytest.raises(ParameterError, match="vms"):
        iov.sweep(scenario(), jobs=[1, 2])
    with pytest.raises(ParameterError, match="carries its host"):
        iov.analyze(scenario(), iov.HostProfile.default())


@pytest.mark.parametrize("seed", range(5))
def test_exact_matches_line_solver_on_random_small_scenarios(seed):
    # line-solver's exact multiclass MVA (pfqn_mva) on the same network written with one class
    # per VM: each VM's own vCPU and mutex, a shared back-end thread and device (single
    # servers), the delay as think time. line-solver is in the bench extra, so this runs after
    # `make bench` has installed it; tests/analytic/test_multiclass.py checks committed values
    pfqn = pytest.importorskip("line_solver.api.pfqn")
    rng = np.random.default_rng(seed)
    vms, depth = int(rng.integers(2, 4)), int(rng.integers(1, 4))
    d = rng.uniform(0.5, 10.0, size=5)  # vcpu, bql, backend_thread, device, host (delay)
    hops = [iov.Hop(f"h{i}", resource=r, cost=float(c)) for i, (r, c) in
            enumerate(zip(["vcpu", "bql", "backend_thread", "device", "host"], d, strict=True))]
    p = iov.Path.from_hops("rand", hops, servers={"backend_thread": 1, "device": 1})
    sc = iov.Scenario([iov.Guest(p, iov.Workload.closed(1, depth), count=vms, vcpus=1)],
                      shared={"backend_thread": 1, "device": 1}, contention=False)
    r = analyze_scenario(sc, method="exact")
    L = np.zeros((2 * vms + 2, vms))
    for i in range(vms):
        L[2 * i, i], L[2 * i + 1, i] = d[0], d[1]
        L[2 * vms, i], L[2 * vms + 1, i] = d[2], d[3]
    X = np.asarray(pfqn.pfqn_mva(L, np.full(vms, float(depth)), np.full(vms, d[4]))[0]).ravel()
    assert r.per_vm["throughput_per_s"].iloc[0] / 1e6 == pytest.approx(X[0], rel=1e-9)
    assert r.throughput_per_s / 1e6 == pytest.approx(X.sum(), rel=1e-9)
