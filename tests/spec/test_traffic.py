"""Traffic: units of work of network workloads, and the bad input they refuse."""

from __future__ import annotations

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
