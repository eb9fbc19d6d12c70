"""ICMP (RFC 792) and ICMPv6 echo (RFC 4443): captured pings, the kernel's port unreachable."""

from __future__ import annotations

import pytest
from scapy.layers.inet import ICMP as SICMP
from scapy.layers.inet import IP
from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest
from scapy.layers.inet6 import IPv6 as SIPv6

from wirelab.errors import BadFieldError, EncodeError, TruncatedError
from wirelab.wire.icmp import ICMP, ICMPType, UnreachableCode
from wirelab.wire.icmpv6 import ICMPv6, ICMPv6Type
from wirelab.wire.ipv4 import IPProto

from .conftest import (
    LO_ICMP_ECHO_REPLY,
    LO_ICMP_ECHO_REQ,
    LO_ICMP_PORT_UNREACH,
    LO_ICMPV6_ECHO_REPLY,
    LO_ICMPV6_ECHO_REQ,
)


def test_captured_echo_request_and_reply() -> None:
    req = ICMP.decode(LO_ICMP_ECHO_REQ, 34)
    assert req.type is ICMPType.ECHO_REQUEST and req.code == 0 and req.is_echo
    assert (req.id, req.seq) == (21669, 1)
    assert req.checksum == 0x2195 and req.checksum_ok
    assert len(req.payload) == 56 and req.payload[-8:] == bytes(range(0x30, 0x38))
    assert req.quoted is None and not req.is_error
    rep = ICMP.decode(LO_ICMP_ECHO_REPLY, 34)
    assert rep.type is ICMPType.ECHO_REPLY and (rep.id, rep.seq) == (21669, 1)
    assert rep.checksum_ok
    for frame in (LO_ICMP_ECHO_REQ, LO_ICMP_ECHO_REPLY):
        assert ICMP.decode(frame, 34).encode() == frame[34:]


def test_echo_built_by_fields_matches_capture() -> None:
    captured = LO_ICMP_ECHO_REQ[34:]
    built = ICMP(type=ICMPType.ECHO_REQUEST, id=21669, seq=1, payload=captured[8:])
    assert built.encode() == captured
    assert built.to_dict()["id"] == 21669


def test_echo_matches_scapy() -> None:
    theirs = bytes(SICMP(type=8, id=0x1234, seq=77) / b"abcdefg")  # odd length: padded sum
    assert ICMP(type=ICMPType.ECHO_REQUEST, id=0x1234, seq=77, payload=b"abcdefg").encode() \
        == theirs


def test_captured_port_unreachable_quotes_the_datagram() -> None:
    msg = ICMP.decode(LO_ICMP_PORT_UNREACH, 34)
    assert msg.type is ICMPType.DEST_UNREACHABLE and msg.code == UnreachableCode.PORT
    assert msg.is_error and msg.checksum_ok
    quoted = msg.quoted
    assert quoted is not None
    assert quoted.proto is IPProto.UDP and quoted.src == "127.0.0.1"
    assert quoted.total_length == 32 and quoted.offset == 42  # absolute in the frame
    assert quoted.payload[:4] == (41507).to_bytes(2, "big") + (40112).to_bytes(2, "big")
    assert msg.quoted_ports == (41507, 40112)  # as tcpdump printed: "udp port 40112"
    assert msg.encode() == LO_ICMP_PORT_UNREACH[34:]


def test_time_exceeded_quote_is_lenient_against_scapy() -> None:
    original = bytes(IP(src="198.18.0.1", dst="198.18.9.9", ttl=1) / (b"U" * 100))
    theirs = bytes(SICMP(type=11, code=0) / original[:28])
    msg = ICMP.decode(theirs)
    assert msg.type is ICMPType.TIME_EXCEEDED
    quoted = msg.quoted
    assert quoted is not None and quoted.partial
    assert quoted.total_length == 120 and quoted.payload == b"U" * 8
    assert msg.quoted_ports is None  # the quoted datagram is not TCP or UDP
    assert ICMP(type=ICMPType.TIME_EXCEEDED, payload=original[:28]).encode() == theirs


def test_quoted_garbage_raises_with_absolute_offset() -> None:
    raw = ICMP(type=ICMPType.DEST_UNREACHABLE, code=1, payload=b"\x60" + bytes(27)).encode()
    msg = ICMP.decode(bytes(20) + raw, 20)
    with pytest.raises(BadFieldError, match=r"IPv4\.version at byte 28: bad field: 6 is not 4"):
        _ = msg.quoted


def test_frag_needed_mtu() -> None:
    msg = ICMP(type=ICMPType.DEST_UNREACHABLE, code=UnreachableCode.FRAG_NEEDED,
               rest=b"\x00\x00\x05\xdc")
    assert msg.next_hop_mtu == 1500
    assert ICMP(type=ICMPType.REDIRECT, rest=bytes([198, 18, 0, 254])).gateway == "198.18.0.254"


def test_explicit_wrong_checksum_is_sent_and_reported() -> None:
    raw = ICMP(type=ICMPType.ECHO_REQUEST, checksum=0x1234, id=1, seq=1).encode()
    assert raw[2:4] == b"\x12\x34"
    assert ICMP.decode(raw).checksum_ok is False


def test_truncated() -> None:
    with pytest.raises(TruncatedError, match=r"ICMP\.type at byte 34: truncated: needs 8"):
        ICMP.decode(LO_ICMP_ECHO_REQ[:41], 34)


def test_encode_errors() -> None:
    with pytest.raises(EncodeError, match=r"ICMP\.rest: must be 4 bytes"):
        ICMP(rest=b"\0").encode()
    with pytest.raises(EncodeError, match=r"ICMP: a field does not fit"):
        ICMP(type=300).encode()


# --- ICMPv6 ---------------------------------------------------------------------------------


def test_captured_icmpv6_echo() -> None:
    req = ICMPv6.decode(LO_ICMPV6_ECHO_REQ, 54)
    assert req.type is ICMPv6Type.ECHO_REQUEST and (req.id, req.seq) == (21671, 1)
    assert req.checksum_ok("::1", "::1") is True
    assert req.checksum_ok("::1", "::2") is False  # the pseudo-header matters
    rep = ICMPv6.decode(LO_ICMPV6_ECHO_REPLY, 54)
    assert rep.type is ICMPv6Type.ECHO_REPLY and rep.checksum_ok("::1", "::1")
    assert req.encode() == LO_ICMPV6_ECHO_REQ[54:]
    rebuilt = ICMPv6(type=ICMPv6Type.ECHO_REQUEST, id=21671, seq=1, payload=req.payload)
    assert rebuilt.encode("::1", "::1") == LO_ICMPV6_ECHO_REQ[54:]


@pytest.mark.parametrize("layer", [ICMPv6EchoRequest, ICMPv6EchoReply])
def test_icmpv6_echo_matches_scapy(layer: type) -> None:
    pkt = SIPv6(src="2001:db8::1", dst="2001:db8::2") / layer(id=9, seq=3, data=b"wirelab")
    theirs = bytes(pkt)[40:]
    typ = ICMPv6Type.ECHO_REQUEST if layer is ICMPv6EchoRequest else ICMPv6Type.ECHO_REPLY
    ours = ICMPv6(type=typ, id=9, seq=3, payload=b"wirelab").encode("2001:db8::1", "2001:db8::2")
    assert ours == theirs


def test_icmpv6_checksum_needs_addresses() -> None:
    with pytest.raises(EncodeError, match=r"ICMPv6\.checksum: computing it needs src and dst"):
        ICMPv6(type=ICMPv6Type.ECHO_REQUEST).encode()
    assert ICMPv6(type=128, checksum=0).encode()[2:4] == b"\0\0"  # explicit: no addresses needed


def test_icmpv6_truncated() -> None:
    with pytest.raises(TruncatedError, match=r"ICMPv6\.type at byte 54: truncated"):
        ICMPv6.decode(LO_ICMPV6_ECHO_REQ[:60], 54)
