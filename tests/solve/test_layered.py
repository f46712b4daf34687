"""Finite vCPUs, jobs as threads, host cores and in-flight limits (issue "Finite CPUs,
threads and queues"): laws and closed forms the layered solution must meet."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

import iovmodel as iov
from iovmodel import ParameterError, UnstableError
from iovmodel.solve.analytic import mva

H = iov.HostProfile.default()


def test_emulated_ide_saturates_at_one_command():
    # PIIX3 IDE holds one command (libata: can_queue = ATA_DEF_QUEUE = 1): the throughput
    # at any depth is that of one request in flight, 1 / R0, and the latency is N / X
    one = iov.analyze("emulated-ide", H, iov.Workload.closed(1, 1))
    assert one.throughput_per_s == pytest.approx(1e6 / one.zero_load_latency_us, rel=1e-12)
    for n in (2, 8, 32):
        r = iov.analyze("emulated-ide", H, iov.Workload.closed(1, n))
        assert r.throughput_per_s == pytest.approx(one.throughput_per_s, rel=1e-12)
        assert r.latency_us == pytest.approx(n / r.throughput_per_s * 1e6, rel=1e-12)
        assert r.bottleneck == "inflight"
    assert one.saturation_per_s == pytest.approx(one.throughput_per_s, rel=1e-12)
    with pytest.raises(UnstableError, match="inflight"):
        iov.analyze("emulated-ide", H, iov.Workload.open(one.throughput_per_s * 1.01))


def test_jobs_are_threads_on_vcpus():
    # a fast device and 4 vCPUs: one job with 12 in flight is bound by its one thread
    # (its vCPU), three jobs x 4 and twelve jobs x 1 spread over the vCPUs
    h = H.replace(device_blk_us=5.0)
    r = {jd: iov.analyze("vhost-user-blk", h, iov.Workload.closed(*jd), vcpus=4)
         for jd in [(1, 12), (3, 4), (12, 1)]}
    assert r[(1, 12)].throughput_per_s < 0.8 * r[(3, 4)].throughput_per_s
    assert r[(1, 12)].throughput_per_s < 0.8 * r[(12, 1)].throughput_per_s
    assert r[(1, 12)].bottleneck == "vcpu"
    assert r[(1, 12)].utilization["vcpu"] > 0.99
    # the summary names the thread: the one vCPU the job runs on, three of four idle
    def text(res):  # the summary, its wrapped lines joined
        return " ".join(res.summary().split())

    assert "the one vCPU running fio's job thread; 3 of the 4 vCPUs idle" in text(r[(1, 12)])
    two = iov.analyze("virtio-blk-iothread", h, iov.Workload.closed(8, 1), vcpus=2)
    assert two.bottleneck == "vcpu" and "both vCPUs, shared by fio's 8 job threads" in text(two)
    one = iov.analyze("vhost-user-blk", h, iov.Workload.closed(1, 12), vcpus=1)
    assert one.bottleneck == "vcpu" and "idle" not in text(one)
    # one vCPU's capacity is 1 / (its demand per I/O)
    net = iov.build(iov.path("vhost-user-blk"), h, iov.Workload.closed(1, 12))
    vcpu = net.stations[net.station_index("vcpu")]
    assert r[(1, 12)].throughput_per_s < 1e6 / vcpu.demand_us


def test_one_group_is_single_class_mva():
    # one job: its requests form one class; the vCPU is one server (exact MVA)
    net = iov.build(iov.path("virtio-blk"), H, iov.Workload.closed(1, 8))
    assert net.groups == ()
    e = mva(net.demands_us(), 8, servers=net.servers())
    r = iov.analyze("virtio-blk", H, iov.Workload.closed(1, 8))
    assert r.throughput_per_s == pytest.approx(e.X[-1] * 1e6, rel=1e-10)


def test_groups_spread_jobs_over_vcpus():
    net = iov.build(iov.path("virtio-blk", vcpus=4), H, iov.Workload.closed(5, 2))
    assert net.groups == (4.0, 2.0, 2.0, 2.0)  # 2 jobs x 2, then 1 job x 2 on three vCPUs
    assert sum(net.groups) == net.population
    assert iov.build(iov.path("virtio-blk", vcpus=2), H, iov.Workload.open(1000)).groups == (0.5, 0.5)


def test_cores_at_least_threads_change_nothing():
    w = iov.Workload.closed(16, 4)
    free = iov.analyze("virtio-blk-iothread", H, w, iothreads=4, vcpus=4)
    same = iov.analyze("virtio-blk-iothread", H, w, iothreads=4, vcpus=4, cores=9)  # 4 + 4 + 1
    assert same.throughput_per_s == pytest.approx(free.throughput_per_s, rel=1e-12)


def test_cores_bound_and_monotone():
    w = iov.Workload.closed(16, 4)
    X = [iov.analyze("virtio-blk-iothread", H, w, iothreads=4, vcpus=4, cores=c).throughput_per_s
         for c in (1, 2, 3, 4, 6, 8)]
    assert all(b >= a * (1 - 1e-9) for a, b in zip(X, X[1:], strict=False))  # more cores never hurt
    net = iov.build(iov.path("virtio-blk-iothread", iothreads=4, vcpus=4, cores=1), H, w)
    # one core: at most one thread runs, so X <= 1 / (thread demand per I/O), up to the
    # tolerance the layers' fixed point stops at (LAYER_TOL on the core stretch)
    from iovmodel.solve.layered import LAYER_TOL

    assert X[0] <= 1e6 / net.thread_demand_us * (1 + LAYER_TOL)
    assert X[0] == pytest.approx(1e6 / net.thread_demand_us, rel=0.01)
    assert iov.analyze("virtio-blk-iothread", H, w, iothreads=4, vcpus=4,
                       cores=1).bottleneck == "host cores"


def test_one_core_for_many_threads_is_one_server():
    # T threads of one station sharing one core behave as one server: the machine-repairman
    # queue M/M/1//N (exact MVA of a single-server station with think time Z)
    hop = iov.Hop(name="work", resource="t", cost=2.0)
    p = iov.Path.from_hops("threads", [hop, iov.Hop(name="think", resource="z", cost=10.0)],
                           servers={"t": 4, "z": math.inf})
    p = replace(p, resources={**p.resources, "t": replace(p.resources["t"], thread=True)})
    for n in (1, 2, 4, 8):
        r = iov.analyze(p.with_options(cores=1), H, iov.Workload.closed(n, 1))
        e = mva([2.0], n, think=10.0)
        assert r.throughput_per_s == pytest.approx(e.X[-1] * 1e6, rel=0.06), n


def test_open_inflight_one_is_mm1_of_the_whole_path():
    # one request in flight through a single exponential station: M/M/1, R = D / (1 - rho)
    p = iov.Path.from_hops("one", [iov.Hop(name="s", resource="s", cost=10.0)])
    p = replace(p, inflight=1.0)
    for lam in (10_000, 50_000, 90_000):
        r = iov.analyze(p, H, iov.Workload.open(lam))
        assert r.latency_us == pytest.approx(10.0 / (1 - lam * 10e-6), rel=1e-9)


@pytest.mark.parametrize("opt", [{"vcpus": 0}, {"vcpus": 2.5}, {"cores": 0}, {"queues": -1},
                                 {"cores": float("nan")}])
def test_bad_structure_options(opt):
    with pytest.raises(ParameterError, match=list(opt)[0]):
        iov.analyze("vhost-scsi", H, iov.Workload.closed(4, 1), **opt)


def test_polling_threads_need_cores():
    with pytest.raises(ParameterError, match="polling"):
        iov.analyze("vhost-user-blk", H, iov.Workload.closed(4, 1), cores=1)


def test_symbolic_says_when_there_is_no_closed_form():
    two = replace(iov.path("emulated-ide"), inflight=2.0)
    with pytest.raises(ParameterError, match="no closed form"):
        iov.symbolic.latency(two, iov.Workload.open(1000))
    # one in flight is the flow-equivalent M/M/1: T0 / (1 - lam T0), as analyze
    w = iov.Workload.open(3000)
    expr = iov.symbolic.latency("emulated-ide", w).subs(H)
    assert float(expr) == pytest.approx(iov.analyze("emulated-ide", H, w).latency_us, rel=1e-9)
    with pytest.raises(ParameterError, match="method of layers"):
        iov.symbolic.latency("virtio-blk", iov.Workload.open(1000), cores=2)


def test_queues_cap_threads():
    # a thread per virtqueue in use: one job uses one queue, whatever the workers
    w1, w4 = iov.Workload.closed(1, 16), iov.Workload.closed(4, 4)
    n1 = iov.build(iov.path("vhost-scsi", workers=4, vcpus=4), H, w1)
    n4 = iov.build(iov.path("vhost-scsi", workers=4, vcpus=4), H, w4)
    n4q1 = iov.build(iov.path("vhost-scsi", workers=4, vcpus=4, queues=1), H, w4)
    srv = {n: x.stations[x.station_index("vhost")].servers for n, x in
           (("1", n1), ("4", n4), ("4q1", n4q1))}
    assert srv == {"1": 1.0, "4": 4.0, "4q1": 1.0}


def test_sweep_matches_analyze_with_groups_and_cores():
    w = iov.Workload.closed(1, 4)
    df = iov.sweep("virtio-blk-iothread", H, w, jobs=[1, 3, 8], iothreads=[4], cores=[3],
                   vcpus=[4])
    for _, row in df.iterrows():
        r = iov.analyze("virtio-blk-iothread", H, iov.Workload.closed(int(row["jobs"]), 4),
                        iothreads=4, cores=3, vcpus=4)
        # the sweep starts each point's layers from the previous point's stretches, analyze
        # from none: both stop at LAYER_TOL on the stretch, so they agree to about it
        assert row["throughput_per_s"] == pytest.approx(r.throughput_per_s, rel=2e-4)
        assert row["bottleneck"] == r.bottleneck
    assert np.isfinite(df["latency_us"]).all()


@pytest.mark.parametrize("name,opt", [("virtio-blk-iothread", {"iothreads": [4]}),
                                      ("vhost-scsi", {"workers": [4]}), ("virtio-blk", {})])
def test_warm_started_sweep_is_as_close_to_the_fixed_point_as_a_cold_start(name, opt,
                                                                             monkeypatch):
    # the fixed point itself: the layers iterated to 1e-10 on the stretch. The warm-started
    # sweep and the cold start (analyze's) both stop at LAYER_TOL = 1e-4; measured: both
    # within 5.1e-5 of it over 64 jobs at 1-4 host cores (the bound below is LAYER_TOL)
    from iovmodel.solve import analyze as A
    from iovmodel.solve import layered as L

    kw = dict(jobs=list(range(1, 65)), vcpus=[4], cores=[2], **opt)
    w = iov.Workload.closed(1, 4)
    warm = iov.sweep(name, H, w, **kw)
    xru = A.solve_closed_layered_xru
    monkeypatch.setattr(A, "solve_closed_layered_xru", lambda pn, f0=None: xru(pn, None))
    cold = iov.sweep(name, H, w, **kw)
    monkeypatch.setattr(L, "LAYER_TOL", 1e-10)
    exact = iov.sweep(name, H, w, **kw)
    for d in (warm, cold):
        err = np.abs(d["throughput_per_s"] / exact["throughput_per_s"] - 1)
        assert err.max() <= 1e-4
    assert (warm["bottleneck"] == exact["bottleneck"]).all()


@pytest.mark.parametrize("name,opt", [("virtio-blk-iothread", {"iothreads": 4}),
                                      ("vhost-scsi", {"workers": 4}), ("virtio-blk", {})])
def test_compiled_fixed_point_is_the_python_one(name, opt):
    # the numba kernel iterates the same layers with the same damping and stopping rule as
    # the Python loop (its reference); Bard-Schweitzer is warm-started there, so the two
    # agree to the upper layer's own tolerance (1e-10 of the queue lengths), not bit for bit
    from iovmodel.solve import layered as L

    for jobs, qd in [(1, 8), (3, 4), (8, 2), (64, 4)]:
        for c in (math.inf, 4, 2):
            net = iov.build(iov.path(name, vcpus=4, cores=c, **opt), H,
                            iov.Workload.closed(jobs, qd))
            if not L.needs_layers(net):
                continue
            pops = L._cap_groups(net, list(net.groups) if len(net.groups) > 1
                                 else [float(net.population)])
            f1, R1, X1, i1 = L._fixed_point(net, pops)
            f2, R2, X2, i2 = L._fixed_point_python(net, pops)
            assert i1 == i2 <= L.MAX_LAYER_ITER
            assert X1 == pytest.approx(X2, rel=1e-8)
            np.testing.assert_allclose(R1, R2, rtol=1e-7, atol=1e-9)
            np.testing.assert_allclose(f1, f2, rtol=1e-7)


def test_sweep_rows_are_analyze_results_column_by_column():
    # the sweep's layered rows (solved without the per-visit waits, columns put per shared
    # structure) carry analyze's numbers, bottleneck and assumptions for each point (to
    # the layers' tolerance: the sweep warm-starts each point from the previous one's)
    df = iov.sweep("virtio-blk-iothread", H, iov.Workload.closed(1, 4), jobs=[1, 2, 5, 9],
                   iothreads=[4], vcpus=[4], queues=[4], cores=[3])
    for _, row in df.iterrows():
        r = iov.analyze("virtio-blk-iothread", H, iov.Workload.closed(int(row["jobs"]), 4),
                        iothreads=4, vcpus=4, queues=4, cores=3)
        fr = r.to_frame().iloc[0]
        assert row["latency_us"] == pytest.approx(r.latency_us, rel=2e-4)
        assert row["bottleneck"] == r.bottleneck
        for col in [c for c in fr.index if c.startswith(("util_", "busy_"))]:
            assert row[col] == pytest.approx(fr[col], rel=2e-4, abs=1e-15), col
        for col in [c for c in fr.index if c.startswith("assumed_")]:
            assert row[col] == fr[col], col


def test_every_catalog_path_states_the_default_guest_of_one_vcpu():
    # data/catalog.toml documents the default guest (one vCPU: QEMU without -smp, Cloud
    # Hypervisor's DEFAULT_VCPUS); a path added without it would silently keep a CPU per request
    for name in iov.paths()["name"]:
        assert iov.path(name).options["vcpus"] == 1, name


def test_one_vcpu_is_one_more_queue_in_every_solver():
    # one vCPU: every job shares it, one class; exact single-class MVA with the vCPU as a
    # single server, and the open closed form (symbolic) equals analyze
    w = iov.Workload.closed(4, 8)
    net = iov.build(iov.path("vhost-scsi"), H, w)
    assert net.groups == () and net.stations[net.station_index("vcpu")].servers == 1
    e = mva(net.demands_us(), w.population, servers=net.servers())
    assert iov.analyze("vhost-scsi", H, w).throughput_per_s == pytest.approx(e.X[-1] * 1e6,
                                                                             rel=1e-10)
    o = iov.Workload.open(50_000)
    assert float(iov.symbolic.latency("vhost-scsi", o).subs(H)) == pytest.approx(
        iov.analyze("vhost-scsi", H, o).latency_us, rel=1e-9)
