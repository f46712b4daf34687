"""A back-end that signals once per pass: Firecracker's block device (Path.batching "load").

firecracker src/vmm/src/devices/virtio/block/virtio/device.rs: ``process_queue`` pops the
ring until it is empty (``pop_or_enable_notification``: the guest's kicks are off meanwhile,
EVENT_IDX) and raises one interrupt at the end (``if used_any && queue.prepare_kick()``);
``process_async_completion_queue`` drains every CQE, then one interrupt. So a kick and an
interrupt cover the requests one pass of the event loop serves, and with Poisson arrivals
that is the mean number served in an M/G/1 busy period, 1 / (1 - rho) (Kleinrock 1975,
Queueing Systems Vol. 1, the busy period of M/G/1): the fixed point of
:mod:`iovmodel.solve.batching`, which every solver now takes on this path by default.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import iovmodel as iov
from iovmodel.calibrate.predict import _solve_load_batched, predict
from iovmodel.calibrate.report import pair_directions
from iovmodel.errors import FitWarning, ParameterError

FC = "firecracker-virtio-blk"


def test_the_catalog_says_which_paths_signal_once_per_pass():
    # Firecracker's device.rs (above) and Cloud Hypervisor's virtio-blk worker
    # (virtio-devices/src/block.rs: process_queue_complete drains every completion, then
    # one try_signal_used_queue; the submit side likewise after popping every request)
    per_pass = {FC, "cloudhv-virtio-blk"}
    assert all(iov.path(n).batching == "load" for n in per_pass)
    # the others keep the workload's batch until their back-end's code is read for it
    assert {p.batching for name in iov.paths()["name"] if name not in per_pass
            for p in [iov.path(name)]} == {"amortised"}
    # and a path's display says it
    assert "follows the load" in iov.path(FC)._repr_html_()
    assert "follows the load" not in iov.path("virtio-blk")._repr_html_()


def test_the_batch_is_the_requests_a_busy_period_of_the_event_loop_serves():
    r = iov.analyze(FC, workload=iov.Workload.closed(1, 32))
    rho = r.utilization["vmm"]
    assert 0 < rho < 1 and r.workload.batch > 1
    assert r.workload.batch == pytest.approx(1.0 / (1.0 - rho), rel=1e-8)
    assert "found from the load" in r.assumptions["batch"]
    # one request in flight: every pass finds one
    assert iov.analyze(FC).workload.batch == 1
    # asked for the workload's batch, it keeps it; other paths keep theirs by default
    assert iov.analyze(FC, workload=iov.Workload.closed(1, 32),
                       batching="amortised").workload.batch == 1
    assert iov.analyze("virtio-blk", workload=iov.Workload.closed(1, 32)).workload.batch == 1


def test_fewer_interrupts_per_io_lift_the_vcpu_bound():
    # the vCPU is the bound at iodepth 32 (its ISR's two MMIO exits to the VMM per
    # interrupt): a batch b > 1 spreads them over b I/Os, so the default beats batch 1
    w = iov.Workload.closed(1, 32)
    per_pass = iov.analyze(FC, workload=w)
    fixed = iov.analyze(FC, workload=w, batching="amortised")
    assert per_pass.bottleneck == fixed.bottleneck == "vcpu"
    assert per_pass.throughput_per_s > fixed.throughput_per_s
    # and at the found batch the amortised model is the same network
    again = iov.analyze(FC, workload=w.replace(batch=per_pass.workload.batch),
                        batching="amortised")
    assert again.throughput_per_s == pytest.approx(per_pass.throughput_per_s, rel=1e-12)


def test_simulate_runs_the_batch_analyze_finds():
    w = iov.Workload.closed(1, 32)
    a = iov.analyze(FC, workload=w)
    s = iov.simulate(FC, workload=w, requests=20_000, replications=4, seed=7, progress=False)
    assert s.workload.batch == a.workload.batch
    lo, hi = s.throughput_ci_per_s
    assert abs(s.throughput_per_s - a.throughput_per_s) <= max(1.5 * (hi - lo),
                                                               0.02 * a.throughput_per_s)
    assert "found from the load" in s.assumptions["batch"]
    with pytest.raises(ParameterError, match="needs a path"):
        iov.simulate(iov.build(FC, None, w), batching="load")


def test_sweep_points_are_analyze_at_their_own_batch():
    sw = iov.sweep(FC, iodepth=[1, 8, 32])
    for _, row in sw.iterrows():
        r = iov.analyze(FC, workload=iov.Workload.closed(1, int(row["iodepth"])))
        assert row["batch"] == r.workload.batch
        assert row["throughput_per_s"] == pytest.approx(r.throughput_per_s, rel=1e-12)
    # a batch knob states the batch: the workload's, as on any path
    fixed = iov.sweep(FC, iodepth=[32], batch=[2])
    assert fixed["throughput_per_s"].iloc[0] == pytest.approx(iov.analyze(
        FC, workload=iov.Workload.closed(1, 32, batch=2),
        batching="amortised").throughput_per_s, rel=1e-12)


def test_a_warm_start_finds_the_same_fixed_point():
    # the fit starts each row's fixed point at its previous one (secant steps); it must
    # land where Brent's method over the whole bracket does
    host = iov.HostProfile.default()
    for q, v in ((32, 1), (32, 2), (8, 1)):
        p = iov.path(FC, vcpus=v)
        w = iov.Workload.closed(v, q)
        cold = _solve_load_batched(p, host, w)
        for start in (0.0, math.log(cold[0].batch) + 0.3, math.log(min(v * q, 256))):
            warm = _solve_load_batched(p, host, w, start=start)
            assert math.log(warm[0].batch) == pytest.approx(math.log(cold[0].batch), abs=1e-9)
            assert warm[1] == pytest.approx(cold[1], rel=1e-9)


def test_a_warm_start_with_the_previous_slope_lands_on_the_same_fixed_point():
    # a fit's next point starts at the last root with the last secant slope (two
    # solutions where a slope of 1 takes three or four); the root must not move beyond
    # the tolerance, nor depend on how good the slope is
    host = iov.HostProfile.default()
    for q, v in ((32, 1), (32, 2), (8, 1)):
        p = iov.path(FC, vcpus=v)
        w = iov.Workload.closed(v, q)
        cold = _solve_load_batched(p, host, w)
        t = math.log(cold[0].batch)
        found: dict = {}
        _solve_load_batched(p, host, w, start=t + 0.05, found=found)
        assert found["slope"] > 0
        moved = host.replace(wakeup_us=host["wakeup_us"] * (1 + 1e-6))
        ref = _solve_load_batched(p, moved, w)
        for slope in (found["slope"], 1.0, 0.2, 5.0, None):
            got = _solve_load_batched(p, moved, w, start=t, slope=slope)
            assert math.log(got[0].batch) == pytest.approx(math.log(ref[0].batch), abs=1e-9)
            assert got[1] == pytest.approx(ref[1], rel=1e-9)


def test_predict_and_fit_take_the_paths_own_batching():
    df = iov.datasets.load("firecracker_ci_block")
    io = df[df["metric"] == "iops"]
    default = predict(io)
    assert np.allclose(default["predicted"], predict(io, batching="load")["predicted"],
                       rtol=1e-9)
    fixed = predict(io, batching="amortised")
    # Firecracker's CI (S01): the per-pass batch halves the defaults' miss on its IOPS
    err = {k: float(np.nanmedian(np.abs(f["rel_error"])))
           for k, f in (("per pass", default), ("fixed", fixed))}
    assert err["per pass"] < 0.6 * err["fixed"]
    # fitted to the same rows, its same-hardware pairs (engine, read/write) are ordered
    # right more often: a batch of 1 makes every one of them a tie at the vCPU bound
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        share = {}
        for k, b in (("per pass", None), ("fixed", "amortised")):
            p = pair_directions(iov.fit(io, batching=b).residuals)
            share[k] = float(p.loc[p["decisive"], "right"].mean())
    assert share["per pass"] > share["fixed"]


def test_a_pass_finds_no_more_requests_than_the_device_lets_in_flight():
    # Cloud Hypervisor without indirect descriptors: a 256 KiB request takes 66 of the
    # ring's 128 descriptors (tests/spec/test_inflight_rule.py), so each pass of its worker
    # finds one, whatever fio's iodepth: the batch stays 1 (it is not 1/(1 - rho))
    w = iov.Workload.closed(1, 64, size_bytes=262144, rw="randwrite")
    r = iov.analyze(iov.path("cloudhv-virtio-blk", indirect_desc=False), workload=w)
    assert r.bottleneck == "inflight" and r.workload.batch == 1
    assert iov.analyze(iov.path("cloudhv-virtio-blk"), workload=w).workload.batch > 1


def test_a_pass_finds_at_most_the_requests_of_its_own_queue():
    # QEMU's NVMe controller and the Linux nvme driver (drivers/nvme/host/pci.c
    # nvme_setup_io_queues: an I/O queue pair per CPU, blk-mq mapping each CPU to its own):
    # four fio jobs of iodepth 32 on four vCPUs keep 32 requests in each of four queues, and
    # each CQ is drained and interrupts on its own (hw/nvme/ctrl.c nvme_post_cqes per CQ), so
    # a pass of the saturated main loop covers at most 32 requests, not all 128
    w = iov.Workload.closed(4, 32)
    four = iov.analyze(iov.path("emulated-nvme", vcpus=4, ioeventfd=True), workload=w,
                       batching="load")
    one = iov.analyze(iov.path("emulated-nvme", vcpus=4, ioeventfd=True, queues=1),
                      workload=w, batching="load")
    assert four.utilization["bql"] > 0.99 and one.utilization["bql"] > 0.99
    assert four.workload.batch == pytest.approx(32) and one.workload.batch == pytest.approx(128)
    # the per-pass costs (doorbell wake-up, submit and reap syscalls, the MSI-X) spread over
    # fewer requests: fewer I/O per second through the one main loop
    assert four.throughput_per_s < one.throughput_per_s
    # one vCPU: one queue in use whatever the device offers, so no cap below the population
    assert iov.build(iov.path("emulated-nvme"), iov.HostProfile.default(),
                     iov.Workload.closed(1, 32)).queues == math.inf
