"""P02 and P08 (io_comparisons, single-VM rows) predicted from a profile fitted on the bundled
data without these two sources (``benchmarks/bench_net.py`` prints every row and pair).

Measured numbers come from the rows (Jason Wang's in_order series for P02; virtink's
vhost-user network test for P08, data/SOURCES.md); nothing here is fitted to them.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_net.py"


def _bench():
    spec = importlib.util.spec_from_file_location("iovmodel_bench_net", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def evaluated():
    b = _bench()
    out, pairs = b.evaluate(b.fitted_profile())
    return out, pairs


def _row(out, source, path, metric, **match):
    q = out[(out["source"] == source) & (out["path"] == path) & (out["metric"] == metric)]
    for k, v in match.items():
        q = q[q["options"].str.contains(f"{k}={v}", regex=False)] if k != "rw" else q[q["rw"] == v]
    return q


def test_every_row_is_predicted(evaluated):
    out, pairs = evaluated
    assert len(out) == 35 and np.isfinite(out["predicted"]).all() and (out["predicted"] > 0).all()
    assert len(pairs) == 17


@pytest.mark.xfail(strict=True, reason="median |error| over P02 + P08's 35 single-VM rows is "
                   "33.2 % with the fitted profile (P02 34.0 %, P08 31.1 %; 31.5 %, P02 31.5 % "
                   "and P08 30.9 %, while Firecracker's Async engine's work after its pass grew "
                   "its batch and the fit's interrupt costs with it, irqfd_inject_us 2.7 -> 1.6 "
                   "us, posted_irq_us 2.7 -> 0.74 us; P08 33.1 % before its Cloud "
                   "Hypervisor VMs' taps crossed their pods' bridge and veth pair, pod_net; "
                   "32.8 % before QEMU's e1000 "
                   "copied each frame twice, which moves the fitted profile; 33.6 % before its qperf "
                   "host to host reached the far host's stack, 37.8 % before Cloud "
                   "Hypervisor's worker shared its VM's core; 33.1 % before Firecracker's "
                   "block CPU rows were rescaled to fio's run; 31.4 % before the e1000 rows held their "
                   "vCPU through QEMU's transmit; 31.6 % before P01's null_blk rows took the "
                   "preset's deterministic timer; 35.5 % before Firecracker's block rows "
                   "took their per-pass batch, which moved the fit's wakeup_us 0.70 -> 1.69 us "
                   "and halt_wake_us 5.1 -> 1.8 us; 39 % before a flood's guest driver work "
                   "took its side's cost, 43 % before vhost-net's TX flood took the batched "
                   "XDP transmit, 45 % before VM-to-VM exchanges took the peer VM's hops and "
                   "P08's rows their cores; 45.7 % zero-shot, 52 % before those two): "
                   "vhost-net's pktgen TX (5.2-6.2 Mpps measured, 3.9 predicted "
                   "from Eugenio Perez's 4.2 Mpps of 2020 on a 2.2 GHz Broadwell) and RX "
                   "(3.5-3.6 Mpps, 1.4 predicted from the fit's vhost_us, 0.67 us a packet; "
                   "1.7 from the default 0.54, Eugenio Perez's worker-bound RX of 2020), "
                   "testpmd's XDP_DROP RX (9.2-10.8 Mpps, 7.1 predicted), "
                   "Cloud Hypervisor's exchanges through the bridge (40-49 us one way, 27-31 "
                   "predicted, 29-31 before Firecracker's Async engine stopped batching on work "
                   "after its pass, 27-29 before the pod network, 23-26 before the shared core) "
                   "and the TCP streams across hosts (9.6-11 Gbit/s, 17-24 predicted) are far "
                   "off")
def test_median_error_within_25_percent(evaluated):
    out, _ = evaluated
    assert np.median(np.abs(out["rel_error"])) <= 0.25


@pytest.mark.xfail(strict=True, reason="14 of 17 same-host back-end pairs ordered right "
                   "with the fitted profile: P02 TX vhost-net 1.11x testpmd is predicted 0.50x "
                   "(the guest's pktgen binds testpmd, the vhost worker binds vhost-net); P08's "
                   "tcp_bw across hosts, vhost-user 0.87x and 0.90x the bridge, is predicted "
                   "1.40x and 1.41x (the PMD's copies to and from the NIC, which the source "
                   "blames, are not what binds the model's vhost-user stream: the 25 GbE line "
                   "rate is)")
def test_every_same_host_pair_ordered(evaluated):
    _, pairs = evaluated
    assert all(p["right"] for p in pairs)


def test_what_the_model_gets_right(evaluated):
    out, pairs = evaluated
    # the NIC's line rate less framing: iperf host to host on 25 GbE, 23.5 Gbit/s measured
    nat = _row(out, "P08", "native-net", "throughput_gbps")
    assert abs(nat["rel_error"].iloc[0]) < 0.01
    # P02 TX through testpmd is bound by the guest's pktgen on its one vCPU, whose cost per
    # packet (guest_pkt_us) only the rest of the bundled data set: 7.45M predicted against
    # 5.6-5.7M measured (+31-33 %; +23-25 % before the e1000 rows' vCPU was held through
    # QEMU's transmit in the TDT write, which left S31's 140 kpps to cheaper exits and a
    # cheaper guest packet, guest_pkt_us 0.158 -> 0.134 us)
    tx = _row(out, "P02", "vhost-user-testpmd", "packets_per_s", rw="tx")
    assert (tx["rel_error"].abs() < 0.35).all()
    # same host: DPDK's polling back-end receives faster than vhost-net's worker (P02 RX),
    # answers an exchange sooner than Cloud Hypervisor's tap + bridge (P08 latency), and
    # moves more datagrams and bytes than the bridge VMs, whose one core each runs both the
    # vCPU and the VMM's net worker (P08 udp_bw, tcp_bw on one host)
    for p in pairs:
        if p["source"] == "P08" and p["measured_ratio"] < 1 and p["test"] == "tcp_bw":
            continue  # across hosts: in the xfail above
        if p["source"] == "P08" or p["rw"] == "rx":
            assert p["right"], p
    # P08 one host: a VM-to-VM exchange through OVS-DPDK is the two VMs' own hops, one way
    # 12.6 us predicted against udp_lat's 10.0 (+26 %) and tcp_lat's 11.7 (+8 %; bench_net.py,
    # 2026-12-07; 9.8 us, -2 and -16 %, before Firecracker's block CPU rows were rescaled to
    # fio's run, which moved the fit's irqfd_inject_us 0.35 -> 2.7 us); the bridge VMs'
    # datagram rate is their shared cores' (141-174k/s measured; -33 to -24 % since each
    # datagram crosses both pods' bridge and veth pair, path option pod_net, which P08's
    # Virtink pods give and OVS-DPDK's vhost-user ports bypass; -26 to -18 % before it, when
    # the missing crossing offset the fitted guest stack's UDP send, guest_net_us 9.1 us an
    # exchange, fitted on TCP rows; -25 to -16 % before each worker pass on the receiving
    # side switched its VM's vCPU back in, path option shared_core: bench_net.py, 2026-12-08)
    vu = _row(out, "P08", "vhost-user-net", "latency_us")
    one = vu[vu["options"].str.contains("same host")]
    assert len(one) == 2 and (one["rel_error"].abs() < 0.30).all()
    ch = _row(out, "P08", "cloudhv-virtio-net", "packets_per_s")
    assert len(ch) == 4 and (ch["rel_error"].abs() < 0.35).all()
    # their exchanges, one way: 28-31 us predicted against 40-49 measured (-37 to -30 %; -36
    # to -28 % while Firecracker's Async engine's work after its pass grew its batch, which
    # held the fit's irqfd_inject_us at 2.7 us, now 1.6; -40 to -33 % before the pod network)
    lat = _row(out, "P08", "cloudhv-virtio-net", "latency_us")
    assert len(lat) == 6 and (lat["rel_error"] < 0).all() and (lat["rel_error"] > -0.40).all()
    # and OVS-DPDK with userspace TSO (as P08 configured it) streams 23.4 Gbit/s between them
    bw = _row(out, "P08", "vhost-user-net", "throughput_gbps")
    assert abs(bw[bw["options"].str.contains("same host")]["rel_error"].iloc[0]) < 0.25


def test_fit_reads_the_line_rate_from_an_iperf_row():
    # a host-to-host iperf stream of 23.5 Gbit/s is the line rate less framing: the line
    # carries 1538 B per 1448 B of payload (IEEE 802.3), so 8 / (23.5 x 1538 / 1448) ns per byte
    import warnings

    import pandas as pd

    import iovmodel as iov

    df = pd.DataFrame([{"source": "x", "path": "native-net", "metric": "throughput_gbps",
                        "value": 23.5, "unit": "Gbps", "rw": "",
                        "options": "scope=host-to-host;test=iperf"}])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = iov.fit(df, prior=None)  # least squares alone: one row, one cost, an exact fit
    assert list(f.params.index) == ["nic_ns_per_byte"]
    assert f.profile["nic_ns_per_byte"] == pytest.approx(8 / (23.5 * 1538 / 1448), rel=1e-4)


def test_an_offered_rate_beyond_capacity_predicts_the_delivered_rate():
    # pktgen into a guest at 1.8 Mpps (issue 13): no NaN, the delivered rate of the M/M/1/K ring
    import pandas as pd

    import iovmodel as iov
    from iovmodel.fit import predict

    host = iov.HostProfile.default().replace(vhost_us=1.0)  # capacity below the offered rate
    df = pd.DataFrame([{"source": "x", "path": "vhost-net", "metric": "packets_per_s",
                        "value": 1e6, "unit": "1/s", "rw": "rx", "rate_per_s": 1.8e6,
                        "options": ""}])
    out = predict(df, host)
    r = iov.analyze("vhost-net", host, iov.Workload.of(
        iov.Traffic.flood(60, rate_pps=1.8e6, direction="rx")))
    assert r.dropped_per_s > 0
    assert out["predicted"].iloc[0] == pytest.approx(r.packets_per_s, rel=1e-12)
