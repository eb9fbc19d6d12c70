"""IPv6 (RFC 8200): a captured header, Scapy-built extension-header chains, errors."""

from __future__ import annotations

import pytest
from scapy.layers.inet import UDP as SUDP
from scapy.layers.inet6 import (
    IPv6 as SIPv6,
)
from scapy.layers.inet6 import (
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
    RouterAlert,
)
from scapy.layers.ipsec import AH

from wirelab.errors import BadFieldError, EncodeError, TruncatedError
from wirelab.wire.ipv4 import IPProto
from wirelab.wire.ipv6 import ExtHeader, FragmentHeader, IPv6

from .conftest import LO_ICMPV6_ECHO_REQ, LO_UDP6

SRC, DST = "2001:db8::1", "2001:db8::2"


def test_decode_captured_ping6() -> None:
    ip = IPv6.decode(LO_ICMPV6_ECHO_REQ, 14)
    assert (ip.version, ip.traffic_class, ip.flow_label) == (6, 0, 0x6FE6B)
    assert ip.payload_length == 64 and ip.hop_limit == 64
    assert ip.next_header is IPProto.ICMPV6 and ip.upper_proto == IPProto.ICMPV6
    assert ip.src == ip.dst == "::1"
    assert ip.ext_headers == [] and ip.fragment is None and ip.header_length == 40
    assert ip.payload == LO_ICMPV6_ECHO_REQ[54:]


def test_round_trip_captured() -> None:
    for frame in (LO_ICMPV6_ECHO_REQ, LO_UDP6):
        assert IPv6.decode(frame, 14).encode() == frame[14:]


def test_build_matches_scapy() -> None:
    theirs = bytes(SIPv6(src=SRC, dst="2001:db8:ffff::abcd", tc=0xB8, fl=0xBEEF5, hlim=3)
                   / SUDP(sport=1, dport=2) / b"hi")
    ours = IPv6(src=SRC, dst="2001:db8:ffff::abcd", traffic_class=0xB8, flow_label=0xBEEF5,
                hop_limit=3, next_header=IPProto.UDP, payload=theirs[40:]).encode()
    assert ours == theirs
    assert IPv6.decode(ours).dst == "2001:db8:ffff::abcd"  # RFC 5952 text form


def _chain() -> bytes:
    return bytes(SIPv6(src=SRC, dst=DST) / IPv6ExtHdrHopByHop(options=[RouterAlert()])
                 / IPv6ExtHdrRouting(addresses=["2001:db8::9"]) / IPv6ExtHdrDestOpt()
                 / IPv6ExtHdrFragment(offset=0, m=1, id=0x1234) / SUDP(sport=1, dport=2) / b"x")


def test_extension_chain_walked_to_the_upper_layer() -> None:
    raw = _chain()
    ip = IPv6.decode(raw)
    assert ip.next_header is IPProto.HOPOPT
    kinds = [(ext.type, ext.next_header) for ext in ip.ext_headers]
    assert kinds == [(IPProto.HOPOPT, IPProto.ROUTING), (IPProto.ROUTING, IPProto.DSTOPTS),
                     (IPProto.DSTOPTS, IPProto.FRAGMENT), (IPProto.FRAGMENT, IPProto.UDP)]
    assert ip.upper_proto is IPProto.UDP
    frag = ip.fragment
    assert frag is not None and (frag.frag_offset, frag.m, frag.identification) == (0, 1, 0x1234)
    routing = ip.ext_headers[1]
    assert isinstance(routing, ExtHeader) and routing.hdr_ext_len == 2  # 24 bytes: (2+1)*8
    assert ip.header_length == 40 + 8 + 24 + 8 + 8
    assert ip.payload == raw[88:]  # the UDP header and data
    assert ip.encode() == raw


def test_extension_chain_built_by_hand_matches_scapy() -> None:
    raw = _chain()
    ours = IPv6(src=SRC, dst=DST, next_header=IPProto.HOPOPT, ext_headers=[
        ExtHeader(IPProto.HOPOPT, IPProto.ROUTING, bytes.fromhex("050200000100")),
        ExtHeader(IPProto.ROUTING, IPProto.DSTOPTS,
                  bytes.fromhex("000100000000") + bytes.fromhex("20010db8" + "0" * 22 + "09")),
        ExtHeader(IPProto.DSTOPTS, IPProto.FRAGMENT, bytes.fromhex("010400000000")),
        FragmentHeader(IPProto.UDP, frag_offset=0, m=1, identification=0x1234),
    ], payload=raw[88:])
    assert ours.encode() == raw


def test_authentication_header_length_in_4_octet_units() -> None:
    # RFC 4302 2.2: Payload Len is the AH length in 32-bit words minus 2 (24 bytes -> 4)
    raw = bytes(SIPv6(src=SRC, dst=DST) / AH(nh=17, payloadlen=4, spi=7, seq=1,
                                             icv=b"\xaa" * 12) / SUDP(sport=1, dport=2))
    ip = IPv6.decode(raw)
    ah = ip.ext_headers[0]
    assert isinstance(ah, ExtHeader) and ah.type is IPProto.AH and ah.hdr_ext_len == 4
    assert len(ah.encode()) == 24
    assert ip.upper_proto is IPProto.UDP and ip.payload == raw[64:]
    assert ip.encode() == raw
    assert ExtHeader(IPProto.AH, IPProto.UDP, ah.data).encode() == raw[40:64]


@pytest.mark.parametrize(("mutate", "error", "pattern"), [
    (lambda b: b[:39], TruncatedError, r"IPv6\.version at byte 0: truncated: needs 40"),
    (lambda b: b"\x40" + b[1:], BadFieldError, r"IPv6\.version at byte 0: bad field: 4 is not 6"),
    (lambda b: b[:-1], TruncatedError, r"IPv6\.payload_length at byte 4: truncated"),
    # hop-by-hop length 200 -> 1608 bytes, far beyond the payload
    (lambda b: b[:41] + b"\xc8" + b[42:], TruncatedError,
     r"IPv6\.hdr_ext_len at byte 41: truncated: needs 1608"),
])
def test_malformed(mutate: object, error: type[Exception], pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        IPv6.decode(mutate(_chain()))  # type: ignore[operator]


def test_truncated_fragment_header() -> None:
    # next header says Fragment but only 4 bytes of payload follow
    raw = IPv6(src=SRC, dst=DST, next_header=IPProto.FRAGMENT, payload=bytes(4)).encode()
    with pytest.raises(TruncatedError, match=r"IPv6\.fragment_header at byte 40: truncated"):
        IPv6.decode(raw)


def test_encode_errors() -> None:
    with pytest.raises(EncodeError, match="not a multiple of 8"):
        IPv6(ext_headers=[ExtHeader(IPProto.DSTOPTS, IPProto.NONE, bytes(5))]).encode()
    with pytest.raises(EncodeError, match=r"IPv6\.flow_label"):
        IPv6(flow_label=1 << 20).encode()
    with pytest.raises(EncodeError, match=r"IPv6\.src: not an IPv6 address"):
        IPv6(src="198.18.0.1")
