"""Sample traffic built with wirelab's own encoders, for the tour and the tests.

:func:`curriculum_trace` is a short, readable story of the curriculum's exercises on the lab's
address plan (RFC 2544's 198.18.0.0/15): ARP, a ping, the 1.1 UDP datagram, a DNS lookup, the
1.2 HTTP exchange with its handshake and teardown, the 1.4 hand-made datagram, the 2.4 custom
protocol, plus an 802.1Q-tagged frame, an IPv4 fragment pair and an ICMPv6 echo.

:func:`mixed_frames` is seeded random traffic of the same kinds, thousands of packets, that the
tests cross-check against tshark field by field.  Everything here is synthetic: the frames were
never on a wire, but each is a frame a real stack could have sent (checksums computed).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

from wirelab.wire.arp import ARP
from wirelab.wire.custom import CUSTOM_PORT, Custom
from wirelab.wire.dns import AAAA, CNAME, A, DNSMessage, QType, ResourceRecord
from wirelab.wire.ethernet import Dot1Q, Ethernet, EtherType
from wirelab.wire.icmp import ICMP, ICMPType
from wirelab.wire.icmpv6 import ICMPv6
from wirelab.wire.ipv4 import FLAG_DF, FLAG_MF, IPProto, IPv4
from wirelab.wire.ipv6 import FragmentHeader, IPv6
from wirelab.wire.pcap import PcapWriter
from wirelab.wire.tcp import MSS, NOP, SACK, TCP, SACKPermitted, TCPFlags, Timestamps, WindowScale
from wirelab.wire.udp import UDP

CLIENT = ("02:00:00:00:00:0a", "198.18.0.10", "2001:db8::a")
SERVER = ("02:00:00:00:00:14", "198.18.0.20", "2001:db8::14")
ROUTER = ("02:00:00:00:00:01", "198.18.0.1", "2001:db8::1")
BROADCAST = "ff:ff:ff:ff:ff:ff"
START_NS = 1_764_079_200 * 1_000_000_000  # a fixed epoch, so the sample is reproducible

Host = tuple[str, str, str]
Frame = tuple[int, bytes]  # (timestamp in ns, frame bytes)


# --- frame builders ----------------------------------------------------------------------


def ether(src: Host, dst: Host | str, payload: bytes, type: int = EtherType.IPV4,
          vlan: list[Dot1Q] | None = None) -> bytes:
    dst_mac = dst if isinstance(dst, str) else dst[0]
    return Ethernet(dst=dst_mac, src=src[0], type=type, vlan=vlan, payload=payload).encode()


def ipv4(src: Host, dst: Host, proto: int, segment: bytes, *, ttl: int = 64, id: int = 0,
         flags: int = FLAG_DF, frag_offset: int = 0) -> bytes:
    return IPv4(src=src[1], dst=dst[1], proto=proto, ttl=ttl, id=id, flags=flags,
                frag_offset=frag_offset, payload=segment).encode()


def udp4(src: Host, dst: Host, sport: int, dport: int, data: bytes, **ip: int) -> bytes:
    seg = UDP(sport=sport, dport=dport, payload=data).encode(src[1], dst[1])
    return ether(src, dst, ipv4(src, dst, IPProto.UDP, seg, **ip))


def tcp4(src: Host, dst: Host, sport: int, dport: int, seq: int, ack: int, flags: int,
         data: bytes = b"", options: list | None = None, window: int = 64240) -> bytes:
    seg = TCP(sport=sport, dport=dport, seq=seq, ack=ack, flags=flags, window=window,
              options=options or [], payload=data).encode(src[1], dst[1])
    return ether(src, dst, ipv4(src, dst, IPProto.TCP, seg))


def dns_answer(query: DNSMessage, address: str) -> DNSMessage:
    name = query.questions[0].name
    records = [ResourceRecord(name, A(address), ttl=300)]
    return query.reply(records)


# --- the curriculum story ----------------------------------------------------------------


def curriculum_trace() -> list[Frame]:
    """The sample capture that ``make tour`` dissects: every exercise's traffic, in order."""
    frames: list[bytes] = []
    add = frames.append
    c, s, r = CLIENT, SERVER, ROUTER
    # ARP: the client learns the server's MAC before its first IPv4 packet.
    add(ether(c, BROADCAST, ARP(op=1, sha=c[0], spa=c[1], tha="00:00:00:00:00:00",
                                tpa=s[1]).encode(), EtherType.ARP))
    add(ether(s, c, ARP(op=2, sha=s[0], spa=s[1], tha=c[0], tpa=c[1]).encode(), EtherType.ARP))
    # 2.1 ping
    for seq in (1, 2):
        for kind, a, b in ((ICMPType.ECHO_REQUEST, c, s), (ICMPType.ECHO_REPLY, s, c)):
            msg = ICMP(type=kind, id=0x1D2C, seq=seq, payload=bytes(range(48))).encode()
            add(ether(a, b, ipv4(a, b, IPProto.ICMP, msg, id=seq)))
    # 1.1 one datagram to port 8000, nothing back
    add(udp4(c, s, 43210, 8000, b"Hello, World!"))
    # DNS: the client asks the lab's resolver (the router) for "server"
    query = DNSMessage.query("server.lab", QType.A, id=0x4C41)
    add(udp4(c, r, 53001, 53, query.encode()))
    add(udp4(r, c, 53, 53001, dns_answer(query, s[1]).encode()))
    # 1.2 HTTP over TCP: handshake, request, response, teardown from both sides
    frames.extend(_http_conversation(c, s, 40000, 80, isn_c=0x1000_0000, isn_s=0x7000_0000))
    # 1.4 the hand-made datagram: source port 12345, checksum computed
    add(udp4(c, s, 12345, 8000, b"Manually crafted, checksum computed"))
    # 2.4 the custom protocol on UDP port 12345
    add(udp4(c, s, 40123, CUSTOM_PORT, Custom(version=2, type=1,
                                              payload=b"This is my custom data").encode()))
    # A VLAN-tagged frame, an IPv4 datagram in two fragments, an ICMPv6 echo
    seg = UDP(sport=5000, dport=5001, payload=b"tagged").encode(c[1], s[1])
    add(ether(c, s, ipv4(c, s, IPProto.UDP, seg), EtherType.VLAN, [Dot1Q(vid=10)]))
    frames.extend(_fragments(c, s))
    ping6 = ICMPv6(type=128, id=7, seq=1, payload=b"ping6").encode(c[2], s[2])
    add(ether(c, s, IPv6(src=c[2], dst=s[2], next_header=IPProto.ICMPV6, payload=ping6).encode(),
              EtherType.IPV6))
    return [(START_NS + i * 1_500_000, f) for i, f in enumerate(frames)]


def _http_conversation(c: Host, s: Host, sport: int, dport: int, isn_c: int,
                       isn_s: int) -> list[bytes]:
    opts = [MSS(1460), SACKPermitted(), Timestamps(1000, 0), NOP(), WindowScale(7)]
    request = b"GET /get HTTP/1.1\r\nHost: server\r\nConnection: close\r\n\r\n"
    body = b'{"method": "GET", "path": "/get"}\n'
    response = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
    a, pa, f = TCPFlags.ACK, TCPFlags.PSH | TCPFlags.ACK, TCPFlags.FIN | TCPFlags.ACK
    c1, s1 = isn_c + 1, isn_s + 1
    c2, s2 = c1 + len(request), s1 + len(response)
    return [
        tcp4(c, s, sport, dport, isn_c, 0, TCPFlags.SYN, options=opts),
        tcp4(s, c, dport, sport, isn_s, c1, TCPFlags.SYN | TCPFlags.ACK, options=opts,
             window=65160),
        tcp4(c, s, sport, dport, c1, s1, a, window=502),
        tcp4(c, s, sport, dport, c1, s1, pa, request, window=502),
        tcp4(s, c, dport, sport, s1, c2, a, window=509),
        tcp4(s, c, dport, sport, s1, c2, pa, response, window=509),
        tcp4(s, c, dport, sport, s2, c2, f, window=509),
        tcp4(c, s, sport, dport, c2, s2 + 1, f, window=502),
        tcp4(s, c, dport, sport, s2 + 1, c2 + 1, a, window=509),
    ]


def _fragments(c: Host, s: Host) -> list[bytes]:
    """One 1,400-byte UDP datagram split at 1,024 bytes into two IPv4 fragments."""
    seg = UDP(sport=6000, dport=6001, payload=bytes(1400)).encode(c[1], s[1])
    cut = 1024
    first = ipv4(c, s, IPProto.UDP, seg[:cut], id=0xBEEF, flags=FLAG_MF)
    second = ipv4(c, s, IPProto.UDP, seg[cut:], id=0xBEEF, flags=0, frag_offset=cut // 8)
    return [ether(c, s, first), ether(c, s, second)]


# --- seeded random traffic for cross-checks ----------------------------------------------


def mixed_frames(count: int, seed: int = 2544) -> Iterator[Frame]:
    """``count`` random frames of every kind the codecs know, reproducible from ``seed``."""
    rng = random.Random(seed)
    makers = (_rand_tcp, _rand_tcp, _rand_udp, _rand_dns, _rand_icmp, _rand_arp, _rand_ipv6,
              _rand_vlan, _rand_fragment)
    ts = START_NS
    produced = 0
    while produced < count:
        for frame in rng.choice(makers)(rng):
            if produced == count:
                return
            ts += rng.randrange(1_000, 5_000_000)
            produced += 1
            yield ts, frame


def _rand_host(rng: random.Random) -> Host:
    n = rng.randrange(2, 250)
    return (f"02:00:00:00:{rng.randrange(256):02x}:{n:02x}", f"198.18.{rng.randrange(2)}.{n}",
            f"2001:db8::{n:x}")


def _rand_tcp(rng: random.Random) -> list[bytes]:
    a, b = _rand_host(rng), _rand_host(rng)
    opts = rng.choice([[], [MSS(rng.randrange(536, 9000))],
                       [MSS(1460), SACKPermitted(), Timestamps(rng.getrandbits(32), 0), NOP(),
                        WindowScale(rng.randrange(15))],
                       [NOP(), NOP(), Timestamps(rng.getrandbits(32), rng.getrandbits(32))],
                       [NOP(), NOP(), SACK(((1000, 2000), (3000, 4000)))]])
    flags = rng.choice([TCPFlags.SYN, TCPFlags.SYN | TCPFlags.ACK, TCPFlags.ACK,
                        TCPFlags.PSH | TCPFlags.ACK, TCPFlags.FIN | TCPFlags.ACK,
                        TCPFlags.RST, TCPFlags.RST | TCPFlags.ACK])
    data = rng.randbytes(rng.choice([0, 0, 1, 100, 1200])) if flags & TCPFlags.ACK else b""
    port = rng.choice([22, 443, 8443, 9000, 5201])  # not 80: HTTP text is checked apart
    return [tcp4(a, b, rng.randrange(1024, 65536), port, rng.getrandbits(32),
                 rng.getrandbits(32) if flags & TCPFlags.ACK else 0, flags, data, opts,
                 rng.randrange(65536))]


def _rand_udp(rng: random.Random) -> list[bytes]:
    a, b = _rand_host(rng), _rand_host(rng)
    return [udp4(a, b, rng.randrange(1024, 65536), rng.choice([8000, 5000, 4789, 9999]),
                 rng.randbytes(rng.randrange(0, 600)), ttl=rng.randrange(1, 256),
                 id=rng.randrange(65536))]


def _rand_dns(rng: random.Random) -> list[bytes]:
    a, b = _rand_host(rng), _rand_host(rng)
    name = rng.choice(["server", "client", "remote", "www", "api"]) + "." + rng.choice(
        ["lab", "example.test", "a.b.c.test"])
    query = DNSMessage.query(name, rng.choice([QType.A, QType.AAAA]), id=rng.randrange(65536))
    reply = query.reply([ResourceRecord(name, CNAME("alias." + name), ttl=60),
                         ResourceRecord("alias." + name, A(b[1]), ttl=rng.randrange(1, 86400)),
                         ResourceRecord("alias." + name, AAAA(b[2]), ttl=30)])
    sport = rng.randrange(1024, 65536)
    return [udp4(a, b, sport, 53, query.encode()), udp4(b, a, 53, sport, reply.encode())]


def _rand_icmp(rng: random.Random) -> list[bytes]:
    a, b = _rand_host(rng), _rand_host(rng)
    kind = rng.choice([ICMPType.ECHO_REQUEST, ICMPType.ECHO_REPLY])
    msg = ICMP(type=kind, id=rng.randrange(65536), seq=rng.randrange(65536),
               payload=rng.randbytes(rng.randrange(0, 64))).encode()
    frames = [ether(a, b, ipv4(a, b, IPProto.ICMP, msg, ttl=rng.randrange(1, 256)))]
    if rng.random() < 0.3:  # an error quoting the offending datagram's header + 8 bytes
        offending = ipv4(a, b, IPProto.UDP, UDP(sport=33434, dport=33435,
                                                payload=b"x" * 12).encode(a[1], b[1]))
        code = rng.choice([0, 1, 3])
        kind = rng.choice([ICMPType.DEST_UNREACHABLE, ICMPType.TIME_EXCEEDED])
        err = ICMP(type=kind, code=code if kind == ICMPType.DEST_UNREACHABLE else 0,
                   payload=offending[:28]).encode()
        frames.append(ether(b, a, ipv4(b, a, IPProto.ICMP, err)))
    return frames


def _rand_arp(rng: random.Random) -> list[bytes]:
    a, b = _rand_host(rng), _rand_host(rng)
    req = ARP(op=1, sha=a[0], spa=a[1], tha="00:00:00:00:00:00", tpa=b[1]).encode()
    rep = ARP(op=2, sha=b[0], spa=b[1], tha=a[0], tpa=a[1]).encode()
    return [ether(a, BROADCAST, req, EtherType.ARP), ether(b, a, rep, EtherType.ARP)]


def _rand_ipv6(rng: random.Random) -> list[bytes]:
    a, b = _rand_host(rng), _rand_host(rng)
    if rng.random() < 0.5:
        msg = ICMPv6(type=rng.choice([128, 129]), id=rng.randrange(65536),
                     seq=rng.randrange(65536), payload=rng.randbytes(16)).encode(a[2], b[2])
        proto = IPProto.ICMPV6
    else:
        proto = IPProto.UDP
        msg = UDP(sport=rng.randrange(1024, 65536), dport=8000,
                  payload=rng.randbytes(rng.randrange(1, 200))).encode(a[2], b[2])
    ip = IPv6(src=a[2], dst=b[2], next_header=proto, hop_limit=rng.randrange(1, 256),
              flow_label=rng.randrange(1 << 20), payload=msg)
    return [ether(a, b, ip.encode(), EtherType.IPV6)]


def _rand_vlan(rng: random.Random) -> list[bytes]:
    a, b = _rand_host(rng), _rand_host(rng)
    seg = UDP(sport=rng.randrange(1024, 65536), dport=9999,
              payload=rng.randbytes(rng.randrange(1, 100))).encode(a[1], b[1])
    tags = [Dot1Q(pcp=rng.randrange(8), vid=rng.randrange(1, 4095))]
    return [ether(a, b, ipv4(a, b, IPProto.UDP, seg), EtherType.VLAN, tags)]


def _rand_fragment(rng: random.Random) -> list[bytes]:
    a, b = _rand_host(rng), _rand_host(rng)
    size = rng.randrange(1600, 3000)
    seg = UDP(sport=rng.randrange(1024, 65536), dport=7000,
              payload=rng.randbytes(size)).encode(a[1], b[1])
    ident = rng.randrange(65536)
    if rng.random() < 0.5:  # IPv6: fragment extension header
        cut = 1232
        frames = []
        for off, more in ((0, 1), (cut, 0)):
            fh = FragmentHeader(next_header=IPProto.UDP, frag_offset=off // 8, m=more,
                                identification=ident)
            part = seg[off:off + cut] if more else seg[off:]
            ip = IPv6(src=a[2], dst=b[2], next_header=IPProto.FRAGMENT, ext_headers=[fh],
                      payload=part)
            frames.append(ether(a, b, ip.encode(), EtherType.IPV6))
        return frames
    cut = 1480
    return [ether(a, b, ipv4(a, b, IPProto.UDP, seg[:cut], id=ident, flags=FLAG_MF)),
            ether(a, b, ipv4(a, b, IPProto.UDP, seg[cut:], id=ident, flags=0,
                             frag_offset=cut // 8))]


# --- files -------------------------------------------------------------------------------


def write_pcap(path: str | Path, frames: list[Frame] | Iterator[Frame]) -> int:
    """Write frames to a classic pcap file (nanosecond timestamps); returns the count."""
    n = 0
    with PcapWriter(path, nanosecond=True) as writer:
        for ts_ns, frame in frames:
            writer.write(frame, (ts_ns // 1_000_000_000, ts_ns % 1_000_000_000))
            n += 1
    return n
