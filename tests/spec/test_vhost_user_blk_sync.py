"""vhost-user-blk with Cloud Hypervisor's synchronous back-end (``sync_io=True``).

cloud-hypervisor vhost_user_block/src/lib.rs: ``VhostUserBlkThread::process_queue`` runs
``request.execute(&mut self.disk_image.lock()...)`` -- a blocking read or write of the disk
image -- on the queue's thread before ``add_used``, and every queue's thread shares the one
``Arc<Mutex<dyn DiskFile>>``. So one request is at the device at a time, whatever the queues:
the back-end's capacity is one over the time a request holds that mutex.
"""

from __future__ import annotations

import pytest

import iovmodel as iov

HOST = iov.HostProfile.default()


def _held_us(h: iov.HostProfile) -> float:
    # what one request holds the disk image's mutex for, as modelled (a 4 KiB read): the
    # device's read (the thread's syscall and wake-up around it are on the thread)
    return h["device_blk_us"]


def test_one_request_at_a_time_bounds_the_back_end():
    p = iov.path("vhost-user-blk", sync_io=True)
    r = iov.analyze(p, HOST, iov.Workload.closed(1, 32))
    assert r.bottleneck == "disk_image"
    assert r.saturation_per_s == pytest.approx(1e6 / _held_us(HOST), rel=1e-9)
    # the asynchronous back-end overlaps the device's reads (device_blk_slots of them)
    a = iov.analyze(iov.path("vhost-user-blk", sync_io=False), HOST, iov.Workload.closed(1, 32))
    assert a.throughput_per_s > 3 * r.throughput_per_s


def test_more_queues_do_not_lift_the_one_mutex():
    one = iov.analyze(iov.path("vhost-user-blk", sync_io=True, vcpus=4, queues=1), HOST,
                      iov.Workload.closed(4, 8))
    four = iov.analyze(iov.path("vhost-user-blk", sync_io=True, vcpus=4, queues=4, workers=4),
                       HOST, iov.Workload.closed(4, 8))
    assert four.saturation_per_s == pytest.approx(one.saturation_per_s, rel=1e-9)
    assert four.saturation_per_s == pytest.approx(1e6 / _held_us(HOST), rel=1e-9)
    assert 0.99 * four.saturation_per_s <= four.throughput_per_s <= four.saturation_per_s


def test_the_device_time_is_not_host_cpu():
    # the thread sleeps in its read while the device works: that time holds the mutex but
    # burns no CPU, so the host CPU per I/O does not grow with the device's latency (a
    # back-end that sleeps on its eventfds: a polling one burns its core whatever it waits for)
    slow = HOST.replace(device_blk_us=400.0)
    p = iov.path("vhost-user-blk", sync_io=True, polling=False)
    w = iov.Workload.closed(1, 1)
    assert iov.analyze(p, slow, w).cpu_us_per_io == pytest.approx(
        iov.analyze(p, HOST, w).cpu_us_per_io, rel=1e-9)


def test_the_simulator_agrees_at_half_load():
    p = iov.path("vhost-user-blk", sync_io=True, vcpus="inf")
    sat = iov.build(p, HOST, iov.Workload.open(1.0)).saturation_per_s
    w = iov.Workload.open(0.5 * sat)
    a = iov.analyze(p, HOST, w)
    s = iov.simulate(p, HOST, w, requests=20_000, replications=4, seed=7, progress=False)
    lo, hi = s.latency_ci_us
    # an open tandem of FIFO stations with exponential services (Jackson network): the mean
    # the simulator estimates is the analytic one, within its confidence interval (widened
    # by half, and at least 5 %, for the few non-exponential hops)
    assert abs(s.latency_us - a.latency_us) <= max(1.5 * (hi - lo) / 2, 0.05 * a.latency_us)


def test_the_assumptions_name_the_device_behind_the_mutex():
    r = iov.analyze(iov.path("vhost-user-blk", sync_io=True), HOST, iov.Workload.closed(1, 32))
    assumed = r.to_frame().iloc[0]
    assert "device_blk_us" in assumed["assumed_device"]
    assert "sync_io=true" in assumed["assumed_options"]
