"""Captured frames reduced to what observation needs: who sent what to whom, and when.

An :class:`Observed` is one IPv4 or IPv6 packet carrying TCP, UDP, ICMP or ICMPv6, with the
frame number and timestamp it had in the capture file.  Everything else in
:mod:`wirelab.observe` (streams, analysis, ladders, stream following) works on lists of these,
so it can be fed from a file (:func:`load`), from frames already in memory
(:func:`from_captured`) or from records built by hand in a test.

Decoding is :func:`wirelab.wire.packet.decode_frame`'s job; this module only picks fields.
Frames that carry none of the four protocols (ARP, a non-first IP fragment, a frame that did
not decode as far as its transport header -- including an IP datagram cut short by the
capture's snapshot length) are skipped, but frame numbers keep counting every
frame of the file, so ``number`` is the same as tshark's ``frame.number``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from wirelab.wire.capture import open_capture
from wirelab.wire.icmp import ICMP, ICMPBase
from wirelab.wire.icmpv6 import ICMPv6
from wirelab.wire.ipv4 import IPProto, IPv4
from wirelab.wire.ipv6 import IPv6
from wirelab.wire.packet import decode_frame, wire_payload_length
from wirelab.wire.pcap import CapturedPacket
from wirelab.wire.tcp import FLAG_NAMES, MSS, TCP, SACKPermitted, TCPFlags, WindowScale
from wirelab.wire.udp import UDP

NS = 1_000_000_000
# TCP flag bits as plain ints: IntFlag arithmetic costs microseconds an operation, and the
# analysis does a dozen a segment.  ``TcpInfo.flags`` is a plain int for the same reason.
FIN, SYN, RST, PSH, ACK = (int(TCPFlags[n]) for n in ("FIN", "SYN", "RST", "PSH", "ACK"))
PROTO_NAMES: dict[int, str] = {IPProto.TCP: "TCP", IPProto.UDP: "UDP", IPProto.ICMP: "ICMP",
                               IPProto.ICMPV6: "ICMPv6"}


@dataclass(frozen=True, slots=True)
class TcpInfo:
    """The TCP fields that sequence analysis, ladders and reassembly read (RFC 9293 3.1)."""

    seq: int
    ack: int
    flags: int
    """The eight flag bits (RFC 9293 3.1, RFC 3168); ``TCPFlags(flags)`` names them."""
    window: int
    """The raw 16-bit window field; scaling (RFC 7323 section 2.3) is the analysis' business."""
    seglen: int
    """Data octets the segment carries by its headers (tshark's ``tcp.len``)."""
    payload: bytes
    """The data octets present in the capture (fewer than ``seglen`` if the capture cut it)."""
    mss: int | None = None
    wscale: int | None = None
    sack_permitted: bool = False

    def flag_names(self) -> str:
        """``"SYN, ACK"``: tshark's order and spelling."""
        return FLAG_NAMES[self.flags & 0xFF]


@dataclass(frozen=True, slots=True)
class IcmpInfo:
    """An ICMP or ICMPv6 message's type, code and, for echo, identifier and sequence."""

    type: int
    code: int
    version: int  # 4 for ICMP (RFC 792), 6 for ICMPv6 (RFC 4443)
    id: int | None = None
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class Observed:
    """One IP packet of a capture, with the transport fields observation uses."""

    number: int
    """1-based position of the frame in the file (tshark's ``frame.number``)."""
    ts_ns: int
    """Capture timestamp in nanoseconds since the epoch."""
    length: int
    """Length of the frame on the wire (tshark's ``frame.len``)."""
    src: str
    dst: str
    proto: int
    """The IP protocol number (:class:`IPProto`): TCP, UDP, ICMP or ICMPV6."""
    sport: int | None = None
    dport: int | None = None
    tcp: TcpInfo | None = None
    udp_len: int | None = None
    """Payload octets of a UDP datagram (its length field minus 8)."""
    icmp: IcmpInfo | None = None
    ttl: int | None = None

    @property
    def time(self) -> float:
        return self.ts_ns / NS

    @property
    def src_endpoint(self) -> str:
        return endpoint(self.src, self.sport)

    @property
    def dst_endpoint(self) -> str:
        return endpoint(self.dst, self.dport)

    @property
    def proto_name(self) -> str:
        return PROTO_NAMES.get(self.proto, str(self.proto))


def endpoint(addr: str, port: int | None) -> str:
    """``127.0.0.1:80``, ``[::1]:80`` (RFC 3986 brackets), or the bare address without a port."""
    if port is None:
        return addr
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


# --- from frames -------------------------------------------------------------------------


def observe_frame(frame: CapturedPacket, number: int) -> Observed | None:
    """The :class:`Observed` for one captured frame, or None if it carries none of ours."""
    packet = decode_frame(frame.data, frame.linktype, snapped=frame.caplen < frame.orig_len)
    ip: IPv4 | IPv6 | None = packet.get(IPv4) or packet.get(IPv6)
    if ip is None:
        return None
    head = (number, frame.ts_sec * NS + frame.ts_frac_ns, frame.orig_len, ip.src, ip.dst)
    ttl = ip.ttl if isinstance(ip, IPv4) else ip.hop_limit
    tcp = packet.get(TCP)
    if tcp is not None:
        info = _tcp_info(tcp, wire_payload_length(ip, tcp))
        return Observed(*head, IPProto.TCP, tcp.sport, tcp.dport, tcp=info, ttl=ttl)
    udp = packet.get(UDP)
    if udp is not None:
        return Observed(*head, IPProto.UDP, udp.sport, udp.dport,
                        udp_len=max((udp.length or 8) - 8, 0), ttl=ttl)
    icmp: ICMPBase | None = packet.get(ICMP) or packet.get(ICMPv6)
    if icmp is not None:
        version = 6 if isinstance(icmp, ICMPv6) else 4
        echo = icmp.is_echo
        info = IcmpInfo(icmp.type, icmp.code, version, icmp.id if echo else None,
                        icmp.seq if echo else None)
        proto = IPProto.ICMPV6 if version == 6 else IPProto.ICMP
        return Observed(*head, proto, icmp=info, ttl=ttl)
    return None


def _tcp_info(tcp: TCP, seglen: int) -> TcpInfo:
    # ``seglen`` is the segment's data length as the IP header tells it; ``payload`` is what
    # the capture kept of it (less when the snaplen cut the frame, and follow shows a gap).
    payload = tcp.payload
    mss = wscale = None
    sack = False
    if tcp.flags & SYN:  # these options are only meaningful on SYNs (RFC 7323 2.2)
        for opt in tcp.options:
            if isinstance(opt, MSS):
                mss = opt.value
            elif isinstance(opt, WindowScale):
                wscale = opt.shift
            elif isinstance(opt, SACKPermitted):
                sack = True
    return TcpInfo(seq=tcp.seq, ack=tcp.ack, flags=int(tcp.flags), window=tcp.window,
                   seglen=seglen, payload=payload, mss=mss, wscale=wscale,
                   sack_permitted=sack)


class Capture(list[Observed]):
    """The observed packets of one file, in file order, with what the file says around them.

    A plain list of :class:`Observed` works everywhere a ``Capture`` does; the extra
    attributes only make times relative to the file's first frame (as tshark's
    ``frame.time_relative``) even when that frame is not an IP packet.
    """

    def __init__(self, packets: Iterable[Observed] = (), *, origin_ns: int | None = None,
                 frame_count: int = 0, name: str = "", warnings: Iterable[str] = ()) -> None:
        super().__init__(packets)
        self.origin_ns = origin_ns
        self.frame_count = frame_count
        self.name = name
        self.warnings = list(warnings)


def origin_ns(packets: Sequence[Observed]) -> int:
    """The time zero of a list of packets: the capture's first frame, else the first packet."""
    origin = getattr(packets, "origin_ns", None)
    if origin is not None:
        return int(origin)
    return packets[0].ts_ns if packets else 0


def from_captured(frames: Iterable[CapturedPacket], name: str = "") -> Capture:
    """The observed packets of frames in file order (numbered from 1, every frame counted)."""
    out = Capture(name=name)
    for number, frame in enumerate(frames, 1):
        if number == 1:
            out.origin_ns = frame.ts_sec * NS + frame.ts_frac_ns
        out.frame_count = number
        seen = observe_frame(frame, number)
        if seen is not None:
            out.append(seen)
    return out


def load(source: str | os.PathLike[str] | BinaryIO) -> Capture:
    """Read a pcap or pcapng file and return its TCP, UDP and ICMP packets.

    Raises :class:`wirelab.errors.CaptureFormatError` for a file that is not a capture.  A
    file that ends inside its last record still loads; ``Capture.warnings`` says so.
    """
    reader = open_capture(source)
    try:
        capture = from_captured(reader, reader.name)
    finally:
        reader.close()
    capture.warnings = list(reader.warnings)
    return capture
