"""Both sniff engines classify alike: Scapy's layers versus the fast byte classifier.

Frames are built with Scapy, then classified twice: by the Scapy engine's function on the
re-dissected packet, and by wirelab.wire.classify on the bytes.  The expected category is
written by hand for each frame, so a disagreement shows which side is wrong.
"""

from __future__ import annotations

import pytest
from scapy.layers.dns import DNS, DNSQR
from scapy.layers.inet import GRE, ICMP, IP, TCP, UDP
from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Raw

from wirelab.craft.sniff_scapy import classify_packet
from wirelab.wire.classify import Proto, classify

E = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
V4 = IP(src="198.18.0.10", dst="198.18.0.20")
V6 = IPv6(src="2001:db8::10", dst="2001:db8::20")

CASES = [
    ("http request", E / V4 / TCP(sport=40000, dport=80, flags="PA")
     / Raw(b"GET /get HTTP/1.1\r\nHost: server\r\n\r\n"), Proto.HTTP),
    ("http response 8080", E / V4 / TCP(sport=8080, dport=40000, flags="PA")
     / Raw(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), Proto.HTTP),
    ("http body segment", E / V4 / TCP(sport=80, dport=40000, flags="A")
     / Raw(b"<html>more body</html>"), Proto.TCP),
    ("bare syn to 80", E / V4 / TCP(sport=40000, dport=80, flags="S"), Proto.TCP),
    ("dns query", E / V4 / UDP(sport=40000, dport=53) / DNS(qd=DNSQR(qname="server.lab")),
     Proto.DNS),
    ("dns over tcp", E / V4 / TCP(sport=53, dport=40000, flags="A"), Proto.DNS),
    ("echo request", E / V4 / ICMP() / Raw(b"x" * 56), Proto.ICMP),
    ("port unreachable quoting dns", E / V4 / ICMP(type=3, code=3)
     / bytes(V4 / UDP(sport=40000, dport=53) / DNS(qd=DNSQR(qname="a")))[:28], Proto.ICMP),
    ("plain udp", E / V4 / UDP(sport=40000, dport=12345) / Raw(b"\x01\x00\x00\x01x"),
     Proto.UDP),
    ("plain tcp", E / V4 / TCP(sport=40000, dport=22, flags="PA") / Raw(b"SSH-2.0-x\r\n"),
     Proto.TCP),
    ("gre", E / V4 / GRE() / Raw(b"\x00" * 8), Proto.OTHER_IP),
    ("later fragment", E / IP(src="198.18.0.10", dst="198.18.0.20", proto=17, frag=185)
     / Raw(b"\x00" * 40), Proto.OTHER_IP),
    ("arp", E / ARP(psrc="198.18.0.10", pdst="198.18.0.20"), Proto.ARP),
    ("tcp over ipv6", E / V6 / TCP(sport=40000, dport=443), Proto.TCP),
    ("udp over ipv6 hop-by-hop", E / V6 / IPv6ExtHdrHopByHop() / UDP(sport=1, dport=2),
     Proto.UDP),
    ("icmpv6 echo", E / V6 / ICMPv6EchoRequest(), Proto.ICMP),
    ("ipv6 later fragment", E / V6 / IPv6ExtHdrFragment(offset=10, nh=17) / Raw(b"\0" * 16),
     Proto.IPV6),
    ("ipv6 no next header", E / IPv6(src="2001:db8::1", dst="2001:db8::2", nh=59), Proto.IPV6),
    ("other ethertype", Ether(type=0x88CC) / Raw(b"\x00" * 46), Proto.OTHER),
]


@pytest.mark.parametrize("name,packet,expected", CASES, ids=[c[0] for c in CASES])
def test_engines_agree(name: str, packet: object, expected: Proto) -> None:
    frame = bytes(packet)  # type: ignore[call-overload]
    assert classify(frame) == expected, "fast classifier"
    assert classify_packet(Ether(frame)) == expected, "scapy engine"
