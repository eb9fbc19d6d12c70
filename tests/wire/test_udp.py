"""UDP (RFC 768) over IPv4 and IPv6: captured datagrams, Scapy-built ones, checksum rules."""

from __future__ import annotations

import pytest
from scapy.layers.inet import IP
from scapy.layers.inet import UDP as SUDP
from scapy.layers.inet6 import IPv6 as SIPv6

from wirelab.errors import BadFieldError, EncodeError, TruncatedError
from wirelab.wire.udp import UDP

from .conftest import LO_UDP, LO_UDP6, SLL_UDP

LO = "127.0.0.1"


def test_captured_datagram() -> None:
    udp = UDP.decode(LO_UDP, 34)
    assert (udp.sport, udp.dport, udp.length, udp.checksum) == (41507, 40112, 12, 0xFE1F)
    assert udp.payload == b"ping"
    # loopback leaves the checksum CHECKSUM_PARTIAL; tshark also calls it bad (conftest)
    assert udp.checksum_ok(LO, LO) is False
    assert udp.encode() == LO_UDP[34:]  # an explicit checksum goes out as given


def test_captured_datagram_checksum_recomputed_like_scapy() -> None:
    theirs = bytes(IP(src=LO, dst=LO) / SUDP(sport=41507, dport=40112) / b"ping")
    computed = UDP(sport=41507, dport=40112, payload=b"ping").encode(LO, LO)
    assert computed == theirs[20:]
    assert UDP.decode(computed).checksum_ok(LO, LO) is True


def test_captured_ipv6_and_cooked() -> None:
    udp6 = UDP.decode(LO_UDP6, 54)
    assert (udp6.sport, udp6.dport, udp6.length) == (39111, 40113, 16)
    assert udp6.payload == b"wirelab6" and udp6.checksum_ok("::1", "::1") is False
    assert udp6.encode() == LO_UDP6[54:]
    cooked = UDP.decode(SLL_UDP, 36)
    assert cooked.dport == 40114 and cooked.payload == b"cooked"


@pytest.mark.parametrize(("src", "dst", "ip"), [
    ("198.18.0.1", "198.18.0.2", IP), ("2001:db8::1", "2001:db8::2", SIPv6)])
@pytest.mark.parametrize("payload", [b"", b"a", b"wirelab rocks", bytes(range(256)) * 4])
def test_build_matches_scapy(src: str, dst: str, ip: type, payload: bytes) -> None:
    theirs = bytes(ip(src=src, dst=dst) / SUDP(sport=5353, dport=53) / payload)
    hlen = 20 if ip is IP else 40
    ours = UDP(sport=5353, dport=53, payload=payload).encode(src, dst)
    assert ours == theirs[hlen:]
    back = UDP.decode(ours)
    assert back.checksum_ok(src, dst) is True and back.payload == payload


def test_computed_zero_is_sent_as_ffff() -> None:
    # Make the data's sum cancel: append the checksum of the datagram with a zero word there,
    # so the real checksum becomes 0, which RFC 768 transmits as 0xFFFF.
    probe = UDP(sport=1000, dport=2000, payload=b"wirelab!\0\0").encode(LO, LO)
    word = probe[6:8]
    payload = b"wirelab!" + word
    raw = UDP(sport=1000, dport=2000, payload=payload).encode(LO, LO)
    assert raw[6:8] == b"\xff\xff"
    assert bytes(IP(src=LO, dst=LO) / SUDP(sport=1000, dport=2000) / payload)[26:28] == \
        b"\xff\xff"  # Scapy does the same
    assert UDP.decode(raw).checksum_ok(LO, LO) is True


def test_zero_checksum_means_none_over_ipv4_and_wrong_over_ipv6() -> None:
    raw = UDP(sport=1, dport=2, checksum=0, payload=b"x").encode()
    assert raw[6:8] == b"\0\0"
    udp = UDP.decode(raw)
    assert udp.checksum_ok("198.18.0.1", "198.18.0.2") is None
    assert udp.checksum_ok("2001:db8::1", "2001:db8::2") is False  # RFC 8200 8.1


def test_checksum_needs_addresses() -> None:
    with pytest.raises(EncodeError, match=r"UDP\.checksum: computing it needs src and dst"):
        UDP(sport=1, dport=2).encode()


def test_explicit_length_and_checksum_sent_as_given() -> None:
    raw = UDP(sport=1, dport=2, length=100, checksum=0xABCD, payload=b"hi").encode()
    assert raw == bytes.fromhex("00010002" "0064" "abcd") + b"hi"


def test_payload_bounded_by_length() -> None:
    raw = UDP(sport=1, dport=2, checksum=0, payload=b"data").encode() + b"trailer"
    assert UDP.decode(raw).payload == b"data"


@pytest.mark.parametrize(("data", "error", "pattern"), [
    (LO_UDP[:34 + 7], TruncatedError, r"UDP\.sport at byte 34: truncated: needs 8"),
    (LO_UDP[:38] + b"\x00\x07" + LO_UDP[40:], BadFieldError,
     r"UDP\.length at byte 38: bad field: 7 is below the header's 8"),
    (LO_UDP[:-1], TruncatedError, r"UDP\.length at byte 38: truncated: needs 12 bytes, 11 left"),
])
def test_malformed(data: bytes, error: type[Exception], pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        UDP.decode(data, 34)


def test_partial_first_fragment() -> None:
    udp = UDP.decode(LO_UDP[:-1], 34, partial=True)
    assert udp.partial and udp.payload == b"pin" and udp.checksum_ok(LO, LO) is None


def test_port_out_of_range() -> None:
    with pytest.raises(EncodeError, match="UDP: a field does not fit 16 bits"):
        UDP(sport=65536, dport=1, checksum=0).encode()
