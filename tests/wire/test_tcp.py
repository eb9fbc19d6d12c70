"""TCP (RFC 9293) and its options: a captured handshake, Scapy-built segments, malformed ones."""

from __future__ import annotations

import pytest
from scapy.layers.inet import IP
from scapy.layers.inet import TCP as STCP
from scapy.layers.inet6 import IPv6 as SIPv6

from wirelab.errors import BadFieldError, EncodeError, TruncatedError
from wirelab.wire.tcp import (
    EOL,
    MSS,
    NOP,
    SACK,
    TCP,
    SACKPermitted,
    TCPFlags,
    Timestamps,
    UnknownOption,
    WindowScale,
    parse_options,
)

from .conftest import LO_TCP_ACK, LO_TCP_DATA, LO_TCP_FIN, LO_TCP_SYN, LO_TCP_SYNACK

LO = "127.0.0.1"


def test_captured_syn() -> None:
    seg = TCP.decode(LO_TCP_SYN, 34)
    assert (seg.sport, seg.dport) == (33758, 40111)
    assert (seg.seq, seg.ack) == (2043293529, 0)  # as tcpdump printed it
    assert seg.data_offset == 10 and seg.reserved == 0
    assert seg.flags == TCPFlags.SYN and seg.flag_names() == "SYN"
    assert seg.window == 65495 and seg.urgent == 0
    assert seg.options == [MSS(65495), SACKPermitted(), Timestamps(3906899160, 0), NOP(),
                           WindowScale(10)]
    assert seg.payload == b""
    assert seg.checksum == 0xFE30
    assert seg.checksum_ok(LO, LO) is False  # CHECKSUM_PARTIAL on loopback (see conftest)


def test_captured_handshake_flags_as_tshark_writes_them() -> None:
    names = [TCP.decode(f, 34).flag_names() for f in (LO_TCP_SYN, LO_TCP_SYNACK, LO_TCP_ACK,
                                                      LO_TCP_DATA, LO_TCP_FIN)]
    assert names == ["SYN", "SYN, ACK", "ACK", "PSH, ACK", "FIN, ACK"]


def test_captured_data_segment() -> None:
    seg = TCP.decode(LO_TCP_DATA, 34)
    assert seg.options == [NOP(), NOP(), Timestamps(3906899160, 3967852204)]
    assert seg.payload == b"hello wirelab\n"
    assert seg.window == 64


@pytest.mark.parametrize("frame", [LO_TCP_SYN, LO_TCP_SYNACK, LO_TCP_ACK, LO_TCP_DATA,
                                   LO_TCP_FIN])
def test_round_trip_captured(frame: bytes) -> None:
    seg = TCP.decode(frame, 34)
    assert seg.encode() == frame[34:]
    _ = seg.options  # parsed options re-encode to the same bytes
    assert seg.encode() == frame[34:]


def test_correct_checksum_of_captured_segment_matches_scapy() -> None:
    seg = TCP.decode(LO_TCP_DATA, 34)
    seg.checksum = None
    theirs = bytes(IP(src=LO, dst=LO) / STCP(sport=33758, dport=40111, seq=seg.seq, ack=seg.ack,
                                             flags="PA", window=64,
                                             options=[("NOP", None), ("NOP", None),
                                                      ("Timestamp", (3906899160, 3967852204))])
                   / b"hello wirelab\n")[20:]
    assert seg.encode(LO, LO) == theirs


SCAPY_OPTS = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (123456789, 0)), ("NOP", None),
              ("WScale", 7)]
OUR_OPTS = [MSS(1460), SACKPermitted(), Timestamps(123456789, 0), NOP(), WindowScale(7)]


@pytest.mark.parametrize(("src", "dst", "ip"), [
    ("198.18.0.1", "198.18.0.2", IP), ("2001:db8::1", "2001:db8::2", SIPv6)])
def test_syn_with_options_matches_scapy(src: str, dst: str, ip: type) -> None:
    theirs = bytes(ip(src=src, dst=dst) / STCP(sport=40000, dport=80, seq=1000, flags="S",
                                               window=64240, options=SCAPY_OPTS))
    hlen = 20 if ip is IP else 40
    ours = TCP(sport=40000, dport=80, seq=1000, flags=TCPFlags.SYN, window=64240,
               options=list(OUR_OPTS)).encode(src, dst)
    assert ours == theirs[hlen:]
    assert TCP.decode(ours).checksum_ok(src, dst) is True


def test_sack_blocks_match_scapy() -> None:
    blocks = ((1000, 2448), (5000, 6448), (9000, 9100))
    theirs = bytes(IP(src=LO, dst=LO) / STCP(sport=1, dport=2, flags="A", ack=500,
                                             options=[("NOP", None), ("NOP", None),
                                                      ("SAck", tuple(e for b in blocks
                                                                     for e in b))]))[20:]
    seg = TCP.decode(theirs)
    assert seg.options == [NOP(), NOP(), SACK(blocks)]
    ours = TCP(sport=1, dport=2, flags=TCPFlags.ACK, ack=500, window=8192,
               options=[NOP(), NOP(), SACK(blocks)]).encode(LO, LO)
    assert ours == theirs


def test_odd_option_length_is_zero_padded() -> None:
    seg = TCP(sport=1, dport=2, options=[MSS(1400), WindowScale(2)], checksum=0)
    raw = seg.encode()
    assert raw[12] >> 4 == 7 and raw[20:28] == bytes.fromhex("020405780303 02 00")
    theirs = bytes(STCP(sport=1, dport=2, options=[("MSS", 1400), ("WScale", 2)], chksum=0,
                        window=65535))
    assert raw == theirs


def test_eol_padding_and_unknown_options_survive_round_trip() -> None:
    raw_opts = bytes.fromhex("1e0400aa" "0204 05b4" "00 aabbcc")  # MPTCP-ish, MSS, EOL, junk
    seg = TCP(sport=1, dport=2, checksum=0, data_offset=8)
    seg.options = parse_options(raw_opts)
    assert seg.options == [UnknownOption(30, b"\x00\xaa", 4), MSS(1460), EOL(b"\xaa\xbb\xcc")]
    raw = seg.encode()
    assert raw[20:32] == raw_opts
    again = TCP.decode(raw)
    assert again.options == seg.options and again.encode() == raw


def test_options_edited_in_place_are_encoded() -> None:
    seg = TCP.decode(LO_TCP_SYN, 34)
    seg.options[0] = MSS(1200)
    seg.checksum = None
    assert TCP.decode(seg.encode(LO, LO)).options[0] == MSS(1200)


def test_flag_names_order() -> None:
    every = TCP(flags=0xFF)
    assert every.flag_names() == "FIN, SYN, RST, PSH, ACK, URG, ECE, CWR"
    assert TCP(flags=0).flag_names() == ""


@pytest.mark.parametrize(("opts", "error", "pattern"), [
    ("0200" + "0000", BadFieldError, r"TCP\.options at byte 55: bad field: option 2 has length 0"),
    ("020505b4ff" + "000000", BadFieldError,
     r"TCP\.options at byte 55: bad field: mss option has length 5, not 4"),
    ("01010a0c" + "00000000", TruncatedError, r"TCP\.options at byte 56: truncated: needs 12"),
    ("0509" + "00" * 10, BadFieldError, r"SACK option length 9 is not 2 \+ 8n"),
    ("010101" + "1e", TruncatedError, r"TCP\.options at byte 57: truncated: needs 2 bytes, 1"),
])
def test_malformed_options(opts: str, error: type[Exception], pattern: str) -> None:
    raw_opts = bytes.fromhex(opts)
    seg = TCP(sport=1, dport=2, checksum=0, data_offset=5 + len(raw_opts) // 4).encode()
    frame = bytes(34) + seg[:20] + raw_opts  # options start at byte 54
    with pytest.raises(error, match=pattern):
        TCP.decode(frame, 34)


def test_malformed_header() -> None:
    with pytest.raises(TruncatedError, match=r"TCP\.sport at byte 34: truncated: needs 20"):
        TCP.decode(LO_TCP_ACK[:53], 34)
    low = bytearray(LO_TCP_ACK)
    low[46] = 0x40  # data offset 4
    with pytest.raises(BadFieldError, match=r"TCP\.data_offset at byte 46: bad field: 4 is below"):
        TCP.decode(bytes(low), 34)
    with pytest.raises(TruncatedError, match=r"TCP\.options at byte 54: truncated: needs 12 bytes"):
        TCP.decode(LO_TCP_ACK[:60], 34)


def test_checksum_needs_addresses_and_explicit_is_kept() -> None:
    with pytest.raises(EncodeError, match=r"TCP\.checksum: computing it needs src and dst"):
        TCP().encode()
    raw = TCP(checksum=0xDEAD).encode()
    assert raw[16:18] == b"\xde\xad"
    assert TCP.decode(raw).checksum_ok(LO, LO) is False


def test_encode_errors() -> None:
    with pytest.raises(EncodeError, match=r"TCP\.options: 44 bytes exceed the 40-byte maximum"):
        TCP(options=[UnknownOption(99, bytes(40))], checksum=0).encode()
    with pytest.raises(EncodeError, match=r"TCP: a field does not fit"):
        TCP(seq=1 << 32, checksum=0).encode()
    with pytest.raises(EncodeError, match=r"TCP option 2"):
        TCP(options=[MSS(70000)], checksum=0).encode()
