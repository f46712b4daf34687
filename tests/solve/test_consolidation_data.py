"""Consolidation sweeps against published measurements (io_comparisons.csv, P08 and P10).

Protocol (issue 12): contention parameters stay at their published defaults
(costs.toml: lock_waiter_us, poll_scan_us, sched_slice_us, wakeup_us, smt_yield_ratio); only the device or
back-end speed is fitted, on the first two points of each sweep (one scale factor, least
squares in log); the remaining points are predictions. Each module-level constant below is
an assumption the rows leave open, stated where it is used.

What the tests show (printed by ``pytest -s tests/solve/test_consolidation_data.py``):

* P08 OVS-DPDK vhost-user, 2-14 VMs through one polling core: predicted flat-to-falling
  (the PMD saturates; its scan over more queues costs a little more per packet), median
  error over VMs 10 and 14 within the 25 % target.
* P08 kernel bridge (Cloud Hypervisor virtio-net over tap): predicted rising and bending, as
  measured (the rate per iperf pair falls from 12.2 Gbit/s at 1 pair to 5.5 at 7). Each
  bridge VM is CPU-bound (its vCPU and its VMM net worker both near a full core), and the
  source places every VM on NUMA node 0: 10 physical cores with 2 hyper-threads each. Past
  5 VMs the busy threads outnumber the physical cores and pair up on siblings, which give
  1.3 times one thread's throughput per core (``smt_yield_ratio``, Marr et al. 2002), so
  the per-VM rate falls; past ~7 VMs the node's hardware threads are all busy. Median
  error over VMs 10 and 14 within the 25 % target. The same host counted as 20 full cores
  misses it (49 % and 39 % off), and so did the former reading (the scale on the wire
  delay, 40 cores: 64 %). What the model still lacks: the measured aggregate keeps rising
  from 10 to 14 VMs (+17 %) where the prediction barely does (+2 %): the host kernel's
  forwarding work, which the source says "can use more computing resources", is not a
  thread in the model and cannot spread to node 1.
* P10 SPDK vfio-user target (the catalog's ``vfio-user-nvme``), 2 VMs per target core:
  predicted rising to the point where the spinning threads (each target core and its VMs'
  polling vCPUs) outnumber the host cores, then falling (time-shared pollers that must run
  together). The rise is within the target; the fall is far shallower than measured. How
  deep the predicted fall is depends on the host's cores, which P10 does not give; the test
  prints the held-out median for 26-48 host cores. The target is met only with <= 28 cores
  (fewer than the 30 spinning threads at the measured peak), and even then only on the
  22-core point: the 14- and 18-core points stay >= 54 % off at every host size tried, as
  time-sharing at k = 2 pollers per request cannot lose 70 % of the per-core rate from
  30 to 42 spinning threads. The host is not chosen from those rows: it stays at the
  stated assumption and the target is not met (xfail, strict). The reporter's own re-run
  of the same sweep (SPDK 24.01 with QEMU vfio-user-p3.1, same issue, 2024-03-01) measured
  10.8M IOPS at 10 cores where this row has 17.78M: the peak itself moves by 40 % between
  versions of the same stack, which bounds what any model of these rows can claim.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

import iovmodel as iov

# -- P08 assumptions: iperf3 TCP bulk between VM pairs; a segment of 64 KiB (TSO/GRO) as the
# unit of I/O, 16 segments in flight per VM (a TCP window); each VM 1 vCPU ("each VM 1
# dedicated core"); "pmd_cores_per_node=1": the VMs' ports are served by one PMD core
# (issue 12). Host: the source (virtink docs/vhost-user-net-test.md, "Build Test
# Environment") allocates every VM's core and hugepage "from NUMA node0", whose CPUs are
# 0-9 and 20-29 (the row's hardware column): 20 hardware threads, which we read as 10
# physical cores with 2 hyper-threads each (Linux numbers the second thread of core n as
# n + 20 on a 2 x 10-core host; an assumption: the source does not say "hyper-threads").
# The VMs' VMM threads (Cloud Hypervisor's net workers) run with their VM on node 0 (the
# VM's pod is placed there); the host kernel's forwarding (softirq) is not a thread in the
# model and takes no core. The fitted speed is the same for both paths: the per-packet and
# per-byte costs (virtqueue_us, copy_ns_per_byte), i.e. the back-end's work per segment.
# (Until issue 12's second pass the bridge's fitted speed was the wire-and-peer delay,
# device_net_us, on 40 full cores: a window-bound VM that no core count bends, 64 % off.
# Of the readings tried then, scaling copy_ns_per_byte alone on the node-0 host gives a
# median of 8 % but a prediction 0.5 % lower at 14 VMs than at 10, i.e. not rising.)
P08_SEGMENT_BYTES = 65536
P08_WINDOW = 16
P08_HOST_CORES = 20
P08_THREADS_PER_CORE = 2

# -- P10 assumptions (block size, vCPUs per VM and host cores are not in the text):
# 4 KiB reads; each VM runs one fio job at QD 128 on 1 vCPU and polls its completions (as
# SPDK's NVMe driver in a guest does: busy_poll, no completion interrupt, so guest_irq_us and
# the target's eventfd/irqfd are 0), with guest_blk_us = 0.5 us (a polled user-space driver,
# not the kernel block layer's 4 us; reasoning, not a measurement); a null/malloc bdev
# (device_blk_us = 1 us: 17.8M IOPS is beyond any one NVMe device); the target is the
# catalog's vfio-user-nvme path (an SPDK poll-group core polls the doorbells in shared
# memory), its reactors the shared back-end with one server per target core.
# Host cores: 32 (a 2-socket 16-core host), an assumption: P10 does not say. The rows bound
# it only under the model's own reading of the fall (spinning threads outnumbering cores
# between 30 and 42 threads); the value is not chosen from the held-out rows
# (P10_HOST_CORE_RANGE: the sensitivity the test prints). Whether those are hardware threads
# of hyper-threaded cores is not stated either: threads_per_core = 1 (each a full core).
P10_HOST_CORES = 32
P10_HOST_CORE_RANGE = (26, 28, 30, 32, 36, 42, 48)


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
def p08_gbps(path: str, vms: int, scale: float, contention: bool = True,
             threads_per_core: int = P08_THREADS_PER_CORE, smt_yield: float | None = None
             ) -> float:
    d = iov.HostProfile.default()
    if smt_yield is not None:
        d = d.replace(smt_yield_ratio=smt_yield)
    w = iov.Workload.closed(1, P08_WINDOW, size_bytes=P08_SEGMENT_BYTES)
    # the back-end's speed: the PMD's per-packet work (vhost-user: DPDK's vhost library) or
    # the VMM net worker's and the guest's (bridge), and the per-byte copies
    per_pkt = "dpdk_vhost_pkt_us" if path == "vhost-user-net" else "virtqueue_us"
    host = d.replace(**{per_pkt: d[per_pkt] * scale},
                     copy_ns_per_byte=d["copy_ns_per_byte"] * scale)
    shared = {"backend": 1} if path == "vhost-user-net" else {}
    g = iov.Guest(path, w, count=vms, vcpus=1)
    sc = iov.Scenario([g], host=host, cores=P08_HOST_CORES, shared=shared, contention=contention,
                      threads_per_core=threads_per_core)
    return iov.analyze(sc).throughput_per_s * P08_SEGMENT_BYTES * 8 / 1e9


def p08(path: str, **kw):
    vms, gbps = rows("P08", path, "vms")
    s = fit_scale(lambda v, k: p08_gbps(path, v, k, **kw), vms[:2], gbps[:2])
    pred = np.array([p08_gbps(path, v, s, **kw) for v in vms])
    err = np.abs(pred / gbps - 1)
    print(f"\nP08 {path} {kw or ''}: scale {s:.3g}; VMs {vms.tolist()}: measured "
          f"{gbps.tolist()} Gbit/s, predicted {np.round(pred, 2).tolist()}; errors "
          f"{np.round(err, 3).tolist()}; median over the held-out points {np.median(err[2:]):.1%}")
    return vms, gbps, pred, err


def test_p08_vhost_user_flat_or_falling_within_target():
    vms, gbps, pred, err = p08("vhost-user-net")
    assert np.all(np.diff(pred) <= 0.02 * pred[:-1])  # flat or falling: the PMD saturates
    assert np.median(err[2:]) <= 0.25


def test_p08_bridge_rises():
    vms, gbps, pred, err = p08("cloudhv-virtio-net")
    assert np.all(np.diff(pred) > 0)


def test_p08_bridge_within_target():
    vms, gbps, pred, err = p08("cloudhv-virtio-net")
    assert np.median(err[2:]) <= 0.25


def test_p08_bridge_bends_because_node0_cores_share_their_hyperthreads():
    # the mechanism, not the fit: the same node-0 host counted as 20 full cores (no SMT)
    # predicts near-linear growth to 10 VMs, far off. The target holds for any
    # smt_yield_ratio in 0-0.5 (median 7-21 %); the rise from 10 to 14 VMs needs >= 0.2
    # (below, the node's hardware threads are full at 10 VMs and the prediction is flat:
    # +0.3 % at 0.2, +2 % at the default 0.3, +3 % at 0.4 against the measured +17 %)
    *_, err_nosmt = p08("cloudhv-virtio-net", threads_per_core=1)
    assert np.median(err_nosmt[2:]) > 0.25
    for y in (0.25, 0.4):
        *_, pred, err = p08("cloudhv-virtio-net", smt_yield=y)
        assert np.median(err[2:]) <= 0.25 and np.all(np.diff(pred) > 0)


# ------------------------------------------------------------------------------- P10
def p10_iops(cores: int, scale: float, host_cores: int = P10_HOST_CORES) -> float:
    d = iov.HostProfile.default()
    host = d.replace(guest_blk_us=0.5, guest_irq_us=0.0, device_blk_us=1.0, syscall_us=0.0,
                     irqfd_inject_us=0.0, virtqueue_us=d["virtqueue_us"] * scale)
    g = iov.Guest("vfio-user-nvme", iov.Workload.closed(1, 128), count=2 * cores, vcpus=1,
                  busy_poll=True)
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
                   "target cores) is far steeper than time-shared spinning threads give (17.3M "
                   "at 14 cores with 32 host cores; median held-out error 61 %); the target is "
                   "met only on hosts of <= 28 cores, which P10 does not give, and then only "
                   "through the 22-core point")
def test_p10_within_target():
    for hc in P10_HOST_CORE_RANGE:  # what the unstated host size does to the prediction
        p10(hc)
    cores, iops, pred, err = p10()
    assert np.median(err[2:]) <= 0.25
