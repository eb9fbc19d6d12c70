"""Stream numbers, as tshark counts them: ``tcp.stream`` and ``udp.stream``.

Wireshark gives each conversation (the unordered pair of address:port endpoints) a number in
the order its first packet appears, counting from 0, separately for TCP and UDP.  One rule
more for TCP: when a SYN without ACK arrives on a known pair and its sequence number is not
the initial sequence number already recorded for that direction, the ports have been reused
by a new connection, and it gets a new stream number (Wireshark's "TCP Port numbers
reused").  The recorded initial sequence number follows Wireshark: the SYN's sequence number,
else one less than the first sequence number seen, else one less than the first
acknowledgment number seen from the other side.

ICMP has no stream number: tshark has none for it either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from wirelab.observe.packets import ACK, SYN, Observed
from wirelab.wire.ipv4 import IPProto

MOD = 1 << 32
Endpoint = tuple[str, int]
PairKey = tuple[Endpoint, Endpoint]


def pair_key(p: Observed) -> PairKey:
    """The unordered endpoint pair of a TCP or UDP packet (the smaller endpoint first)."""
    a: Endpoint = (p.src, p.sport or 0)
    b: Endpoint = (p.dst, p.dport or 0)
    return (a, b) if a <= b else (b, a)


@dataclass
class _TcpConv:
    stream: int
    base_seq: dict[Endpoint, int] = field(default_factory=dict)


@dataclass
class Streams:
    """Frame number -> stream number, for TCP and for UDP, and which frames reuse ports."""

    tcp: dict[int, int] = field(default_factory=dict)
    udp: dict[int, int] = field(default_factory=dict)
    reused_ports: set[int] = field(default_factory=set)
    tcp_count: int = 0
    udp_count: int = 0

    def stream_of(self, p: Observed) -> int | None:
        """The tcp.stream or udp.stream of a packet (None for ICMP)."""
        table = self.tcp if p.proto == IPProto.TCP else self.udp
        return table.get(p.number)

    def tcp_packets(self, packets: Sequence[Observed], stream: int) -> list[Observed]:
        return [p for p in packets if p.tcp is not None and self.tcp.get(p.number) == stream]

    def udp_packets(self, packets: Sequence[Observed], stream: int) -> list[Observed]:
        return [p for p in packets if p.proto == IPProto.UDP and self.udp.get(p.number) == stream]


def number_streams(packets: Sequence[Observed]) -> Streams:
    """Number the TCP and UDP conversations of ``packets`` as tshark does."""
    out = Streams()
    tcp_convs: dict[PairKey, _TcpConv] = {}
    udp_convs: dict[PairKey, int] = {}
    for p in packets:
        if p.tcp is not None:
            out.tcp[p.number] = _tcp_stream(p, tcp_convs, out)
        elif p.proto == IPProto.UDP:
            key = pair_key(p)
            if key not in udp_convs:
                udp_convs[key] = out.udp_count
                out.udp_count += 1
            out.udp[p.number] = udp_convs[key]
    return out


def _tcp_stream(p: Observed, convs: dict[PairKey, _TcpConv], out: Streams) -> int:
    assert p.tcp is not None
    key = pair_key(p)
    fwd: Endpoint = (p.src, p.sport or 0)
    rev: Endpoint = (p.dst, p.dport or 0)
    flags, seq = p.tcp.flags, p.tcp.seq
    conv = convs.get(key)
    pure_syn = flags & (SYN | ACK) == SYN
    if conv is not None and pure_syn and fwd in conv.base_seq and conv.base_seq[fwd] != seq:
        out.reused_ports.add(p.number)
        conv = None
    if conv is None:
        conv = convs[key] = _TcpConv(out.tcp_count)
        out.tcp_count += 1
    if fwd not in conv.base_seq:
        conv.base_seq[fwd] = seq if flags & SYN else (seq - 1) % MOD
    if rev not in conv.base_seq and flags & ACK:
        conv.base_seq[rev] = (p.tcp.ack - 1) % MOD
    return conv.stream
