"""QEMU's emulated NVMe against the two tables its shadow-doorbell and ioeventfd patches
published (values typed from the commit messages; nothing here is fitted to them).

* Jinhao Fan, "[PATCH v3 0/2] hw/nvme: Add shadow doorbell buffer support", qemu-devel,
  2022-06 (https://go.mail-archive.com/qemu-devel@nongnu.org/msg894505.html): Xeon Gold
  6248R, Ubuntu 22.04 guest (5.15), ``-cpu host -smp 4``, the NVMe namespace on
  ``null-co://`` (QEMU's null driver: no host I/O), fio libaio 4k randread, numjobs=1.
  IOPS and MMIO exits per I/O (``perf kvm``) at iodepth 1 / 2 / 4 / 8, without and with
  the Doorbell Buffer Config (``dbbuf``).
* Jinhao Fan, "hw/nvme: Use ioeventfd to handle doorbell updates", QEMU commit
  2e53b0b45024 (qemu-nvme.git; 0ebf76aae583 upstream), Linux 5.19-rc2 guest: IOPS at
  iodepth 1 / 4 / 16 / 64 with shadow doorbells, without and with ``ioeventfd``. The
  excerpt states no device: the same author's null-co set-up is assumed.

Assumptions (stated, not chosen from the rows): the device is QEMU's null driver
(``host_blk_us`` 0, ``device_blk_us`` at its bound 0.1 µs); the defaults for every other
cost; ``batching="load"`` (notification suppression under load, where the options have
it: :attr:`Path.notify_suppression`).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import iovmodel as iov

NULL_CO = {"host_blk_us": 0.0, "device_blk_us": 0.1}
DEPTHS = (1, 2, 4, 8)
#: Fan 2022-06, "IOPS comparison with FIO" and "MMIO's per IO measured by perf-kvm"
IOPS = {False: (25.1e3, 25.9e3, 24.5e3, 24.0e3), True: (29.1e3, 60.1e3, 99.8e3, 82.5e3)}
MMIO_PER_IO = {False: (2.01, 1.99, 1.99, 1.99), True: (1.00, 0.52, 0.27, 0.46)}
#: QEMU commit 2e53b0b45024, "IOPS comparison on Linux 5.19-rc2 (Unit: KIOPS)"
IOEVENTFD_DEPTHS = (1, 4, 16, 64)
IOEVENTFD_IOPS = {False: (35e3, 121e3, 176e3, 153e3), True: (41e3, 133e3, 258e3, 313e3)}


def _run(qd: int, batching: str = "load", **options) -> iov.Result:
    host = iov.HostProfile.default().replace(**NULL_CO)
    return iov.analyze("emulated-nvme", host, iov.Workload.closed(jobs=1, iodepth=qd),
                       vcpus=4, batching=batching, **options)


def test_shadow_doorbells_suppress_doorbell_exits_as_the_eventidx_counts():
    got = np.array([_run(qd, shadow_doorbell=True).metric("exits_per_io") for qd in DEPTHS])
    err = np.abs(got - np.array(MMIO_PER_IO[True]))
    # QD1: the controller is idle at every submission, so every one rings (1.00 measured)
    assert got[0] == pytest.approx(1.0, abs=0.01)
    # the batch grows with the main loop's load: 0.50 at iodepth 2 against 0.52, 0.37 at
    # iodepth 8 against 0.46 (the main loop posts each CQE on its own, nvme_post_cqes, and
    # all its work counts towards the load that sets the batch, where only the SQ's
    # processing keeps the eventidx from asking for a doorbell: 0.45 before the CQEs were
    # per request)
    assert err[1] <= 0.05 and err[3] <= 0.10
    # iodepth 4 measured 0.27, below the 0.46 at iodepth 8: a count that falls and rises
    # again with the load, which a batch growing with the back-end's utilisation cannot
    # follow (the model gives 0.41)
    assert err[2] <= 0.25
    assert float(np.median(err)) <= 0.06


@pytest.mark.parametrize("batching", ["amortised", "load"])
def test_without_shadow_doorbells_every_io_rings_twice_whatever_the_load(batching):
    # no eventidx: the SQ tail doorbell at every submission, the CQ head doorbell at every
    # interrupt (1.99-2.01 measured at every depth); batching='load' has nothing to batch
    assert not iov.path("emulated-nvme", shadow_doorbell=False).suppresses_notifications()
    for qd, want in zip(DEPTHS, MMIO_PER_IO[False], strict=True):
        r = _run(qd, batching, shadow_doorbell=False)
        assert r.metric("exits_per_io") == pytest.approx(want, abs=0.05), qd
        assert r.workload.batch == 1.0


def test_shadow_doorbells_and_ioeventfd_each_raise_throughput_at_every_depth():
    for qd, off_m, on_m in zip(DEPTHS, IOPS[False], IOPS[True], strict=True):
        assert on_m > off_m  # the measured ordering the model must follow
        assert _run(qd, shadow_doorbell=True).throughput_per_s \
            > _run(qd, shadow_doorbell=False).throughput_per_s, qd
    gain = []
    for qd, off_m, on_m in zip(IOEVENTFD_DEPTHS, IOEVENTFD_IOPS[False], IOEVENTFD_IOPS[True],
                               strict=True):
        assert on_m > off_m
        on, off = _run(qd, ioeventfd=True), _run(qd, ioeventfd=False)
        assert on.throughput_per_s > off.throughput_per_s, qd
        gain.append(on.throughput_per_s / off.throughput_per_s)
    # the gain grows with the depth (measured 1.17x at 1 to 2.05x at 64; the model 1.09x
    # to 1.48x): the main loop takes the doorbell work off the vCPU that saturates first
    assert all(b >= a - 1e-9 for a, b in zip(gain, gain[1:], strict=False))
    assert gain[-1] > 1.3


def test_ioeventfd_table_within_30_percent_median():
    err = []
    for ioe, meas in IOEVENTFD_IOPS.items():
        for qd, m in zip(IOEVENTFD_DEPTHS, meas, strict=True):
            err.append(abs(_run(qd, ioeventfd=ioe).throughput_per_s / m - 1.0))
    # 24 % measured today (QD1 43-53 % high: 17-19 us predicted for a round trip the
    # guest saw take 24-29 us; QD64 with ioeventfd 31 % low)
    assert float(np.median(err)) <= 0.30


def test_a_path_without_suppression_keeps_its_batch_under_load():
    # a custom path (not registered: the catalog stays as shipped) whose one kick hop
    # suppresses only while its option holds
    base = iov.Path.from_hops("supp-flag", [iov.Hop("kick", "r", 1.0, per="batch")],
                              options={"flag": True, "vcpus": 1})
    p = dataclasses.replace(base, notify_suppression="flag")
    w = iov.Workload.closed(jobs=1, iodepth=8)
    on = iov.analyze(p, None, w, batching="load")
    off = iov.analyze(p.with_options(flag=False), None, w, batching="load")
    assert on.workload.batch > 1.0  # the one server is busy: kicks ride on its passes
    assert off.workload.batch == 1.0
