"""classify(): the fast path's categories, link types, malformed input, and agreement with
decode_frame on the same bytes."""

from __future__ import annotations

import subprocess
import sys

import pytest
from scapy.layers.dns import DNS, DNSQR
from scapy.layers.inet import IP
from scapy.layers.inet import TCP as STCP
from scapy.layers.inet import UDP as SUDP
from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop
from scapy.layers.inet6 import IPv6 as SIPv6
from scapy.layers.l2 import ARP, Dot1Q, Ether

from wirelab.wire.classify import Proto, classify
from wirelab.wire.icmp import ICMP
from wirelab.wire.icmpv6 import ICMPv6
from wirelab.wire.ipv4 import IPv4
from wirelab.wire.ipv6 import IPv6
from wirelab.wire.packet import LinkType, Packet, decode_frame
from wirelab.wire.tcp import TCP
from wirelab.wire.udp import UDP

from .conftest import (
    LO_ICMP_ECHO_REQ,
    LO_ICMPV6_ECHO_REQ,
    LO_TCP_DATA,
    LO_TCP_SYN,
    LO_UDP,
    LO_UDP6,
    SLL_UDP,
    mixed_frames,
)

HTTP_REQ = b"GET /index.html HTTP/1.1\r\nHost: a\r\n\r\n"


def eth(layer: object) -> bytes:
    return bytes(Ether() / layer)  # type: ignore[operator]


CASES = [
    ("http request", eth(IP() / STCP(sport=40000, dport=80, flags="PA") / HTTP_REQ), Proto.HTTP),
    ("http response on 8080", eth(IP() / STCP(sport=8080, dport=40000, flags="PA")
                                  / b"HTTP/1.1 200 OK\r\n\r\n"), Proto.HTTP),
    ("http over ipv6", eth(SIPv6() / STCP(dport=80, flags="PA") / b"POST / HTTP/1.1\r\n"),
     Proto.HTTP),
    ("tcp on 80, not http", eth(IP() / STCP(dport=80, flags="PA") / b"\x16\x03\x01"), Proto.TCP),
    ("http request on 443 is tcp", eth(IP() / STCP(dport=443, flags="PA") / HTTP_REQ),
     Proto.TCP),
    ("dns over udp", eth(IP() / SUDP(sport=5353, dport=53) / DNS(qd=DNSQR(qname="a.b"))),
     Proto.DNS),
    ("dns reply", eth(IP() / SUDP(sport=53, dport=5353) / DNS(qr=1)), Proto.DNS),
    ("dns over tcp", eth(IP() / STCP(sport=40000, dport=53)), Proto.DNS),
    ("icmp", LO_ICMP_ECHO_REQ, Proto.ICMP),
    ("icmpv6 counts as icmp", LO_ICMPV6_ECHO_REQ, Proto.ICMP),
    ("tcp", LO_TCP_SYN, Proto.TCP),
    ("tcp data", LO_TCP_DATA, Proto.TCP),
    ("udp", LO_UDP, Proto.UDP),
    ("udp over ipv6", LO_UDP6, Proto.UDP),
    ("gre is other ip", eth(IP(proto=47) / b"\x00\x00\x08\x00"), Proto.OTHER_IP),
    ("non-first fragment", eth(IP(frag=10, proto=6) / bytes(40)), Proto.OTHER_IP),
    ("arp", eth(ARP()), Proto.ARP),
    ("ipv6 no next header", eth(SIPv6(nh=59)), Proto.IPV6),
    ("ipv6 non-first fragment", eth(SIPv6() / IPv6ExtHdrFragment(offset=5, nh=17) / bytes(16)),
     Proto.IPV6),
    ("ipv6 ext headers walked", eth(SIPv6() / IPv6ExtHdrHopByHop() / ICMPv6EchoRequest()),
     Proto.ICMP),
    ("vlan tagged", bytes(Ether() / Dot1Q(vlan=7) / IP() / SUDP(dport=53)), Proto.DNS),
    ("lldp", bytes(6) + bytes(6) + b"\x88\xcc" + bytes(46), Proto.OTHER),
    ("802.3 llc", bytes(12) + b"\x00\x26" + bytes(46), Proto.OTHER),
    ("empty", b"", Proto.OTHER),
    ("truncated ip header", LO_TCP_SYN[:30], Proto.OTHER),
    ("ip cut inside tcp", eth(IP(proto=6) / bytes(10)), Proto.OTHER_IP),
    ("ip cut inside icmp", eth(IP(proto=1) / bytes(4)), Proto.OTHER_IP),
    ("udp length below 8", eth(IP(proto=17) / b"\x00\x35\x00\x35\x00\x04\x00\x00"),
     Proto.OTHER_IP),
    ("bad ip version", LO_TCP_SYN[:14] + b"\x65" + LO_TCP_SYN[15:], Proto.OTHER),
    ("icmp inside ipv4 with icmpv6 number", eth(IP(proto=58) / bytes(8)), Proto.OTHER_IP),
]


@pytest.mark.parametrize(("name", "frame", "expected"), CASES, ids=[c[0] for c in CASES])
def test_categories(name: str, frame: bytes, expected: Proto) -> None:
    assert classify(frame) is expected


def test_labels_are_the_counters_names() -> None:
    assert [p.label for p in Proto] == ["HTTP", "DNS", "ICMP", "TCP", "UDP", "Other IP", "ARP",
                                        "IPv6", "Other"]


def test_link_types() -> None:
    assert classify(SLL_UDP, LinkType.LINUX_SLL) is Proto.UDP
    assert classify(LO_TCP_SYN[14:], LinkType.RAW) is Proto.TCP
    assert classify(LO_UDP6[14:], LinkType.RAW) is Proto.UDP
    assert classify(LO_TCP_SYN[14:], LinkType.IPV4) is Proto.TCP
    assert classify(LO_ICMPV6_ECHO_REQ[14:], LinkType.IPV6) is Proto.ICMP
    assert classify(LO_TCP_SYN, 147) is Proto.OTHER
    assert classify(b"\x75" + bytes(40), LinkType.RAW) is Proto.OTHER


@pytest.mark.parametrize("junk", [None, "GET / HTTP/1.1", 42, [1, 2, 3], object()])
def test_never_raises_on_things_that_are_not_frames(junk: object) -> None:
    assert classify(junk) is Proto.OTHER  # type: ignore[arg-type]


def test_memoryview_and_bytearray() -> None:
    frame = eth(IP() / STCP(dport=80, flags="PA") / HTTP_REQ)
    assert classify(memoryview(frame)) is Proto.HTTP
    assert classify(bytearray(frame)) is Proto.HTTP


def test_classify_imports_no_header_codec() -> None:
    # the fast path must not build (or even import) the header classes
    code = ("import sys, wirelab.wire.classify as c; c.classify(bytes(60)); "
            "print(sorted(m for m in sys.modules if m.startswith('wirelab.wire.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "['wirelab.wire._fields', 'wirelab.wire.classify']"


def expected_class(pkt: Packet, linktype: int = LinkType.ETHERNET) -> Proto:
    """The category decode_frame's layers imply, by the rules classify documents."""
    by_type = {type(layer): layer for layer in pkt.layers}
    seg = by_type.get(TCP) or by_type.get(UDP)
    if isinstance(seg, TCP | UDP):
        if 53 in (seg.sport, seg.dport):
            return Proto.DNS
        if isinstance(seg, TCP) and {seg.sport, seg.dport} & {80, 8080} and \
                seg.payload[:8].startswith((b"GET ", b"POST ", b"HEAD ", b"PUT ", b"DELETE ",
                                            b"OPTIONS ", b"PATCH ", b"CONNECT ", b"TRACE ",
                                            b"HTTP/1.")):
            return Proto.HTTP
        return Proto.TCP if isinstance(seg, TCP) else Proto.UDP
    if ICMP in by_type or ICMPv6 in by_type:
        return Proto.ICMP
    if IPv4 in by_type:
        return Proto.OTHER_IP
    if IPv6 in by_type:
        return Proto.IPV6
    if any(type(layer).__name__ == "ARP" for layer in pkt.layers):
        return Proto.ARP
    return Proto.OTHER


def tcp_options_error(pkt: Packet) -> bool:
    """The documented difference: classify does not read TCP options."""
    err = pkt.error
    return err is not None and err.layer == "TCP" and err.field == "options"


def test_agrees_with_decode_frame_on_a_mixed_capture() -> None:
    frames = mixed_frames(3000, seed=11)
    seen = set()
    for frame in frames:
        pkt = decode_frame(frame)
        got = classify(frame)
        assert got is expected_class(pkt), pkt
        seen.add(got)
    assert seen >= {Proto.DNS, Proto.ICMP, Proto.TCP, Proto.UDP, Proto.OTHER_IP, Proto.ARP}
