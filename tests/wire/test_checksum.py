"""The Internet checksum (RFC 1071) and the pseudo-header sums, against the RFC and Scapy."""

from __future__ import annotations

import struct

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from scapy.layers.inet import IP
from scapy.layers.inet import TCP as STCP
from scapy.layers.inet import UDP as SUDP
from scapy.layers.inet6 import IPv6 as SIPv6

from wirelab.errors import EncodeError
from wirelab.wire.checksum import (
    internet_checksum,
    pseudo_header_v4,
    pseudo_header_v6,
    transport_checksum,
    verify,
    verify_transport,
)

from .conftest import PROPS


def rfc1071_reference(data: bytes) -> int:
    """RFC 1071 section 4.1 ("C" reference), transcribed literally: add 16-bit words into a
    32-bit accumulator, add a left-over byte (padded with zero), fold the carries, complement.
    """
    total = 0
    count = len(data)
    i = 0
    while count > 1:
        total += (data[i] << 8) | data[i + 1]
        i += 2
        count -= 2
    if count > 0:
        total += data[i] << 8
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def test_rfc1071_numerical_example() -> None:
    # RFC 1071 section 3: the bytes 00 01 f2 03 f4 f5 f6 f7 sum (one's complement) to ddf2,
    # so the checksum is its complement 220d.
    data = bytes.fromhex("0001f203f4f5f6f7")
    assert internet_checksum(data) == 0x220D == ~0xDDF2 & 0xFFFF
    assert rfc1071_reference(data) == 0x220D


def test_ipv4_header_from_capture_verifies() -> None:
    # The IPv4 header of a captured ping (conftest LO_ICMP_ECHO_REQ): checksum 0x85a4.
    header = bytes.fromhex("45000054b7024000400185a47f0000017f000001")
    assert verify(header)
    zeroed = header[:10] + b"\0\0" + header[12:]
    assert internet_checksum(zeroed) == 0x85A4


@pytest.mark.parametrize(("data", "expected"), [
    (b"", 0xFFFF),  # nothing to sum: the sum is +0, its complement 0xFFFF
    (bytes(7), 0xFFFF),  # all zero, odd length
    (b"\xff\xff", 0x0000),  # the sum is 0xFFFF (negative zero): checksum 0
    (b"\xff\xfe\x00\x01", 0x0000),  # 0xfffe + 1 = 0xffff again, the wrap edge
    (b"\x80\x00\x80\x00", 0xFFFE),  # 0x8000 + 0x8000 = 0x10000 -> end-around carry -> 1
    (b"\x01", 0xFEFF),  # odd byte padded: word 0x0100
])
def test_edges(data: bytes, expected: int) -> None:
    assert internet_checksum(data) == expected == rfc1071_reference(data)


@PROPS
@given(st.binary(max_size=3000))
@example(b"\xff" * 2)
@example(b"\xff" * 3)
@example(b"\x00" * 64)
def test_matches_rfc1071_reference_loop(data: bytes) -> None:
    assert internet_checksum(data) == rfc1071_reference(data)
    assert internet_checksum(memoryview(data)) == rfc1071_reference(data)


@PROPS
@given(st.lists(st.sampled_from([0x0000, 0xFFFF, 0x0001, 0xFFFE, 0x8000]), max_size=200))
def test_wrap_heavy_words_match_reference(words: list[int]) -> None:
    # words near 0 and 0xFFFF exercise the end-around carry and the +0 / -0 representative
    data = struct.pack(f"!{len(words)}H", *words)
    assert internet_checksum(data) == rfc1071_reference(data)


@PROPS
@given(st.binary(min_size=2, max_size=1500).filter(lambda d: len(d) % 2 == 0),
       st.integers(min_value=0, max_value=10_000), st.integers(min_value=0, max_value=7))
def test_inserted_checksum_verifies_and_any_bit_flip_is_caught(data: bytes, where: int,
                                                               bit: int) -> None:
    # put the checksum in the first word (as a header would) and check the whole verifies
    body = b"\0\0" + data[2:]
    whole = internet_checksum(body).to_bytes(2, "big") + data[2:]
    assert verify(whole) == any(whole)  # all-zero data sums to +0, which does not verify
    if any(whole):
        # flipping one bit moves the sum by +-2**k (k < 16), never a multiple of 0xFFFF
        i = where % len(whole)
        flipped = whole[:i] + bytes([whole[i] ^ (1 << bit)]) + whole[i + 1:]
        assert not verify(flipped) or not any(flipped)


def test_pseudo_header_layouts() -> None:
    # RFC 768 / RFC 793: src, dst, zero, protocol, length (12 bytes)
    assert pseudo_header_v4("192.0.2.1", "198.51.100.2", 17, 0x1234) == bytes.fromhex(
        "c0000201" "c6336402" "00" "11" "1234")
    # RFC 8200 section 8.1: src, dst, 32-bit length, 3 zero bytes, next header (40 bytes)
    v6 = pseudo_header_v6("2001:db8::1", "2001:db8::2", 58, 70000)
    assert v6 == (bytes.fromhex("20010db8000000000000000000000001")
                  + bytes.fromhex("20010db8000000000000000000000002")
                  + (70000).to_bytes(4, "big") + b"\0\0\0" + b"\x3a")
    assert pseudo_header_v4(bytes(4), b"\xff" * 4, 6, 20)[8:] == b"\x00\x06\x00\x14"


def _scapy_segment(pkt: object) -> tuple[bytes, int]:
    """Scapy's bytes of the transport segment with a zeroed checksum, and Scapy's checksum."""
    built = type(pkt)(bytes(pkt))  # type: ignore[call-arg]
    seg = built.payload
    expected = seg.chksum
    seg.chksum = 0
    return bytes(seg), expected


@pytest.mark.parametrize("payload", [b"", b"x", b"hello wirelab\n", bytes(range(256)) * 3])
def test_transport_checksum_matches_scapy_v4(payload: bytes) -> None:
    for layer, proto in ((SUDP(sport=5353, dport=53), 17),
                         (STCP(sport=40000, dport=80, flags="PA", seq=7, ack=9,
                               options=[("MSS", 1460), ("NOP", None), ("WScale", 7)]), 6)):
        seg, expected = _scapy_segment(IP(src="198.18.0.1", dst="198.18.0.2") / layer / payload)
        assert transport_checksum("198.18.0.1", "198.18.0.2", proto, seg) == expected
        filled = seg[:6] + expected.to_bytes(2, "big") + seg[8:] if proto == 17 else \
            seg[:16] + expected.to_bytes(2, "big") + seg[18:]
        assert verify_transport("198.18.0.1", "198.18.0.2", proto, filled)
        assert not verify_transport("198.18.0.1", "198.18.0.3", proto, filled)


@pytest.mark.parametrize("payload", [b"", b"odd", bytes(range(200))])
def test_transport_checksum_matches_scapy_v6(payload: bytes) -> None:
    pkt = SIPv6(src="2001:db8::1", dst="2001:db8:1::ff") / SUDP(sport=1, dport=2) / payload
    seg, expected = _scapy_segment(pkt)
    assert transport_checksum("2001:db8::1", "2001:db8:1::ff", 17, seg) == expected
    # the pseudo-header route gives the same: checksum of pseudo-header + segment
    whole = pseudo_header_v6("2001:db8::1", "2001:db8:1::ff", 17, len(seg)) + seg
    assert internet_checksum(whole) == expected


def test_packed_addresses_accepted() -> None:
    seg = bytes(8)
    assert transport_checksum(bytes([198, 18, 0, 1]), bytes([198, 18, 0, 2]), 17, seg) == \
        transport_checksum("198.18.0.1", "198.18.0.2", 17, seg)


@pytest.mark.parametrize("bad", ["198.18.0", "1", "::g", "", b"\x01\x02"])
def test_bad_address_is_encode_error(bad: str | bytes) -> None:
    with pytest.raises(EncodeError, match="src"):
        transport_checksum(bad, "198.18.0.2", 17, b"")
