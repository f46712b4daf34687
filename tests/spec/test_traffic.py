"""Traffic: units of work of network workloads, and the bad input they refuse."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

import iovmodel as iov
from iovmodel.spec.traffic import Traffic


@pytest.mark.parametrize("size", [0, -5])
def test_packet_size_must_be_positive(size):
    for make in (Traffic.stream, Traffic.flood, Traffic.rr):
        with pytest.raises(iov.ParameterError, match=str(size)):
            make(size)


def test_udp_datagram_beyond_mtu_needs_fragments():
    # RFC 791 / 768: 1500 - 20 B IPv4 - 8 B UDP = 1472 B fit one frame
    Traffic.stream(1472, "udp")
    with pytest.raises(iov.ParameterError, match=r"1473 B.*1472 B"):
        Traffic.stream(1473, "udp")
    t = Traffic.stream(4000, "udp", fragment=True)
    # 4008 B of UDP datagram in 1480-byte IPv4 fragments: 3 frames
    assert t.units().frames == 3


def test_mss_larger_than_the_segment_is_refused():
    # 1500 - 20 (IPv4) - 32 (TCP + RFC 7323 timestamps) = 1448
    assert Traffic.stream(65536).segment_bytes == 1448
    with pytest.raises(iov.ParameterError, match=r"mss 1460.*1448"):
        Traffic.stream(65536, mss=1460)
    assert Traffic.stream(65536, mss=1460, mtu=1512).segment_bytes == 1460


def test_flood_frame_larger_than_the_mtu_is_refused():
    with pytest.raises(iov.ParameterError, match="1515"):
        Traffic.flood(1515)


def test_bad_words_name_the_value():
    with pytest.raises(iov.ParameterError, match="sideways"):
        Traffic.stream(1000, direction="sideways")
    with pytest.raises(iov.ParameterError, match="rate_pps"):
        Traffic.stream(1000, rate_pps=1e6)
    with pytest.raises(iov.ParameterError, match="Traffic"):
        iov.Workload.closed(1, 1, traffic="tcp")


def test_tso_super_packets_and_segmentation():
    t = Traffic.stream(131072)
    u = t.units(path_tso=True)
    # tcp_tso_autosize: whole MSS up to 64 KiB minus headers: floor(65470 / 1448) = 45 MSS
    assert u.payload_bytes == 45 * 1448 and u.frames == 45
    v = t.units(path_tso=False)  # a back-end without virtio_net_hdr: the guest segments
    assert v.payload_bytes == 1448 and v.frames == 1
    # IEEE 802.3: each full frame is 1448 + 32 + 20 + 14 B, plus FCS 4, preamble 8, IFG 12
    assert v.wire_bytes == 1448 + 32 + 20 + 14 + 4 + 8 + 12


def test_workload_of_traffic():
    w = iov.Workload.of(Traffic.flood(60, rate_pps=1e6))
    assert w.is_open and w.rate_per_s == 1e6 and w.traffic.kind == "flood"
    s = iov.Workload.of(Traffic.stream(65536, streams=2))
    assert not s.is_open and s.jobs == 2 and s.traffic.saturating
    assert "traffic=Traffic.stream(65536" in repr(s)
    assert s.replace(size_bytes=100).traffic is s.traffic


@pytest.mark.parametrize("write", [64, 1460, 16384, 131072, 1048576])
def test_a_bulk_streams_writes_leave_as_full_packets(write):
    # net/ipv4/tcp.c tcp_sendmsg_locked appends each write to the send queue's tail skb until
    # the size goal is used up: a saturating stream's packets do not depend on the write size
    t = Traffic.stream(write)
    assert t.units(path_tso=True).payload_bytes == 45 * 1448
    assert t.units(path_tso=False).payload_bytes == 1448


def test_small_writes_are_bound_by_one_system_call_each():
    # every write is at least one send() on the sending vCPU: a stream of 64-byte writes moves
    # at most 64 * 8 bits per syscall_us (1.02 Gbit/s at the default 0.5 us), whatever path
    host = iov.HostProfile.default()
    ceiling = 64 * 8 / host["syscall_us"] / 1000  # Gbit/s
    for name in ("vhost-net", "virtio-net", "firecracker-virtio-net"):
        r = iov.analyze(name, host, iov.Workload.of(Traffic.stream(64, direction="tx")))
        assert r.throughput_gbps <= ceiling * (1 + 1e-9), name
        assert r.bottleneck == "vcpu", name
        big = iov.analyze(name, host, iov.Workload.of(Traffic.stream(131072, direction="tx")))
        assert big.throughput_gbps > 4 * r.throughput_gbps, name


def test_an_iperf3_mss_row_is_a_stream_of_that_segment():
    # iperf3 -M sets TCP_MAXSEG, a ceiling: the kernel takes the smaller of it and what the
    # MTU carries (net/ipv4/tcp_output.c tcp_sync_mss), 1448 B with timestamps at MTU 1500
    from iovmodel.calibrate.rows import traffic_of

    t, _ = traffic_of({"mss": 1460}, "rx", "throughput_gbps", None, None, 6)
    assert (t.kind, t.size_bytes, t.mss, t.streams) == ("stream", 131072, 1448, 6)
    t, _ = traffic_of({"mss": 96}, "tx", "throughput_gbps", None, None, 6)
    assert t.mss == 96 and t.units(path_tso=True).payload_bytes == (65536 - 66) // 96 * 96
    df = iov.datasets.load("firecracker_docs")
    one_way = df["options"].str.contains("mss=", na=False) & df["rw"].isin(["tx", "rx"])
    f = iov.fit(df[one_way], free=["copy_ns_per_byte"])
    assert not any(n.startswith("option keys ignored") and "mss" in n for n in f.notes)


def test_a_back_end_that_copies_what_the_guest_sends_copies_what_it_receives():
    # a userspace back-end moves each packet through a tap read() or write() (the kernel
    # copies it between the skb and the buffer): Firecracker and Cloud Hypervisor read the
    # tap into the guest's rx buffers as they write the guest's tx buffers to it
    from iovmodel.spec.catalog import paths

    for name in paths()["name"]:
        p = iov.path(name)
        if p.device != "net":
            continue
        hops = list(p.active_hops())
        wire = next((i for i, h in enumerate(hops) if h.resource == "wire"), None)
        if wire is None:
            continue

        def copying(hs):
            return {h.resource for h in hs if h.resource not in ("vcpu", "host")
                    and "copy_ns_per_byte" in str(h.cost)}

        assert bool(copying(hops[:wire])) == bool(copying(hops[wire + 1:])), name


# e1000's writer is the vCPU: QEMU transmits inside the guest's TDT write, on the vCPU's
# thread under the global mutex (hw/net/e1000.c set_tctl -> start_xmit), holding the vCPU
@pytest.mark.parametrize("name, writer", [("emulated-e1000", "vcpu"), ("virtio-net", "bql"),
                                           ("vhost-net", "vhost"),
                                           ("firecracker-virtio-net", "vmm"),
                                           ("cloudhv-virtio-net", "vmm_worker")])
def test_a_tap_back_end_pays_the_host_stack_of_what_it_sends(name, writer):
    # a write to a tap runs the host's receive path in the writing thread (Linux
    # drivers/net/tun.c: tun_get_user -> tun_rx_batched -> netif_receive_skb under
    # local_bh_disable), while what the host sends the guest is only queued for the reader
    # (tun_net_xmit): with a host stack of 20 us a packet, the back-end thread moves at most
    # 50k of the guest's packets a second, and the guest's receive stream is not held to it
    from iovmodel.spec.traffic import path_packets

    host = iov.HostProfile.default().replace(host_net_us=20.0)
    pk = path_packets(name)
    unit = Traffic.stream(131072).units(pk.tso, pk.mtu).payload_bytes
    ceiling = unit * 8 / 20e-6 / 1e9  # Gbit/s
    tx = iov.analyze(name, host, iov.Workload.of(Traffic.stream(131072, direction="tx")))
    rx = iov.analyze(name, host, iov.Workload.of(Traffic.stream(131072, direction="rx")))
    assert tx.bottleneck == writer
    assert tx.throughput_gbps <= ceiling * (1 + 1e-9)
    # the receive stream is not held to the host's stack: the same with a cheap one, where
    # the transmit stream is faster (1.5x for e1000, whose vCPU also pays its exits; 3x and
    # more for the others)
    cheap = iov.HostProfile.default().replace(host_net_us=0.5)
    rx_cheap = iov.analyze(name, cheap, iov.Workload.of(Traffic.stream(131072, direction="rx")))
    tx_cheap = iov.analyze(name, cheap, iov.Workload.of(Traffic.stream(131072, direction="tx")))
    assert rx.throughput_gbps == pytest.approx(rx_cheap.throughput_gbps, rel=1e-6)
    assert tx.throughput_gbps < 0.7 * tx_cheap.throughput_gbps


@pytest.mark.parametrize("mss", ["abc", 1460.5, 0, True])
def test_a_bad_mss_option_names_the_row(mss):
    df = pd.DataFrame([{"path": "firecracker-virtio-net", "metric": "throughput_gbps",
                        "value": 20.0, "unit": "Gbps", "jobs": 6, "rw": "rx",
                        "options": f"vcpus=8;mss={mss}"}])
    with pytest.raises(iov.FitError, match=r"row 0.*mss"):
        iov.fit(df, free=["copy_ns_per_byte"])


def test_a_flood_between_a_guest_and_its_host_bypasses_the_host_stack_by_default():
    # pktgen / XDP_DROP benchmarks consume or make the frames at the tap (issue 13's P02:
    # "pktgen in the guest + XDP_DROP on TAP", "pktgen on TAP ... XDP_DROP in the guest");
    # sockets, streams and frames the host forwards to another VM or machine take its stack
    assert Traffic.flood(60, direction="tx").host_stack is False
    assert Traffic.flood(60, direction="rx").host_stack is False
    assert Traffic.flood(60, direction="vm2vm").host_stack is True
    assert Traffic.flood(60, direction="hosts").host_stack is True
    assert Traffic.stream(131072, direction="tx").host_stack is True
    assert Traffic.rr(1).host_stack is True
    assert Traffic.flood(60, direction="tx", host_stack=True).host_stack is True
    assert "host_stack=True" in repr(Traffic.flood(60, host_stack=True))
    assert "host_stack" not in repr(Traffic.flood(60))
    with pytest.raises(iov.ParameterError, match="host_stack"):
        Traffic.flood(60, host_stack="no")


def test_a_vhost_net_flood_pays_the_driver_level_host_work_not_the_host_stack():
    # TX: the vhost worker hands each frame to the tap, whose XDP program drops it
    # (tun_xdp_one): a tap with an XDP program is a SOCK_XDP socket, so handle_tx builds XDP
    # buffers and passes them in batches (drivers/vhost/net.c vhost_net_build_xdp):
    # vhost_xdp_tx_us + host_pkt_us + the copy, not vhost_us + host_net_us; RX: pktgen's
    # xmit into the tap (tun_net_xmit) is the host's part, and the worker's handle_rx takes
    # an skb a packet (vhost_us). With host_stack=True both are the stack.
    D = iov.HostProfile.default().replace(host_net_us=7.0, host_pkt_us=0.05,
                                          vhost_xdp_tx_us=0.3)
    def hop(direction, name, **kw):
        r = iov.analyze("vhost-net", D, iov.Workload.of(Traffic.flood(60, direction=direction,
                                                                      **kw)))
        return r.breakdown.set_index("hop").loc[name, "service_us"]
    copy = D["copy_ns_per_byte"] * 60 / 1000
    tx = "vhost worker: handle_tx -> tun"
    assert hop("tx", tx) == pytest.approx(0.3 + 0.05 + copy, rel=1e-12)
    assert hop("tx", tx, host_stack=True) == pytest.approx(D["vhost_us"] + 7.0 + copy, rel=1e-12)
    rx = "host network stack (rx softirq)"
    assert hop("rx", rx) == pytest.approx(0.05, rel=1e-12)
    assert hop("rx", "vhost worker: handle_rx") == pytest.approx(D["vhost_us"] + copy, rel=1e-12)
    assert hop("rx", rx, host_stack=True) == pytest.approx(7.0, rel=1e-12)
    # the default: Eugenio Perez's 4,208,772 pps of worker time for that TX (costs.toml)
    d = iov.HostProfile.default()
    per_packet = d["vhost_xdp_tx_us"] + d["host_pkt_us"] + d["copy_ns_per_byte"] * 64 / 1000
    assert per_packet == pytest.approx(1e6 / 4_208_772, rel=0.02)
    # the fit reads host_pkt_us from such a row: a pktgen TX rate made with 0.1 us gives it back
    truth = iov.HostProfile.default().replace(host_pkt_us=0.1)
    rate = iov.analyze("vhost-net", truth, iov.Workload.of(Traffic.flood(60))).packets_per_s
    df = pd.DataFrame([{"path": "vhost-net", "metric": "packets_per_s", "value": rate,
                        "unit": "1/s", "rw": "tx"}])
    f = iov.fit(df, free=["host_pkt_us"], prior=None)
    assert f.profile["host_pkt_us"] == pytest.approx(0.1, rel=1e-4)
    # and the worker's batched XDP transmit: such a row reads vhost_xdp_tx_us, not vhost_us
    truth = iov.HostProfile.default().replace(vhost_xdp_tx_us=0.4)
    df["value"] = iov.analyze("vhost-net", truth, iov.Workload.of(Traffic.flood(60))).packets_per_s
    f = iov.fit(df, free=["vhost_xdp_tx_us"], prior=None)
    assert f.profile["vhost_xdp_tx_us"] == pytest.approx(0.4, rel=1e-4)
    assert iov.fit(df, prior=None).profile["vhost_us"] == iov.HostProfile.default()["vhost_us"]


def test_a_flood_through_a_nic_bound_back_end_keeps_its_host_costs():
    # QEMU's af-xdp netdev sends through a physical NIC queue (packets.toml nic = "always"):
    # a flood's far end is the wire, and its skb mode's generic XDP keeps host_net_us
    D = iov.HostProfile.default().replace(host_net_us=7.0, host_pkt_us=0.05)
    r = iov.analyze(iov.path("af-xdp", zerocopy=False), D,
                    iov.Workload.of(Traffic.flood(60, direction="tx")))
    hop = r.breakdown.set_index("hop").loc["host: generic XDP tx (skb mode)", "service_us"]
    assert hop == pytest.approx(D["guest_pkt_us"] + 7.0, rel=1e-12)


@pytest.mark.parametrize("name", ["vhost-user-net", "cloudhv-virtio-net", "vhost-net"])
def test_an_exchange_between_two_vms_on_one_host_takes_the_peers_hops(name):
    # VM to VM on one host, the same path at both ends: the request through this VM's send
    # hops and the peer's receive hops, the answer through the peer's send hops and this
    # VM's receive hops; nothing waits for a remote end (the catalog's wire-and-peer hop).
    # At one exchange in flight nothing queues: the round trip is twice the path's hops
    # without the wire, each hop's mean as the catalog states it (count x cost)
    D = iov.HostProfile.default()
    hosts = iov.analyze(name, D, iov.Workload.of(Traffic.rr(1, direction="hosts")))
    b = hosts.breakdown.set_index("hop")
    own = b.loc[[h for h in b.index if h != "wire + peer"], "latency_us"]
    own = own.drop([h for h in own.index if h.startswith("NIC")], errors="ignore")
    r = iov.analyze(name, D, iov.Workload.of(Traffic.rr(1, direction="vm2vm")))
    assert r.latency_us == pytest.approx(2 * own.sum(), rel=1e-9)
    assert "wire + peer" not in set(r.breakdown["hop"])
    stations = set(r.breakdown["resource"])
    # the peer's vCPU is its own; a polling back-end core on the host is shared by both VMs
    assert "vcpu (receiver)" in stations
    if name == "vhost-user-net":
        assert "backend (receiver)" not in stations and "backend" in stations


@pytest.mark.parametrize("name", ["vhost-user-net", "cloudhv-virtio-net", "vhost-net"])
def test_an_exchange_with_a_vm_on_another_host_adds_the_link_each_way(name):
    # The same hops as VM to VM on one host, with the physical link between the hosts
    # crossed by the request and by the answer: at one exchange in flight nothing queues,
    # so the round trip is the same-host one plus twice (the NIC's line time for one way's
    # frame + wire_us). Across hosts nothing is shared: a polling back-end core
    # on the far host is the far VM's own. The far end's hops replace the fixed turnaround
    D = iov.HostProfile.default()
    same = iov.analyze(name, D, iov.Workload.of(Traffic.rr(1, direction="vm2vm")))
    far = iov.analyze(name, D, iov.Workload.of(Traffic.rr(1, direction="hosts", peer="vm")))
    b = far.breakdown
    link = b[b["hop"].str.startswith("physical link")]
    nic = b[b["resource"] == "nic"]
    assert len(link) == 2 and len(nic) == 2
    assert link["service_us"].tolist() == [D["wire_us"]] * 2
    # the line time of one way's frame at each crossing: a 1-byte TCP message in a 67-byte
    # frame (14 B Ethernet + 20 B IPv4 + 32 B TCP with timestamps) + 4 B FCS, 8 B preamble
    # and SFD, 12 B gap (IEEE 802.3) = 91 B on the wire
    assert nic["service_us"].tolist() == pytest.approx([91 * D["nic_ns_per_byte"] / 1000] * 2,
                                                       rel=1e-9)
    assert far.latency_us == pytest.approx(
        same.latency_us + link["latency_us"].sum() + nic["latency_us"].sum(), rel=1e-9)
    assert "wire + peer" not in set(b["hop"])
    assert "vcpu (receiver)" in set(b["resource"])
    if name == "vhost-user-net":
        assert "backend (receiver)" in set(b["resource"])
    # wire_us is the only cost between the two: 1 µs more each way, 2 µs more a round trip
    slower = iov.analyze(name, D.replace(wire_us=D["wire_us"] + 1.0),
                         iov.Workload.of(Traffic.rr(1, direction="hosts", peer="vm")))
    assert slower.latency_us - far.latency_us == pytest.approx(2.0, rel=1e-9)
    # a host at the far end (the default) keeps the catalog's fixed turnaround
    host = iov.analyze(name, D, iov.Workload.of(Traffic.rr(1, direction="hosts")))
    assert "wire + peer" in set(host.breakdown["hop"])


@pytest.mark.parametrize("name", ["virtio-net", "vhost-net", "cloudhv-virtio-net",
                                  "firecracker-virtio-net", "emulated-e1000"])
def test_a_guest_behind_nat_pays_conntrack_and_nat_wherever_it_pays_the_host_stack(name):
    # nat=True (a pod network's masquerade binding): every pass through the host stack between
    # the tap and the wire also passes conntrack + NAT. An exchange between two such VMs on
    # one host passes the host stack four times (each VM's send, each VM's receive), so at
    # one exchange in flight the round trip grows by 4 x host_nat_us exactly
    D = iov.HostProfile.default()
    w = iov.Workload.of(Traffic.rr(1, "udp", "vm2vm"))
    plain = iov.analyze(iov.path(name, nat=False), D, w)
    nat = iov.analyze(iov.path(name, nat=True), D, w)
    passes = sum("host_net_us" in str(h.cost) for h in iov.path(name).active_hops())
    assert passes == 2
    assert nat.latency_us - plain.latency_us == pytest.approx(4 * D["host_nat_us"], rel=1e-9)
    # a flood whose host end bypasses the host stack (XDP_DROP on the tap) passes no NAT
    f = iov.Workload.of(Traffic.flood(60, direction="tx"))
    assert iov.analyze(iov.path(name, nat=True), D, f).packets_per_s == pytest.approx(
        iov.analyze(iov.path(name), D, f).packets_per_s, rel=1e-12)
    with pytest.raises(iov.ParameterError, match="no option 'nat'"):
        iov.path("vhost-user-net", nat=True)


@pytest.mark.parametrize("name", ["virtio-net", "vhost-net", "cloudhv-virtio-net",
                                  "firecracker-virtio-net", "emulated-e1000"])
def test_a_guest_in_a_pod_crosses_its_pod_network_wherever_it_pays_the_host_stack(name):
    # pod_net=True (Virtink's bridge binding: the tap on a bridge with the pod's veth): each
    # pass through the host stack also crosses the pod's bridge and veth pair. Between two
    # such VMs on one node that is four passes a round trip (host_podnet_us is half of what
    # the probe measures for a frame crossing from one pod to the other), with NAT on top
    D = iov.HostProfile.default()
    w = iov.Workload.of(Traffic.rr(1, "udp", "vm2vm"))
    plain = iov.analyze(iov.path(name), D, w)
    pod = iov.analyze(iov.path(name, pod_net=True), D, w)
    assert pod.latency_us - plain.latency_us == pytest.approx(4 * D["host_podnet_us"],
                                                               rel=1e-9)
    both = iov.analyze(iov.path(name, pod_net=True, nat=True), D, w)
    assert both.latency_us - plain.latency_us == pytest.approx(
        4 * (D["host_podnet_us"] + D["host_nat_us"]), rel=1e-9)
    # the closed forms read the same host stack
    from iovmodel.network import host_stack_expr

    assert host_stack_expr(iov.path(name, pod_net=True, nat=True)) == \
        "host_net_us + host_nat_us + host_podnet_us"
    # a flood whose host end bypasses the host stack (XDP_DROP on the tap) crosses no pod
    f = iov.Workload.of(Traffic.flood(60, direction="tx"))
    assert iov.analyze(iov.path(name, pod_net=True), D, f).packets_per_s == pytest.approx(
        iov.analyze(iov.path(name), D, f).packets_per_s, rel=1e-12)
    with pytest.raises(iov.ParameterError, match="no option 'pod_net'"):
        iov.path("vhost-user-net", pod_net=True)


@pytest.mark.parametrize("name", ["virtio-net", "vhost-net", "cloudhv-virtio-net"])
def test_a_macvtap_takes_the_bridge_and_the_ip_layer_out_of_the_host_stack(name):
    # macvtap=True (libvirt's <interface type='direct'>): the VMM's fd is a macvtap on the
    # NIC, so every pass through the host between the guest's queue and the wire pays
    # host_macvtap_us in host_net_us's place; an exchange between two such VMs on one host
    # passes it four times (each VM's send and receive)
    D = iov.HostProfile.default()
    w = iov.Workload.of(Traffic.rr(1, "udp", "vm2vm"))
    tap = iov.analyze(iov.path(name), D, w)
    mvt = iov.analyze(iov.path(name, macvtap=True), D, w)
    assert tap.latency_us - mvt.latency_us == pytest.approx(
        4 * (D["host_net_us"] - D["host_macvtap_us"]), rel=1e-9)
    # a host whose macvtap costs what its bridge does predicts the tap's numbers
    same = D.replace(host_macvtap_us=D["host_net_us"])
    assert iov.analyze(iov.path(name, macvtap=True), same, w).latency_us == pytest.approx(
        tap.latency_us, rel=1e-12)
    # no masquerade below the IP layer, and no XDP hook or pktgen queue for a host flood
    with pytest.raises(iov.ParameterError, match="macvtap=True, nat=True"):
        iov.path(name, macvtap=True, nat=True)
    with pytest.raises(iov.ParameterError, match="macvtap=True, pod_net=True"):
        iov.path(name, macvtap=True, pod_net=True)
    # nor a way from the host's own stack to the guest (no hairpin): no traffic with its host
    for t in (Traffic.flood(60, direction="tx"), Traffic.stream(65536, direction="rx"),
              Traffic.rr(1, direction="tx")):
        with pytest.raises(iov.ParameterError, match="hairpin"):
            iov.analyze(iov.path(name, macvtap=True), D, iov.Workload.of(t))
    # across hosts it is the NIC's: a stream there runs
    assert iov.analyze(iov.path(name, macvtap=True), D, iov.Workload.of(
        Traffic.stream(65536, direction="hosts"))).throughput_per_s > 0
    # a fit of rows measured through a macvtap fits its cost, not the bridge's
    rows = pd.DataFrame({"path": name, "metric": "latency_us", "options": "macvtap=1",
                         "value": [1.1 * mvt.latency_us], "rw": "rr"})
    with warnings.catch_warnings():  # one row for every cost it reads: not identifiable
        warnings.simplefilter("ignore", iov.IovModelWarning)
        free = iov.fit(rows, free="all", prior=None).params.index
    assert "host_macvtap_us" in free and "host_net_us" not in free


def test_a_peer_the_direction_contradicts_is_refused():
    assert Traffic.rr(1).peer == "host" and Traffic.stream(direction="hosts").peer == "vm"
    assert Traffic.rr(1, direction="vm2vm").peer == "vm" and Traffic.flood().peer == "host"
    assert "peer='vm'" in repr(Traffic.rr(1, peer="vm")) and "peer" not in repr(Traffic.rr(1))
    with pytest.raises(iov.ParameterError, match="peer='vm' contradicts direction='tx'"):
        Traffic.stream(direction="tx", peer="vm")
    with pytest.raises(iov.ParameterError, match="peer='host' contradicts direction='vm2vm'"):
        Traffic.rr(1, direction="vm2vm", peer="host")
    with pytest.raises(iov.ParameterError, match="traffic peer must be one of"):
        Traffic.rr(1, peer="switch")


def test_a_stream_to_a_host_across_hosts_ends_at_the_nic():
    # peer="host": no receiving VM, the stream's path is this VM's send hops and the NIC
    D = iov.HostProfile.default()
    vm = iov.analyze("vhost-net", D, iov.Workload.of(Traffic.stream(direction="hosts")))
    host = iov.analyze("vhost-net", D,
                       iov.Workload.of(Traffic.stream(direction="hosts", peer="host")))
    assert any(r.endswith("(receiver)") for r in vm.breakdown["resource"])
    assert not any(r.endswith("(receiver)") for r in host.breakdown["resource"])
    assert host.breakdown["resource"].iloc[-1] == "nic"


def test_a_vm_to_vm_row_across_hosts_reaches_a_vm():
    from iovmodel.calibrate.rows import traffic_of

    t, _ = traffic_of({"scope": "vm-to-vm across hosts", "test": "udp_lat"}, "rr", "latency_us",
                      1)
    assert (t.direction, t.peer) == ("hosts", "vm")
    # host to host (qperf between two hosts' own stacks, a native-net row): the far end is
    # an endpoint on the same path, its own stack, not a fixed turnaround (device_net_us):
    # the exchange crosses the link twice and takes the far host's receive and send hops
    t, _ = traffic_of({"scope": "host-to-host", "test": "qperf tcp_lat"}, "rr", "latency_us", 1)
    assert (t.direction, t.peer) == ("hosts", "vm")
    r = iov.analyze("native-net", iov.HostProfile.default(), iov.Workload.of(t))
    hops = r.breakdown
    assert (hops["resource"] == "wire").sum() == 2 and "device_net_us" not in " ".join(
        hops["hop"])
    assert (hops["resource"] == "vcpu (receiver)").sum() == 3  # IRQ, receive, send


def test_two_vms_whose_threads_share_their_cores_stream_at_the_cores_bound():
    # P08's bridge VMs (Cloud Hypervisor under Virtink, one exclusive core per VM pod): the
    # vCPU and the VMM's net worker of each VM run on its one core. With the cores shared by
    # all four threads of a VM-to-VM UDP stream, the packet rate is at most
    # cores / (the threads' core time per packet) (utilisation law at the core pool), and
    # there it is bound; with a core for every thread it is the busiest thread's bound
    D = iov.HostProfile.default()
    w = iov.Workload.of(Traffic.stream(64, "udp", "vm2vm"))
    free = iov.analyze("cloudhv-virtio-net", D, w)
    shared = iov.analyze(iov.path("cloudhv-virtio-net", cores=2), D, w)
    threads = ("vcpu", "vmm_worker", "vmm_worker (receiver)", "vcpu (receiver)")

    def demand(r):  # core time per packet of each thread, µs (a hop's service per packet)
        b = r.breakdown[r.breakdown["resource"].isin(threads)]
        return b.groupby("resource")["service_us"].sum()

    assert free.packets_per_s == pytest.approx(1e6 / demand(free).max(), rel=1e-6)
    assert shared.bottleneck == "host cores"
    assert shared.packets_per_s == pytest.approx(2e6 / demand(shared).sum(), rel=1e-6)
    assert shared.packets_per_s < 0.9 * free.packets_per_s


def test_a_worker_on_its_vcpus_core_adds_a_switch_and_an_uncaught_halt_to_every_leg():
    # Linux virt/kvm/kvm_main.c kvm_vcpu_can_poll: a halted vCPU polls only while its core
    # runs nothing else, so a net worker woken on the vCPU's core ends the poll: each leg of a
    # VM-to-VM exchange costs the sending VM's vCPU a VM exit to give its core up, and the
    # receiving VM's vCPU a switch back in (wakeup_us) and a halt no poll caught
    # (halt_wake_us). One exchange in flight and a pool of cores too large to wait for: the
    # round trip grows by exactly those costs, twice (two legs), and each VM's threads show
    # them
    D = iov.HostProfile.default()
    w = iov.Workload.of(Traffic.rr(1, direction="vm2vm"))
    free = iov.analyze(iov.path("cloudhv-virtio-net", cores=1000), D, w)
    shared = iov.analyze(iov.path("cloudhv-virtio-net", cores=1000, shared_core=True), D, w)
    leg = D["vmexit_us"] + D["wakeup_us"] + D["halt_wake_us"]
    assert 1e6 / shared.throughput_per_s - 1e6 / free.throughput_per_s == pytest.approx(
        2 * leg, rel=1e-9)
    hops = shared.breakdown
    added = hops[hops["hop"].str.startswith("shared core")]
    assert sorted(added["resource"]) == ["vcpu", "vcpu", "vcpu (receiver)", "vcpu (receiver)"]
    # and a stream through the two VMs' two cores moves less: the switches take core time
    s = iov.Workload.of(Traffic.stream(64, "udp", "vm2vm"))
    two = iov.analyze(iov.path("cloudhv-virtio-net", cores=2), D, s)
    assert iov.analyze(iov.path("cloudhv-virtio-net", cores=2, shared_core=True), D,
                       s).packets_per_s < two.packets_per_s
    # a worker on its vCPU's core without cores to share is a contradiction, said as such
    with pytest.raises(iov.errors.IovModelError, match="shared_core.*give cores"):
        iov.path("cloudhv-virtio-net", shared_core=True)


def test_ovs_dpdk_userspace_tso_lets_the_guests_super_packets_cross_the_pmd():
    # OVS Documentation/topics/userspace-tso.rst: off by default (the vhost-user port offers
    # no HOST_TSO4 and the guest segments to its MSS); other_config:userspace-tso-enable=true
    # (the path option userspace_tso) offers it, and one GSO packet of up to 45 MSS crosses
    # the PMD as one unit
    D = iov.HostProfile.default()
    w = iov.Workload.of(Traffic.stream(131072, direction="vm2vm"))
    off = iov.build(iov.path("vhost-user-net"), D, w)
    on = iov.build(iov.path("vhost-user-net", userspace_tso=True), D, w)
    assert off.units.payload_bytes == 1448 and on.units.payload_bytes == 45 * 1448
    r_off = iov.analyze(iov.path("vhost-user-net"), D, w)
    r_on = iov.analyze(iov.path("vhost-user-net", userspace_tso=True), D, w)
    assert r_on.throughput_gbps > r_off.throughput_gbps
    # the option changes nothing for a path without it, nor for an exchange of 1 byte
    rr = iov.Workload.of(Traffic.rr(1, direction="vm2vm"))
    assert iov.analyze(iov.path("vhost-user-net", userspace_tso=True), D, rr).latency_us == \
        pytest.approx(iov.analyze("vhost-user-net", D, rr).latency_us, rel=1e-12)
