"""IPv4 (RFC 791): a captured header, Scapy-built ones, options, fragments, errors."""

from __future__ import annotations

import pytest
from scapy.layers.inet import IP, IPOption_NOP, IPOption_Router_Alert
from scapy.layers.inet import UDP as SUDP

from wirelab.errors import BadFieldError, EncodeError, TruncatedError
from wirelab.wire.ipv4 import FLAG_DF, IPProto, IPv4

from .conftest import LO_ICMP_ECHO_REQ, LO_TCP_SYN


def test_decode_captured_ping() -> None:
    ip = IPv4.decode(LO_ICMP_ECHO_REQ, 14)
    assert (ip.version, ip.ihl, ip.tos, ip.total_length) == (4, 5, 0, 84)
    assert ip.id == 0xB702
    assert ip.flags == FLAG_DF and ip.df and not ip.mf and not ip.is_fragment
    assert ip.frag_offset == 0 and ip.ttl == 64
    assert ip.proto is IPProto.ICMP
    assert ip.checksum == 0x85A4 and ip.checksum_ok
    assert ip.src == ip.dst == "127.0.0.1"
    assert ip.options == b"" and ip.header_length == 20
    assert ip.payload == LO_ICMP_ECHO_REQ[34:]
    assert ip.offset == 14 and ip.payload_offset == 34


def test_round_trip_captured() -> None:
    for frame in (LO_ICMP_ECHO_REQ, LO_TCP_SYN):
        assert IPv4.decode(frame, 14).encode() == frame[14:]


def test_build_matches_scapy() -> None:
    theirs = bytes(IP(src="198.18.0.1", dst="198.51.100.7", ttl=17, id=4242, tos=0xB8,
                      flags="DF") / SUDP(sport=1, dport=2) / b"data")
    udp = theirs[20:]
    ours = IPv4(src="198.18.0.1", dst="198.51.100.7", ttl=17, id=4242, tos=0xB8,
                flags=FLAG_DF, proto=IPProto.UDP, payload=udp).encode()
    assert ours == theirs


def test_options_carried_and_checksummed_like_scapy() -> None:
    theirs = bytes(IP(src="10.0.0.1", dst="10.0.0.2", options=[IPOption_Router_Alert()],
                      proto=2) / b"igmp")
    ip = IPv4.decode(theirs)
    assert ip.ihl == 6 and ip.options == b"\x94\x04\x00\x00" and ip.header_length == 24
    assert ip.payload == b"igmp" and ip.checksum_ok
    built = IPv4(src="10.0.0.1", dst="10.0.0.2", id=1, proto=2,  # Scapy's default id is 1
                 options=b"\x94\x04\x00\x00", payload=b"igmp")
    assert built.encode() == theirs


def test_options_are_zero_padded_when_ihl_is_computed() -> None:
    theirs = bytes(IP(options=[IPOption_NOP()] * 3, proto=253))
    assert theirs[20:24] == b"\x01\x01\x01\x00"  # Scapy pads with a zero byte as well
    ours = IPv4(src="127.0.0.1", dst="127.0.0.1", id=1, proto=253, options=b"\x01\x01\x01")
    assert ours.encode() == theirs
    assert ours.header_length == 24


def test_fragment_fields_against_scapy() -> None:
    theirs = bytes(IP(src="10.0.0.1", dst="10.0.0.2", flags="MF", frag=185, id=7,
                      proto=17) / (b"x" * 16))
    ip = IPv4.decode(theirs)
    assert ip.mf and not ip.df and ip.is_fragment
    assert ip.frag_offset == 185  # in 8-octet units, as on the wire
    assert ip.encode() == theirs


def test_explicit_fields_are_sent_as_given() -> None:
    ip = IPv4(src="10.0.0.1", dst="10.0.0.2", ihl=7, total_length=999, checksum=0xBEEF,
              proto=6, payload=b"abc")
    raw = ip.encode()
    assert raw[0] == 0x47 and raw[2:4] == (999).to_bytes(2, "big") and raw[10:12] == b"\xbe\xef"
    assert not ip.checksum_ok


def test_bad_checksum_is_reported_not_raised() -> None:
    frame = bytearray(LO_ICMP_ECHO_REQ)
    frame[24] ^= 0xFF
    ip = IPv4.decode(bytes(frame), 14)
    assert ip.checksum_ok is False
    assert ip.encode() == bytes(frame[14:])  # the wrong checksum survives the round trip


def test_payload_bounded_by_total_length() -> None:
    padded = LO_TCP_SYN[14:] + bytes(10)  # Ethernet padding after the datagram
    ip = IPv4.decode(padded)
    assert ip.payload == LO_TCP_SYN[34:]


@pytest.mark.parametrize(("mutate", "error", "pattern"), [
    (lambda b: b[:14 + 19], TruncatedError, r"IPv4\.version at byte 14: truncated: needs 20"),
    (lambda b: b[:14] + b"\x55" + b[15:], BadFieldError,
     r"IPv4\.version at byte 14: bad field: 5 is not 4"),
    (lambda b: b[:14] + b"\x44" + b[15:], BadFieldError,
     r"IPv4\.ihl at byte 14: bad field: 4 is below the minimum 5"),
    (lambda b: b[:14] + b"\x4f" + b[15:40], TruncatedError, r"IPv4\.options at byte 34"),
    (lambda b: b[:16] + b"\x00\x13" + b[18:], BadFieldError,
     r"IPv4\.total_length at byte 16: bad field: 19 is less than the header length 20"),
    (lambda b: b[:-1], TruncatedError,
     r"IPv4\.total_length at byte 16: truncated: needs 84 bytes, 83 left"),
])
def test_malformed(mutate: object, error: type[Exception], pattern: str) -> None:
    data = mutate(LO_ICMP_ECHO_REQ)  # type: ignore[operator]
    with pytest.raises(error, match=pattern):
        IPv4.decode(data, 14)


def test_partial_accepts_a_quoted_header() -> None:
    quoted = LO_ICMP_ECHO_REQ[14:14 + 28]  # header + 8 bytes, as ICMP errors quote it
    ip = IPv4.decode(quoted, partial=True)
    assert ip.partial and ip.total_length == 84 and len(ip.payload) == 8


@pytest.mark.parametrize(("kwargs", "pattern"), [
    ({"options": bytes(41)}, r"IPv4\.options: 44 bytes exceed the 40-byte maximum"),
    ({"ttl": 256}, r"IPv4: a field does not fit its width"),
    ({"flags": 8}, r"IPv4\.flags: 8 does not fit 3 bits"),
    ({"frag_offset": 8192}, r"IPv4\.frag_offset"),
])
def test_encode_errors(kwargs: dict[str, object], pattern: str) -> None:
    with pytest.raises(EncodeError, match=pattern):
        IPv4(**kwargs).encode()  # type: ignore[arg-type]


def test_bad_address() -> None:
    with pytest.raises(EncodeError, match=r"IPv4\.dst: not an IPv4 address: '10\.0\.0'"):
        IPv4(dst="10.0.0")


def test_address_caches_stay_bounded() -> None:
    from wirelab.wire import _fields

    for i in range(_fields._CACHE_MAX + 10):
        raw = i.to_bytes(4, "big")
        ip = IPv4(src=raw, dst="10.0.0.1")
        assert ip.src == f"{i >> 24}.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
        IPv4(src=ip.src)  # and the text -> bytes direction
    assert len(_fields.IP4_TEXT) <= _fields._CACHE_MAX
    assert len(_fields._IP4_BYTES) <= _fields._CACHE_MAX
