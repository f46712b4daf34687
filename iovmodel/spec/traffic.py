"""Network traffic: what one unit of work moves on a network path, as packets and bytes.

A :class:`Traffic` states what a network benchmark moves and where:

- ``Traffic.rr(...)``: request/response exchanges (netperf TCP_RR, sockperf ping-pong, qperf
  ``tcp_lat``): one unit is one exchange, a request out and an answer back;
- ``Traffic.stream(...)``: a unidirectional bulk transfer (iperf3, netperf TCP_STREAM, qperf
  ``tcp_bw``/``udp_bw``): TCP writes of ``size_bytes`` or UDP datagrams of ``size_bytes``;
- ``Traffic.flood(...)``: a packet generator (pktgen, testpmd txonly) sending frames of
  ``size_bytes`` (without the FCS) at ``rate_pps`` or as fast as the path takes them;

and the ``direction``: ``"tx"`` (the guest sends to its host), ``"rx"`` (the host sends to the
guest), ``"vm2vm"`` (a VM to another VM on the same host, both on the same path: a one-way
transfer takes this VM's send hops and the peer's receive hops, an exchange the peer's
receive and send hops between this VM's; the peer's threads are stations of their own unless
the back-end is shared on the host, a polling core), ``"hosts"`` (a VM to a VM or host on
another machine, through the physical NIC). Across hosts the ``peer`` says what is at the far
end: ``"host"`` (the default for an exchange: a host or an endpoint whose turnaround is the
path's wire-and-peer hop, a fixed ``device_net_us``; a one-way transfer ends at the NIC) or
``"vm"`` (the default for a one-way transfer: another endpoint on the same path on the other
host -- a VM, or for a native path that host's own stack -- whose receive hops are modelled,
and for an exchange its receive and send hops too, behind the physical link, ``wire_us`` each
way). Within one host the peer follows from the
direction (``"tx"``/``"rx"``: this VM's own host; ``"vm2vm"``: a VM).

:meth:`Traffic.units` turns it into the unit of work the virtualization layers see on a path:
with TSO/GSO a TCP stream moves super-packets of up to ``gso_max_bytes`` (64 KiB) through
the guest stack, the virtqueue and the back-end, while the wire carries MSS-sized frames; a
back-end that takes no ``virtio_net_hdr`` makes the guest segment, so every frame pays every
per-packet cost. The header sizes and limits come from ``iovmodel/data/packets.toml``.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from .. import _validate
from ..errors import ParameterError

PACKETS_FILE = "packets.toml"
KINDS = ("rr", "stream", "flood")
PROTOCOLS = ("tcp", "udp")
DIRECTIONS = ("tx", "rx", "vm2vm", "hosts")
PEERS = ("host", "vm")


@cache
def _doc() -> dict[str, Any]:
    text = resources.files("iovmodel").joinpath("data", PACKETS_FILE).read_text("utf-8")
    doc = tomllib.loads(text)
    if doc.get("format_version") != 1:
        raise ParameterError(f"{PACKETS_FILE}: unsupported format_version "
                             f"{doc.get('format_version')!r}")
    return doc


def constants() -> MappingProxyType:
    """Protocol constants (bytes, counts) from ``packets.toml``, each cited there."""
    return MappingProxyType(dict(_doc()["constants"]))


@dataclass(frozen=True)
class PathPackets:
    """How a path moves packets (``packets.toml`` ``[path.<name>]``)."""

    nic: str = "never"
    tso: bool = True
    ring: str = "ring"
    ring_slots: int = 256
    ring_resource: str = ""
    source: str = ""
    #: the link MTU the back-end gives the guest (passt: 65520); 0: the traffic's own
    mtu: int = 0
    #: a path option that overrides ``tso`` (OVS-DPDK's userspace TSO); "": none
    tso_option: str = ""

    def takes_tso(self, options: Mapping[str, Any]) -> bool:
        """Whether the back-end takes super-packets under these path options."""
        if self.tso_option and self.tso_option in options:
            return bool(options[self.tso_option])
        return self.tso


def path_packets(name: str) -> PathPackets:
    """The packet structure of a catalog path; a path not listed (a custom path) has no NIC,
    takes super-packets and a ring of ``virtqueue_size`` slots drained by its bottleneck."""
    entry = _doc().get("path", {}).get(name)
    if entry is None:
        return PathPackets(ring_slots=int(constants()["virtqueue_size"]))
    return PathPackets(**entry)


@dataclass(frozen=True)
class Units:
    """One unit of work of a :class:`Traffic` on a path.

    Attributes
    ----------
    payload_bytes : float
        Application bytes a unit carries (what ``throughput_gbps`` counts).
    bytes_per_unit : float
        Bytes every copy on the virtualization layers moves per unit (``size_bytes`` in the
        catalog's cost expressions).
    frames : float
        Ethernet frames on the wire per unit.
    frame_bytes : float
        Mean frame size without FCS, bytes (at least ``min_frame_bytes``).
    packets : float
        Packets per unit as the benchmark counts them (``packets_per_s`` = X x packets):
        datagrams or generated frames; wire frames for TCP.
    """

    payload_bytes: float
    bytes_per_unit: float
    frames: float
    frame_bytes: float
    packets: float

    @property
    def wire_bytes(self) -> float:
        """Bytes of line time per unit: frames x (frame + FCS + preamble/SFD + IFG)."""
        c = constants()
        return self.frames * (self.frame_bytes + c["fcs_bytes"] + c["preamble_sfd_bytes"]
                              + c["ifg_bytes"])


def _int(name: str, v: Any, lo: int) -> int:
    return int(_validate.number(f"traffic {name}", v, lo=lo, integer=True))


@dataclass(frozen=True)
class Traffic:
    """What a network workload moves: use :meth:`rr`, :meth:`stream` or :meth:`flood`.

    Attributes
    ----------
    kind : {"rr", "stream", "flood"}
    size_bytes : int
        rr: request (and answer) message; stream: TCP write or UDP datagram; flood: frame
        without FCS (pktgen's ``pkt_size``, default 60 = ETH_ZLEN).
    protocol : {"tcp", "udp"}
    direction : {"tx", "rx", "vm2vm", "hosts"}
    mtu : int
        IP MTU, bytes (1500).
    mss : int or None
        TCP maximum segment payload; default ``mtu - 20 - 32`` (IPv4 + TCP with timestamps).
    tso : bool
        The sender uses TSO/GSO (Linux default); it takes effect where the path's back-end
        takes a ``virtio_net_hdr`` (``packets.toml`` ``tso``).
    fragment : bool
        Allow a UDP datagram larger than the MTU (IP fragments); otherwise it is an error.
    rate_pps : float or None
        A flood's offered rate, packets per second; None: as fast as the path takes them.
    streams : int
        Parallel streams or exchanges (iperf3 -P, netperf instances).
    peer : {"host", "vm"} or None
        The far end (module docstring). None: ``"host"`` for an exchange across hosts,
        ``"vm"`` for a one-way transfer across hosts, what the direction implies otherwise
        (``"tx"``/``"rx"``: ``"host"``, ``"vm2vm"``: ``"vm"``); a peer the direction
        contradicts is an error.
    host_stack : bool
        Whether the host's end of the traffic runs the host network stack (sockets, a
        bridge, routing: ``host_net_us`` per packet). Default: yes, except for a flood
        between a guest and its own host (``direction`` ``"tx"`` or ``"rx"``), whose host
        end is a generator or a drop at the tap (pktgen transmitting into the tap for RX,
        an XDP_DROP program on the tap for TX, the setup of vhost-net's packet-rate
        benchmarks): the host pays its driver-level work per packet, ``host_pkt_us``
        (on a path whose frames reach the host: one bound to a physical NIC, as QEMU's
        af-xdp netdev is, keeps its host costs).
    """

    kind: str
    size_bytes: int
    protocol: str = "tcp"
    direction: str = "tx"
    mtu: int = 1500
    mss: int | None = None
    tso: bool = True
    fragment: bool = False
    rate_pps: float | None = None
    streams: int = 1
    host_stack: bool | None = None
    peer: str | None = None

    @classmethod
    def rr(cls, size_bytes: int = 1, protocol: str = "tcp", direction: str = "hosts",
           **kw: Any) -> Traffic:
        """Request/response exchanges of ``size_bytes`` each way (netperf TCP_RR)."""
        return cls("rr", size_bytes, protocol, direction, **kw)

    @classmethod
    def stream(cls, size_bytes: int = 131072, protocol: str = "tcp", direction: str = "tx",
               **kw: Any) -> Traffic:
        """A bulk stream of TCP writes (iperf3's default 128 KiB) or UDP datagrams.

        A TCP stream's packets are full whatever the write size (the send queue coalesces
        writes); ``size_bytes`` sets the send()/recv() calls per packet. A UDP stream sends
        one datagram per write."""
        return cls("stream", size_bytes, protocol, direction, **kw)

    @classmethod
    def flood(cls, size_bytes: int = 60, rate_pps: float | None = None, direction: str = "tx",
              **kw: Any) -> Traffic:
        """A packet flood of ``size_bytes`` frames (pktgen, testpmd txonly), UDP."""
        return cls("flood", size_bytes, "udp", direction, rate_pps=rate_pps, **kw)

    def __post_init__(self) -> None:
        _validate.choice("traffic kind", self.kind, KINDS)
        _validate.choice("traffic protocol", self.protocol, PROTOCOLS)
        _validate.choice("traffic direction", self.direction, DIRECTIONS)
        if not _validate.is_number(self.size_bytes) or self.size_bytes <= 0:
            raise ParameterError(f"traffic size_bytes must be a whole number of bytes > 0, got "
                                 f"{self.size_bytes!r}")
        fix: dict[str, Any] = {"size_bytes": _int("size_bytes", self.size_bytes, 1),
                               "mtu": _int("mtu", self.mtu, 68),  # RFC 791: every host takes 68
                               "streams": _int("streams", self.streams, 1)}
        if self.host_stack is None:
            fix["host_stack"] = not (self.kind == "flood" and self.direction in ("tx", "rx"))
        elif not isinstance(self.host_stack, bool):
            raise ParameterError(f"traffic host_stack must be True, False or None (the "
                                 f"default for its kind and direction), got {self.host_stack!r}")
        fix["peer"] = self._peer()
        for k in ("tso", "fragment"):
            if not isinstance(getattr(self, k), bool):
                raise ParameterError(f"traffic {k} must be True or False, got {getattr(self, k)!r}")
        c = constants()
        mtu = fix["mtu"]
        largest = mtu - c["ipv4_header_bytes"] - c["tcp_header_bytes"]
        if self.mss is not None:
            mss = _int("mss", self.mss, 1)
            if mss > largest:
                raise ParameterError(
                    f"traffic mss {mss} is larger than the segment an MTU of {mtu} B carries "
                    f"({largest} B = MTU - 20 B IPv4 - 32 B TCP with timestamps): give mss <= "
                    f"{largest} or a larger mtu")
            fix["mss"] = mss
        if self.rate_pps is not None:
            if self.kind != "flood":
                raise ParameterError(f"traffic rate_pps is a flood's offered rate; a {self.kind} "
                                     f"has none (got rate_pps={self.rate_pps!r})")
            fix["rate_pps"] = float(_validate.number("traffic rate_pps", self.rate_pps, lo=0,
                                                     strict=True))
        size = fix["size_bytes"]
        if self.protocol == "udp" and self.kind != "flood" and not self.fragment:
            most = mtu - c["ipv4_header_bytes"] - c["udp_header_bytes"]
            if size > most:
                raise ParameterError(
                    f"traffic UDP datagram of {size} B does not fit an MTU of {mtu} B (at most "
                    f"{most} B without fragments): pass fragment=True, a larger mtu or a "
                    f"smaller size_bytes")
        if self.kind == "flood" and size > mtu + c["ethernet_header_bytes"]:
            raise ParameterError(f"traffic flood frame of {size} B is larger than an MTU of {mtu} "
                                 f"B allows ({mtu + c['ethernet_header_bytes']} B with the "
                                 "Ethernet header)")
        for k, v in fix.items():
            object.__setattr__(self, k, v)

    def _default_peer(self) -> str:
        if self.direction == "hosts":
            return "host" if self.kind == "rr" else "vm"
        return "vm" if self.direction == "vm2vm" else "host"

    def _peer(self) -> str:
        """The far end, checked against the direction (``peer`` None: the default)."""
        implied = self._default_peer()
        if self.peer is None:
            return implied
        _validate.choice("traffic peer", self.peer, PEERS)
        if self.direction != "hosts" and self.peer != implied:
            where = "its own host" if implied == "host" else "another VM on the same host"
            raise ParameterError(f"traffic peer={self.peer!r} contradicts direction="
                                 f"{self.direction!r}, whose far end is {where}: give "
                                 f"peer={implied!r} (or None), or direction='hosts' for a peer "
                                 "on another machine")
        return self.peer

    # -- derived -------------------------------------------------------------------
    @property
    def segment_bytes(self) -> int:
        """TCP segment payload (MSS) on the wire."""
        c = constants()
        return self.mss or self.mtu - c["ipv4_header_bytes"] - c["tcp_header_bytes"]

    @property
    def saturating(self) -> bool:
        """A stream, or a flood without an offered rate: it keeps its bottleneck busy."""
        return self.kind == "stream" or (self.kind == "flood" and self.rate_pps is None)

    @property
    def can_drop(self) -> bool:
        """Whether packets may be dropped (UDP datagrams, floods) rather than held back by
        flow control (TCP)."""
        return self.kind == "flood" or (self.kind == "stream" and self.protocol == "udp")

    def units(self, path_tso: bool = True, path_mtu: int = 0) -> Units:
        """The unit of work on a path whose back-end takes super-packets (``path_tso``) and
        sets the link MTU (``path_mtu``, 0: the traffic's own ``mtu``)."""
        if path_mtu and path_mtu != self.mtu:
            from dataclasses import replace

            return replace(self, mtu=path_mtu, mss=None).units(path_tso)
        c = constants()
        eth, ip = c["ethernet_header_bytes"], c["ipv4_header_bytes"]
        size = self.size_bytes
        if self.kind == "flood":
            f = max(float(size), c["min_frame_bytes"])
            return Units(float(size), float(size), 1.0, f, 1.0)
        if self.protocol == "udp":
            hdr = ip + c["udp_header_bytes"]
            per_frag = (self.mtu - ip) // 8 * 8  # IPv4 fragment offsets count 8-byte blocks
            frames = float(max(1, math.ceil((size + c["udp_header_bytes"]) / per_frag)))
            frame = (size + hdr + (frames - 1) * ip) / frames + eth
            units = Units(float(size), float(size), frames, max(frame, c["min_frame_bytes"]),
                          1.0)
            return units if self.kind == "stream" else _both_ways(units)
        seg = self.segment_bytes
        hdr = eth + ip + c["tcp_header_bytes"]
        if self.kind == "rr":
            frames = float(math.ceil(size / seg))
            frame = size / frames + hdr
            return _both_ways(Units(float(size), float(size), frames,
                                    max(frame, c["min_frame_bytes"]), frames))
        # a bulk stream keeps its send queue full, and tcp_sendmsg appends each write to the
        # queue's tail skb up to the size goal (net/ipv4/tcp.c tcp_sendmsg_locked: a new skb
        # only when `copy = size_goal - skb->len` is used up), so writes of any size leave as
        # full packets; the write size sets only the send()/recv() calls per packet, which
        # the path's network charges (iovmodel.network._with_app_copies)
        if self.tso and path_tso:
            # tcp_tso_autosize: a GSO packet is a whole number of MSS up to gso_max_bytes
            payload = float((c["gso_max_bytes"] - hdr) // seg * seg)
        else:
            payload = float(seg)
        frames = float(math.ceil(payload / seg))
        frame = max(payload / frames + hdr, c["min_frame_bytes"])
        return Units(payload, payload, frames, frame, frames)

    def workload_fields(self) -> dict[str, Any]:
        """The Workload this traffic runs as: ``open`` (a flood at a rate) or ``closed``
        (``jobs`` = streams; a saturating stream keeps a virtqueue's worth of packets in
        flight per stream, QEMU's default ring of 256)."""
        if self.kind == "flood" and self.rate_pps is not None:
            return {"kind": "open", "rate_per_s": self.rate_pps}
        depth = 1 if self.kind == "rr" else int(constants()["virtqueue_size"])
        return {"kind": "closed", "jobs": self.streams, "iodepth": depth}

    def __repr__(self) -> str:
        extra = []
        if self.protocol != ("udp" if self.kind == "flood" else "tcp"):
            extra.append(f"protocol={self.protocol!r}")
        extra.append(f"direction={self.direction!r}")
        if self.rate_pps is not None:
            extra.append(f"rate_pps={self.rate_pps:g}")
        for k, d in (("mtu", 1500), ("mss", None), ("tso", True), ("fragment", False),
                     ("streams", 1)):
            if getattr(self, k) != d:
                extra.append(f"{k}={getattr(self, k)!r}")
        if self.host_stack != (not (self.kind == "flood" and self.direction in ("tx", "rx"))):
            extra.append(f"host_stack={self.host_stack!r}")
        if self.peer != self._default_peer():
            extra.append(f"peer={self.peer!r}")
        return f"Traffic.{self.kind}({self.size_bytes}, {', '.join(extra)})"


def _both_ways(u: Units) -> Units:
    """An exchange carries its message out and the answer back: twice the frames."""
    return Units(u.payload_bytes, u.bytes_per_unit, 2 * u.frames, u.frame_bytes, 2 * u.packets)
