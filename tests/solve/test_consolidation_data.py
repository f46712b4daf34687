"""Consolidation sweeps against published measurements (io_comparisons.csv, P08 and P10).

Protocol (issue 12): contention parameters stay at their published defaults
(costs.toml: lock_waiter_us, poll_scan_us, sched_slice_us, wakeup_us); only the device or
back-end speed is fitted, on the first two points of each sweep (one scale factor, least
squares in log); the remaining points are predictions. Each module-level constant below is
an assumption the rows leave open, stated where it is used.

What the tests show (printed by ``pytest -s tests/solve/test_consolidation_data.py``):

* P08 OVS-DPDK vhost-user, 2-14 VMs through one polling core: predicted flat-to-falling
  (the PMD saturates; its scan over more queues costs a little more per packet), median
  error over VMs 10 and 14 within the 25 % target.
* P08 kernel bridge (Cloud Hypervisor virtio-net over tap): predicted rising, but linearly:
  nothing in the bridge path is shared between VMs on a 40-thread host, while the
  measured per-pair rate falls from 12.2 to 5.5 Gbit/s. The 25 % target is not met
  (xfail, strict: it flips when the model learns what the pairs share).
* P10 SPDK vfio-user target, 2 VMs per target core: predicted rising to the point where
  the spinning threads (each target core and its VMs' polling vCPUs) outnumber the host
  cores, then falling (time-shared pollers that must run together). The rise is within
  the target; the fall is far shallower than measured (7.42M at 14 cores). Target not met
  (xfail, strict).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

import iovmodel as iov

# -- P08 assumptions: iperf3 TCP bulk between VM pairs; a segment of 64 KiB (TSO/GRO) as the
# unit of I/O, 16 segments in flight per VM (a TCP window); each VM 1 vCPU ("each VM 1
# dedicated core"); the host has 2 x 20 hardware threads (cores 0-39 in the row's hardware
# column); "pmd_cores_per_node=1": the VMs' ports are served by one PMD core (issue 12).
P08_SEGMENT_BYTES = 65536
P08_WINDOW = 16
P08_HOST_CORES = 40

# -- P10 assumptions (block size and host cores are not in the stored excerpt): 4 KiB reads;
# each VM runs one fio job at QD 128 on 1 vCPU and polls its completions (as SPDK's NVMe
# driver in a guest does: busy_poll, no completion interrupt, so guest_irq_us and the
# target's eventfd/irqfd are 0), with guest_blk_us = 0.5 us (a polled user-space driver,
# not the kernel block layer's 4 us; reasoning, not a measurement); a null/malloc bdev
# (device_blk_us = 1 us: 17.8M IOPS is beyond any one NVMe device); the vfio-user target is
# stood in for by vhost-user-blk with polling (the same structure: an SPDK reactor polls
# the guest's queues in shared memory; the catalog has no vfio-user path on this branch).
# Host cores: 32 (a 2-socket 16-core host); the rows only bound it: the rise up to 10
# target cores (30 spinning threads) needs >= 30; P10 does not say.
P10_HOST_CORES = 32


def fit_scale(predict, xs, ys) -> float:
    """One speed factor minimising the squared log error over the points given."""
    def loss(ls):
        return sum((math.log(predict(x, math.exp(ls))) - math.log(y)) ** 2
                   for x, y in zip(xs, ys, strict=True))

    return math.exp(minimize_scalar(loss, bounds=(-6, 6), method="bounded").x)


def rows(source: str, path: str, key: str) -> tuple[np.ndarray, np.ndarray]:
    df = iov.datasets.load("io_comparisons")
    q = df[(df["source"] == source) & (df["path"] == path)
           & df["options"].str.contains(f"{key}=", regex=False)].copy()
    q["x"] = q["options"].str.extract(rf"{key}=(\d+)")[0].astype(int)
    q = q.sort_values("x")
    return q["x"].to_numpy(), q["value"].to_numpy(dtype=float)


# ------------------------------------------------------------------------------- P08
def p08_gbps(path: str, vms: int, scale: float, contention: bool = True) -> float:
    d = iov.HostProfile.default()
    w = iov.Workload.closed(1, P08_WINDOW, size_bytes=P08_SEGMENT_BYTES)
    if path == "vhost-user-net":  # the back-end's speed: the PMD's per-packet work
        host = d.replace(dpdk_vhost_pkt_us=d["dpdk_vhost_pkt_us"] * scale,
                         copy_ns_per_byte=d["copy_ns_per_byte"] * scale)
        shared = {"backend": 1}
    else:  # the kernel bridge: the device speed (tap + bridge + peer turnaround)
        host = d.replace(device_net_us=d["device_net_us"] * scale)
        shared = {}
    g = iov.Guest(path, w, count=vms, vcpus=1)
    sc = iov.Scenario([g], host=host, cores=P08_HOST_CORES, shared=shared, contention=contention)
    return iov.analyze(sc).throughput_per_s * P08_SEGMENT_BYTES * 8 / 1e9


def p08(path: str):
    vms, gbps = rows("P08", path, "vms")
    s = fit_scale(lambda v, k: p08_gbps(path, v, k), vms[:2], gbps[:2])
    pred = np.array([p08_gbps(path, v, s) for v in vms])
    err = np.abs(pred / gbps - 1)
    print(f"\nP08 {path}: scale {s:.3g}; VMs {vms.tolist()}: measured {gbps.tolist()} Gbit/s, "
          f"predicted {np.round(pred, 2).tolist()}; errors {np.round(err, 3).tolist()}; "
          f"median over the held-out points {np.median(err[2:]):.1%}")
    return vms, gbps, pred, err


def test_p08_vhost_user_flat_or_falling_within_target():
    vms, gbps, pred, err = p08("vhost-user-net")
    assert np.all(np.diff(pred) <= 0.02 * pred[:-1])  # flat or falling: the PMD saturates
    assert np.median(err[2:]) <= 0.25


def test_p08_bridge_rises():
    vms, gbps, pred, err = p08("cloudhv-virtio-net")
    assert np.all(np.diff(pred) > 0)


@pytest.mark.xfail(strict=True, reason="the kernel bridge's per-pair rate falls with more "
                   "pairs (12.2 -> 5.5 Gbit/s); nothing the model shares between VMs explains "
                   "it, so it predicts linear growth (+49 %, +78 % at 10 and 14 VMs)")
def test_p08_bridge_within_target():
    vms, gbps, pred, err = p08("cloudhv-virtio-net")
    assert np.median(err[2:]) <= 0.25


# ------------------------------------------------------------------------------- P10
def p10_iops(cores: int, scale: float, host_cores: int = P10_HOST_CORES) -> float:
    d = iov.HostProfile.default()
    host = d.replace(guest_blk_us=0.5, guest_irq_us=0.0, device_blk_us=1.0, syscall_us=0.0,
                     irqfd_inject_us=0.0, virtqueue_us=d["virtqueue_us"] * scale)
    g = iov.Guest("vhost-user-blk", iov.Workload.closed(1, 128), count=2 * cores, vcpus=1,
                  busy_poll=True, options={"polling": True})
    sc = iov.Scenario([g], host=host, cores=host_cores, shared={"backend": cores})
    return iov.analyze(sc).throughput_per_s


def p10(host_cores: int = P10_HOST_CORES):
    cores, iops = rows("P10", "vfio-user-nvme", "target_cores")
    s = fit_scale(lambda c, k: p10_iops(c, k, host_cores), cores[:2], iops[:2])
    pred = np.array([p10_iops(c, s, host_cores) for c in cores])
    err = np.abs(pred / iops - 1)
    print(f"\nP10 (host cores {host_cores}): back-end scale {s:.3g}; target cores "
          f"{cores.tolist()}: measured {(iops / 1e6).tolist()} M IOPS, predicted "
          f"{np.round(pred / 1e6, 2).tolist()}; errors {np.round(err, 3).tolist()}; median over the "
          f"held-out points {np.median(err[2:]):.1%}")
    return cores, iops, pred, err


def test_p10_rises_peaks_and_falls():
    cores, iops, pred, err = p10()
    peak = int(np.argmax(pred))
    assert np.all(np.diff(pred[:peak + 1]) > 0) and np.all(np.diff(pred[peak:]) < 0)
    assert 0 < peak < len(pred) - 1
    # the rising part (6 and 10 target cores, not fitted) is within the target
    assert np.all(err[2:4] <= 0.25)


def test_p10_no_fall_when_the_host_has_cores_for_every_spinning_thread():
    # the model invents no decline: with a core for every spinning thread it keeps rising
    cores, iops = rows("P10", "vfio-user-nvme", "target_cores")
    pred = [p10_iops(c, 0.5, host_cores=3 * int(cores.max())) for c in cores]
    assert np.all(np.diff(pred) > 0)


@pytest.mark.xfail(strict=True, reason="the measured fall (17.78M -> 7.42M IOPS from 10 to 14 "
                   "target cores) is far steeper than time-shared spinning threads give "
                   "(17.3M at 14 cores with 32 host cores)")
def test_p10_within_target():
    cores, iops, pred, err = p10()
    assert np.median(err[2:]) <= 0.25
