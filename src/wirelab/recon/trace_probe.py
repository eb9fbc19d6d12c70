"""Traceroute probes: the bytes of each one, and how an answer is tied back to it.

A probe is an IPv4 datagram with a small TTL.  Each router decrements the TTL (RFC 791); the
router that takes it to zero drops the datagram and sends ICMP *time exceeded* (type 11,
code 0) back to the source (RFC 792, RFC 1812 section 5.3.1), quoting the dropped datagram's
IP header and the first 8 bytes of its payload.  Those 8 bytes are all a traceroute has to
know *which* probe died there, so every method below puts its probe identifier inside them:

====== ======================= ========================= ==================================
method first 8 bytes           classic (Linux traceroute) ``--paris``
====== ======================= ========================= ==================================
udp    sport dport len cksum   dport = port + n           ports fixed; the checksum is n,
                                                          made so by 2 payload bytes
icmp   type code cksum id seq  seq = n + 1 (so the        seq = n + 1, and 2 payload bytes
                               checksum changes too)      keep the checksum constant
tcp    sport dport seq         a new sport per probe      ports fixed; seq = base + n
====== ======================= ========================= ==================================

Why Paris (Augustin et al., "Avoiding traceroute anomalies with Paris traceroute", IMC 2006):
a router that balances load *per flow* hashes the fields that name a flow -- addresses,
protocol and the first four bytes of the transport header (the two ports; for ICMP that is
type, code and checksum) -- and sends every packet of one flow down the same path.  Classic
traceroute changes the destination port (or the ICMP checksum, through the sequence number)
on every probe, so consecutive probes are different flows and may take different branches:
hop 3 answers from one branch and hop 4 from the other, and the printed path is one that no
packet ever took ("false diamonds", even false loops).  Paris keeps those fields constant and
puts the probe number where no balancer looks but the ICMP quote still carries it: the UDP
checksum (steered by two payload bytes), the ICMP sequence number (with two payload bytes
cancelling its effect on the checksum), or the TCP sequence number.

A probe is matched by its whole 8-byte quote (and the quoted destination and protocol), so a
stray ICMP error, or one for an earlier run, is never counted as an answer.  Answers from
the destination itself quote nothing: an echo reply carries our identifier and sequence
number, a SYN/ACK or RST acknowledges our sequence number plus one (RFC 9293 3.10.7.3).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from wirelab.wire.checksum import checksum_from_int
from wirelab.wire.icmp import ICMP, ICMPType, UnreachableCode
from wirelab.wire.ipv4 import IPProto, IPv4
from wirelab.wire.tcp import (
    MSS,
    NOP,
    TCP,
    SACKPermitted,
    TCPFlags,
    TCPOption,
    Timestamps,
    WindowScale,
)
from wirelab.wire.udp import UDP

METHODS = ("udp", "icmp", "tcp")
DEFAULT_PORT = {"udp": 33434, "icmp": 0, "tcp": 80}
PROTO = {"udp": IPProto.UDP, "icmp": IPProto.ICMP, "tcp": IPProto.TCP}
PACKET_LEN = 60  # Linux traceroute's default: IPv4 20 + UDP 8 + 32 data, ICMP 8 + 32, TCP 40
DATA_LEN = 32

_TCP_KEY = struct.Struct("!HHI")
_ECHO_KEY = struct.Struct("!BBHHH")


def pattern(length: int = DATA_LEN) -> bytes:
    """Linux traceroute's probe data: 0x40, 0x41, ... ("@ABC..."), repeating every 64."""
    return bytes(0x40 + (i & 0x3F) for i in range(length))


def steer(total: int, want: int) -> int:
    """The 16-bit word that, added to a message summing to ``total``, makes its checksum
    ``want`` (1..0xFFFE).

    The checksum is ``0xFFFF - (sum mod 0xFFFF)`` (RFC 1071, see :mod:`wirelab.wire.checksum`),
    so the sum must be ``0xFFFF - want`` modulo 0xFFFF; the word supplies the difference.
    Valid when the word sits at an even offset (a whole 16-bit word of the message).
    """
    return ((0xFFFF - want) - total) % 0xFFFF


@dataclass(frozen=True, slots=True)
class Probe:
    """One probe: its place in the run, its bytes, and the keys an answer will carry."""

    index: int  # 0-based over the run: hop (index // q) + 1
    ttl: int
    packet: bytes  # the whole IPv4 datagram
    quote: bytes  # the first 8 transport bytes, as an ICMP error will quote them
    direct: tuple[int, ...] | None  # what the destination's own answer carries, if any


class ProbeFactory:
    """Builds probe ``n`` of a run; the same numbers always give the same bytes.

    ``ident`` is the run's identifier: the UDP source port, ICMP identifier or TCP source
    port (Paris) / base of the source ports (classic); ``seq_base`` seeds TCP sequence
    numbers (and the Paris UDP checksums), so two runs at once do not answer each other.
    ``fixed_sport`` (traceroute's ``--sport``) keeps the TCP source port at ``ident`` in
    classic mode too; the probes are then told apart by their sequence numbers.
    """

    def __init__(self, method: str, src: str, dst: str, *, paris: bool = False,
                 port: int | None = None, ident: int = 33000, seq_base: int = 0,
                 fixed_sport: bool = False) -> None:
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}")
        self.method = method
        self.src = src
        self.dst = dst
        self.paris = paris
        self.port = DEFAULT_PORT[method] if port is None else port
        self.ident = ident & 0xFFFF
        self.seq_base = seq_base & 0xFFFFFFFF
        self.proto = PROTO[method]
        self.fixed_sport = fixed_sport

    def build(self, index: int, ttl: int) -> Probe:
        segment, direct = getattr(self, f"_{self.method}")(index)
        ip = IPv4(id=(self.ident + index) & 0xFFFF, ttl=ttl, proto=self.proto, src=self.src,
                  dst=self.dst, payload=segment)
        return Probe(index, ttl, ip.encode(), segment[:8], direct)

    # -- one method each -----------------------------------------------------------------

    def _udp(self, index: int) -> tuple[bytes, None]:
        data = pattern()
        if not self.paris:
            dport = (self.port + index) & 0xFFFF
            return UDP(self.ident, dport, payload=data).encode(self.src, self.dst), None
        # Paris: both ports fixed; the checksum itself is the probe number.  The last two data
        # bytes (an even offset: 8 + 30) are chosen to make the checksum come out as wanted.
        want = (self.seq_base + index) % 0xFFFE + 1  # never 0 ("no checksum") or 0xFFFF
        head = UDP(self.ident, self.port, payload=data[:-2] + b"\0\0")
        total = _udp_sum(head, self.src, self.dst)
        word = steer(total, want)
        udp = UDP(self.ident, self.port, checksum=want,
                  payload=data[:-2] + word.to_bytes(2, "big"))
        return udp.encode(), None

    def _icmp(self, index: int) -> tuple[bytes, tuple[int, ...]]:
        seq = (index + 1) & 0xFFFF
        data = pattern()
        if self.paris:
            # The checksum stays what probe 0 had: the last two data bytes cancel whatever
            # the sequence number adds to the sum.
            want = self._icmp_checksum()
            trial = ICMP(ICMPType.ECHO_REQUEST, 0, id=self.ident, seq=seq,
                         payload=data[:-2] + b"\0\0")
            word = steer(trial._sum(), want)
            data = data[:-2] + word.to_bytes(2, "big")
        echo = ICMP(ICMPType.ECHO_REQUEST, 0, id=self.ident, seq=seq, payload=data).encode()
        return echo, (self.ident, seq)

    def _icmp_checksum(self) -> int:
        first = ICMP(ICMPType.ECHO_REQUEST, 0, id=self.ident, seq=1, payload=pattern())
        value = checksum_from_int(first._sum())
        return value if value not in (0, 0xFFFF) else 0x1234

    def _tcp(self, index: int) -> tuple[bytes, tuple[int, ...]]:
        seq = (self.seq_base + index) & 0xFFFFFFFF
        if self.paris or self.fixed_sport:
            sport = self.ident
        else:  # a new source port each probe, as Linux traceroute -T gets from bind()
            sport = 32768 + (self.ident + index) % 28232
        # Linux's own SYN options, as traceroute -T sends them: 40 bytes of TCP, 60 in all.
        options: list[TCPOption] = [MSS(1460), SACKPermitted(), Timestamps(0, 0), NOP(),
                                    WindowScale(2)]
        tcp = TCP(sport, self.port, seq=seq, flags=TCPFlags.SYN, window=5840,
                  options=options).encode(self.src, self.dst)
        return tcp, (sport, self.port, (seq + 1) & 0xFFFFFFFF)


def _udp_sum(udp: UDP, src: str, dst: str) -> int:
    payload = udp.payload
    return udp._total(src, dst, 8 + len(payload), payload)


# -- answers -------------------------------------------------------------------------------

HOP = "hop"  # time exceeded: a router on the way
FINAL = "final"  # the destination (or something that ends the trace) answered


@dataclass(frozen=True, slots=True)
class Answer:
    """What one received packet says about one probe."""

    kind: str  # HOP or FINAL
    source: str  # who answered
    quote: bytes | None  # the quoted 8 bytes (ICMP errors)
    direct: tuple[int, ...] | None  # the destination's own answer (echo reply, SYN/ACK, RST)
    mark: str = ""  # Linux traceroute's annotation: !H !N !P !X !S !F-mtu !V !C !<code>
    code: int | None = None


def unreachable_mark(code: int, mtu: int | None = None) -> str:
    """The annotation Linux traceroute prints for an ICMP destination unreachable code.

    Port unreachable is no mark at all: it is the destination answering a UDP probe.
    """
    if code == UnreachableCode.PORT:
        return ""
    if code in (0, 6, 8, 11):  # net, net unknown, host isolated, net for TOS
        return "!N"
    if code in (1, 7, 12):  # host, host unknown, host for TOS
        return "!H"
    if code in (9, 10, 13):  # net / host administratively prohibited, filtered (RFC 1812)
        return "!X"
    if code == UnreachableCode.PROTOCOL:
        return "!P"
    if code == UnreachableCode.FRAG_NEEDED:
        return f"!F-{mtu or 0}"
    if code == UnreachableCode.SOURCE_ROUTE_FAILED:
        return "!S"
    if code == UnreachableCode.HOST_PRECEDENCE:
        return "!V"
    if code == UnreachableCode.PRECEDENCE_CUTOFF:
        return "!C"
    return f"!<{code}>"


def interpret(ip: IPv4, factory: ProbeFactory) -> Answer | None:
    """The answer ``ip`` gives to one of ``factory``'s probes, or None if it is not one.

    Raises DecodeError on malformed bytes; the caller skips such packets.
    """
    if ip.dst != factory.src:
        return None
    if ip.proto == IPProto.ICMP:
        icmp = ICMP.decode(ip.payload)
        if icmp.type in (ICMPType.TIME_EXCEEDED, ICMPType.DEST_UNREACHABLE):
            return _icmp_error(ip.src, icmp, factory)
        if icmp.type == ICMPType.ECHO_REPLY and factory.method == "icmp" \
                and ip.src == factory.dst:
            return Answer(FINAL, ip.src, None, (icmp.id, icmp.seq))
        return None
    if ip.proto == IPProto.TCP and factory.method == "tcp" and ip.src == factory.dst:
        tcp = TCP.decode(ip.payload)
        if tcp.flags & TCPFlags.RST or (tcp.flags & TCPFlags.SYN and tcp.flags & TCPFlags.ACK):
            return Answer(FINAL, ip.src, None, (tcp.dport, tcp.sport, tcp.ack))
    return None


def _icmp_error(source: str, icmp: ICMP, factory: ProbeFactory) -> Answer | None:
    quoted = icmp.quoted
    if quoted is None or quoted.dst != factory.dst or quoted.src != factory.src \
            or quoted.proto != factory.proto or quoted.frag_offset:
        return None
    head = bytes(quoted.payload[:8])
    if len(head) < 8:
        return None
    if icmp.type == ICMPType.TIME_EXCEEDED:
        return Answer(HOP, source, head, None, code=icmp.code)
    return Answer(FINAL, source, head, None, unreachable_mark(icmp.code, icmp.next_hop_mtu),
                  icmp.code)


def quote_fields(method: str, quote: bytes) -> dict[str, int]:
    """The fields of an 8-byte quote by name (for tests and ``--json`` debugging)."""
    if method == "udp":
        sport, dport, length, checksum = struct.unpack("!HHHH", quote)
        return {"sport": sport, "dport": dport, "length": length, "checksum": checksum}
    if method == "icmp":
        typ, code, checksum, ident, seq = _ECHO_KEY.unpack(quote)
        return {"type": typ, "code": code, "checksum": checksum, "id": ident, "seq": seq}
    sport, dport, seq = _TCP_KEY.unpack(quote)
    return {"sport": sport, "dport": dport, "seq": seq}

