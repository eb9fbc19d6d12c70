"""Ethernet II, 802.1Q tags and Linux cooked capture: captured vectors and Scapy-built ones."""

from __future__ import annotations

import pytest
from scapy.layers.inet import IP
from scapy.layers.l2 import CookedLinux, Dot1AD, Ether
from scapy.layers.l2 import Dot1Q as SDot1Q

from wirelab.errors import EncodeError, TruncatedError
from wirelab.wire.ethernet import Dot1Q, Ethernet, EtherType, LinuxSLL, SLLPacketType

from .conftest import LO_TCP_SYN, LOOPBACK_FRAMES, SLL_UDP


def test_decode_captured_loopback_frame() -> None:
    eth = Ethernet.decode(LO_TCP_SYN)
    assert eth.dst == eth.src == "00:00:00:00:00:00"
    assert eth.type is EtherType.IPV4
    assert eth.vlan == []
    assert eth.payload_type == EtherType.IPV4
    assert eth.header_length == 14
    assert eth.payload == LO_TCP_SYN[14:]
    assert eth.offset == 0 and eth.payload_offset == 14


@pytest.mark.parametrize("name", sorted(LOOPBACK_FRAMES))
def test_round_trip_captured(name: str) -> None:
    frame = LOOPBACK_FRAMES[name]
    assert Ethernet.decode(frame).encode() == frame


def test_encode_matches_scapy() -> None:
    ip = bytes(IP(src="198.18.0.1", dst="198.18.0.2"))
    theirs = bytes(Ether(dst="02:00:5e:10:00:01", src="aa:bb:cc:dd:ee:0f") / IP(ip))
    ours = Ethernet(dst="02:00:5e:10:00:01", src="AA-BB-CC-DD-EE-0F", type=EtherType.IPV4,
                    payload=ip).encode()
    assert ours == theirs
    back = Ethernet.decode(ours)
    assert (back.dst, back.src) == ("02:00:5e:10:00:01", "aa:bb:cc:dd:ee:0f")


def test_single_vlan_tag_against_scapy() -> None:
    frame = bytes(Ether(dst="ff:ff:ff:ff:ff:ff", src="02:00:00:00:00:01")
                  / SDot1Q(prio=5, dei=1, vlan=42) / IP(src="10.0.0.1", dst="10.0.0.2"))
    eth = Ethernet.decode(frame)
    assert eth.type == EtherType.VLAN
    assert len(eth.vlan) == 1
    tag = eth.vlan[0]
    assert (tag.pcp, tag.dei, tag.vid, tag.type) == (5, 1, 42, EtherType.IPV4)
    assert tag.tci == (5 << 13) | (1 << 12) | 42
    assert eth.payload_type == EtherType.IPV4 and eth.header_length == 18
    assert eth.payload == frame[18:]
    built = Ethernet(dst="ff:ff:ff:ff:ff:ff", src="02:00:00:00:00:01", type=EtherType.VLAN,
                     vlan=[Dot1Q(pcp=5, dei=1, vid=42, type=EtherType.IPV4)],
                     payload=frame[18:]).encode()
    assert built == frame


def test_stacked_qinq_tags_against_scapy() -> None:
    frame = bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
                  / Dot1AD(vlan=100) / SDot1Q(vlan=200, prio=3) / IP())
    eth = Ethernet.decode(frame)
    assert eth.type == EtherType.QINQ
    assert [(t.vid, t.pcp, t.type) for t in eth.vlan] == [(100, 0, EtherType.VLAN),
                                                         (200, 3, EtherType.IPV4)]
    assert eth.payload == frame[22:]
    assert eth.encode() == frame


def test_unknown_and_8023_types_are_kept() -> None:
    frame = bytes(6) + bytes(6) + b"\x88\xb5" + b"experimental"
    eth = Ethernet.decode(frame)
    assert eth.type == 0x88B5 and not isinstance(eth.type, EtherType)
    assert eth.encode() == frame
    llc = bytes(12) + (3).to_bytes(2, "big") + b"\x42\x42\x03" + bytes(43)
    assert Ethernet.decode(llc).type == 3  # an 802.3 length, not a type: payload undecoded


def test_truncated_header() -> None:
    with pytest.raises(TruncatedError, match=r"Ethernet\.dst at byte 0: truncated: needs 14"):
        Ethernet.decode(bytes(13))


def test_truncated_vlan_tag_names_its_offset() -> None:
    frame = bytes(12) + b"\x81\x00" + b"\x00\x2a\x81"  # TPID then 3 of the tag's 4 bytes
    with pytest.raises(TruncatedError, match=r"802\.1Q\.tci at byte 14"):
        Ethernet.decode(frame)
    with pytest.raises(TruncatedError, match=r"802\.1Q\.tci at byte 30"):
        Ethernet.decode(bytes(16) + frame, offset=16)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"dst": "00:11:22:33:44"}, "Ethernet.dst"),
    ({"src": "zz:11:22:33:44:55"}, "Ethernet.src"),
    ({"dst": b"\x00" * 5}, "Ethernet.dst"),
])
def test_bad_mac_is_encode_error(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(EncodeError, match=message):
        Ethernet(**kwargs)  # type: ignore[arg-type]


def test_field_out_of_range_is_encode_error() -> None:
    with pytest.raises(EncodeError, match="Ethernet.type"):
        Ethernet(type=0x10000).encode()
    with pytest.raises(EncodeError, match=r"802\.1Q\.vid: 4096 does not fit 12 bits"):
        Ethernet(vlan=[Dot1Q(vid=4096)]).encode()


def test_sll_captured_vector() -> None:
    sll = LinuxSLL.decode(SLL_UDP)
    assert sll.pkttype == SLLPacketType.HOST
    assert sll.hatype == 772  # ARPHRD_LOOPBACK
    assert sll.halen == 6 and sll.addr == "00:00:00:00:00:00"
    assert sll.protocol is EtherType.IPV4
    assert sll.payload == SLL_UDP[16:]
    assert sll.encode() == SLL_UDP


def test_sll_build_against_scapy() -> None:
    ip = bytes(IP(src="10.1.1.1", dst="10.1.1.2"))
    theirs = bytes(CookedLinux(pkttype=4, lladdrtype=1, lladdrlen=6, src=bytes.fromhex(
        "0211223344550000"), proto=0x0800) / IP(ip))
    ours = LinuxSLL(pkttype=SLLPacketType.OUTGOING, hatype=1, addr="02:11:22:33:44:55",
                    protocol=EtherType.IPV4, payload=ip).encode()
    assert ours == theirs
    assert LinuxSLL.decode(ours).addr == "02:11:22:33:44:55"


def test_sll_truncated() -> None:
    with pytest.raises(TruncatedError, match=r"SLL\.pkttype at byte 0: truncated: needs 16"):
        LinuxSLL.decode(SLL_UDP[:15])
