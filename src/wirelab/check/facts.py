"""Small questions asked of a capture, shared by the verifiers.

Most answers come from :mod:`wirelab.observe` (packets, streams, reassembly).  Two need the
full decode of a frame that :class:`~wirelab.observe.packets.Observed` does not keep: the UDP
checksum (1.4) and the custom header (2.4), so :func:`udp_datagrams` reads the file again
with :func:`wirelab.wire.packet.decode_frame`.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from wirelab.observe.packets import Observed
from wirelab.wire.capture import open_capture
from wirelab.wire.checksum import pseudo_int
from wirelab.wire.custom import Custom
from wirelab.wire.ipv4 import IPProto, IPv4
from wirelab.wire.packet import decode_frame
from wirelab.wire.tcp import TCPFlags
from wirelab.wire.udp import UDP

DNS_PORT = 53


@dataclass(frozen=True)
class Datagram:
    """One UDP datagram as it was on the wire, with what 1.4 and 2.4 need to judge it."""

    number: int
    src: str
    dst: str
    sport: int
    dport: int
    length: int  # the UDP length field (header + data, RFC 768)
    data: bytes
    checksum: int
    checksum_ok: bool | None  # None: checksum 0, "no checksum" over IPv4
    custom: Custom | None

    @property
    def checksum_offloaded(self) -> bool:
        """The kernel left the checksum for the NIC (CHECKSUM_PARTIAL): the field holds only
        the folded pseudo-header sum, and a capture on the sending side shows it as is.  A
        veth never fills it in, and the receiver does not check it.  (Raw sockets are never
        offloaded: what 1.4 sends is what the program wrote.)"""
        total = pseudo_int(socket.inet_aton(self.src), socket.inet_aton(self.dst),
                           IPProto.UDP, self.length)
        return self.checksum == (total % 0xFFFF or 0xFFFF)


def udp_datagrams(pcap: Path) -> Iterator[Datagram]:
    """Every IPv4 UDP datagram of the file, decoded to the last layer wirelab knows."""
    with open_capture(pcap) as reader:
        for number, frame in enumerate(reader, 1):
            packet = decode_frame(frame.data, frame.linktype)
            ip, udp = packet.get(IPv4), packet.get(UDP)
            if ip is None or udp is None:
                continue
            data = bytes(udp.payload)
            # Decoded here whatever decode_frame chose: it leaves a header whose length field
            # is wrong as plain UDP data, and a wrong length is exactly what 2.4 must report.
            custom = Custom.decode(data) if len(data) >= 4 else None
            yield Datagram(number, ip.src, ip.dst, udp.sport, udp.dport, udp.length or 0,
                           data, udp.checksum or 0, udp.checksum_ok(ip.src, ip.dst), custom)


def is_dns(p: Observed) -> bool:
    return DNS_PORT in (p.sport, p.dport)


def udp(packets: Sequence[Observed]) -> list[Observed]:
    return [p for p in packets if p.proto == IPProto.UDP]


def tcp(packets: Sequence[Observed]) -> list[Observed]:
    return [p for p in packets if p.tcp is not None]


def flags(p: Observed) -> TCPFlags:
    assert p.tcp is not None
    return p.tcp.flags


def is_syn(p: Observed) -> bool:
    return p.tcp is not None and bool(flags(p) & TCPFlags.SYN) and not flags(p) & TCPFlags.ACK


def is_syn_ack(p: Observed) -> bool:
    f = flags(p) if p.tcp is not None else TCPFlags(0)
    return bool(f & TCPFlags.SYN) and bool(f & TCPFlags.ACK)


def has(p: Observed, flag: TCPFlags) -> bool:
    return p.tcp is not None and bool(p.tcp.flags & flag)


def seq_add(a: int, b: int) -> int:
    """Sequence arithmetic is modulo 2**32 (RFC 9293 section 3.4)."""
    return (a + b) % 2**32


def describe_udp(p: Observed) -> str:
    return f"UDP {p.src_endpoint} -> {p.dst_endpoint} ({p.udp_len} bytes)"


def elsewhere(packets: Sequence[Observed], client_ip: str, server_ip: str) -> str:
    """What the client sent instead, for a FAIL reason: its non-DNS destinations."""
    dests = []
    for p in packets:
        if p.src == client_ip and not is_dns(p):
            name = f"{p.proto_name} to {p.dst_endpoint}"
            if name not in dests:
                dests.append(name)
    if dests:
        return "; saw " + ", ".join(dests[:4])
    return (f"; nothing left the client's link (aimed at 127.0.0.1 or an outside host? in "
            f"the lab the server is {server_ip}, also $WIRELAB_SERVER)")
