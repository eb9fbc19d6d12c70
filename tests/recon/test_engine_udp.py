"""The UDP scan's probes, cookies and answer rules, without the network."""

from __future__ import annotations

import pytest

from wirelab.recon import states
from wirelab.recon.states import PortState, Reason
from wirelab.recon.udp import Prober, payload
from wirelab.wire.dns import DNSMessage, Opcode
from wirelab.wire.icmp import ICMP
from wirelab.wire.ipv4 import IPProto, IPv4
from wirelab.wire.udp import UDP

US, TARGET = "198.18.0.10", "198.18.0.20"
ETH = bytes(12) + b"\x08\x00"


def _udp_reply(sport: int, dport: int, src: str = TARGET) -> bytes:
    seg = UDP(sport, dport, payload=b"reply").encode(src, US)
    return ETH + IPv4(proto=IPProto.UDP, src=src, dst=US, payload=seg).encode()


def _icmp(probe: bytes, code: int, src: str = TARGET) -> bytes:
    body = ICMP(type=3, code=code, payload=probe[:28]).encode()
    return ETH + IPv4(proto=IPProto.ICMP, src=src, dst=US, payload=body).encode()


@pytest.fixture
def prober() -> Prober:
    return Prober(US, TARGET, key=b"k" * 16)


def test_udp_rules() -> None:
    assert states.from_udp_icmp(3) == (PortState.CLOSED, Reason.PORT_UNREACH)
    filtered = {c for c in range(16) if (v := states.from_udp_icmp(c)) and
                v[0] == PortState.FILTERED}
    assert filtered == {0, 1, 2, 9, 10, 13}  # nmap's filtered codes for UDP
    assert states.from_udp_icmp(4) is None
    assert states.UDP_NO_ANSWER == (PortState.OPEN_FILTERED, Reason.NO_RESPONSE)
    assert str(PortState.OPEN_FILTERED) == "open|filtered"


def test_probe_is_valid_udp_with_cookie_port(prober: Prober) -> None:
    wire = prober.packet(1000, 2)
    ip = IPv4.decode(wire)
    assert (ip.src, ip.dst, ip.proto) == (US, TARGET, IPProto.UDP)
    udp = UDP.decode(ip.payload)
    assert (udp.sport, udp.dport) == (prober.cookie(1000, 2), 1000)
    assert udp.checksum_ok(US, TARGET)
    assert 1024 <= udp.sport <= 65535
    assert prober.cookie(1000, 2) != prober.cookie(1000, 3)  # each try its own port
    assert prober.cookie(1000, 2) != Prober(US, TARGET, key=b"x" * 16).cookie(1000, 2)


def test_dns_probe_is_a_status_query_carrying_the_cookie(prober: Prober) -> None:
    udp = UDP.decode(IPv4.decode(prober.packet(53, 0)).payload)
    message = DNSMessage.decode(udp.payload)
    assert message.opcode == Opcode.STATUS and not message.qr
    assert message.id == udp.sport == prober.cookie(53, 0)
    assert payload(9999, 1234) == b""  # nothing known: an empty datagram, as nmap


def test_answers_matched(prober: Prober) -> None:
    assert prober.interpret(_udp_reply(53, prober.cookie(53, 1))) == (53, 1, states.UDP_ANSWER, 64)
    probe = prober.packet(1001, 0)
    assert prober.interpret(_icmp(probe, 3)) == (1001, 0, (PortState.CLOSED,
                                                           Reason.PORT_UNREACH), 64)
    assert prober.interpret(_icmp(probe, 13)) == (1001, 0, (PortState.FILTERED,
                                                            Reason.ADMIN_PROHIBITED), 64)
    # an ICMP error from a router on the way counts too: it quotes our probe
    assert prober.interpret(_icmp(probe, 1, src="198.18.0.1")) == (
        1001, 0, (PortState.FILTERED, Reason.HOST_UNREACH), 64)


def test_strays_ignored(prober: Prober) -> None:
    assert prober.interpret(_udp_reply(53, prober.cookie(53, 0) ^ 1)) is None
    assert prober.interpret(_udp_reply(53, prober.cookie(53, 0), src="198.18.0.21")) is None
    other = Prober(US, TARGET, key=b"x" * 16).packet(1001, 0)  # another scan's probe
    assert prober.interpret(_icmp(other, 3)) is None
    assert prober.interpret(_icmp(prober.packet(1001, 0), 4)) is None  # frag needed
    assert prober.interpret(ETH + b"\x45junk") is None
