"""ARP (RFC 826) against Scapy's ARP, byte for byte."""

from __future__ import annotations

import pytest
from scapy.layers.l2 import ARP as SARP
from scapy.layers.l2 import Ether

from wirelab.errors import EncodeError, TruncatedError
from wirelab.wire.arp import ARP, ARPOp, HardwareType
from wirelab.wire.ethernet import Ethernet, EtherType


def test_request_against_scapy() -> None:
    theirs = bytes(SARP(op=1, hwsrc="02:00:00:00:00:01", psrc="198.18.0.1", pdst="198.18.0.2"))
    ours = ARP(op=ARPOp.REQUEST, sha="02:00:00:00:00:01", spa="198.18.0.1",
               tpa="198.18.0.2").encode()
    assert ours == theirs
    arp = ARP.decode(theirs)
    assert (arp.hwtype, arp.ptype, arp.hwlen, arp.plen) == (HardwareType.ETHERNET,
                                                            EtherType.IPV4, 6, 4)
    assert arp.op is ARPOp.REQUEST
    assert (arp.sha, arp.spa, arp.tha, arp.tpa) == ("02:00:00:00:00:01", "198.18.0.1",
                                                    "00:00:00:00:00:00", "198.18.0.2")
    assert arp.payload == b""


def test_reply_in_padded_frame() -> None:
    # a reply as it arrives from a NIC: 42 bytes padded to the 60-byte minimum
    frame = bytes(Ether(src="02:00:00:00:00:02", dst="02:00:00:00:00:01")
                  / SARP(op=2, hwsrc="02:00:00:00:00:02", psrc="198.18.0.2",
                         hwdst="02:00:00:00:00:01", pdst="198.18.0.1")) + bytes(18)
    eth = Ethernet.decode(frame)
    arp = ARP.decode(frame, eth.payload_offset)
    assert arp.op is ARPOp.REPLY and arp.sha == "02:00:00:00:00:02"
    assert arp.tha == "02:00:00:00:00:01"
    assert arp.payload == bytes(18)  # the padding: what follows the four addresses
    assert ARP.decode(frame, 14).encode() == frame[14:]


def test_other_address_lengths() -> None:
    # hardware addresses of 8 octets and IPv6 protocol addresses: the codec follows hwlen/plen
    theirs = bytes(SARP(hwtype=6, ptype=0x86DD, hwlen=8, plen=16, op=1,
                        hwsrc=bytes(range(1, 9)), psrc="2001:db8::1",
                        hwdst=bytes(8), pdst="2001:db8::2"))
    arp = ARP.decode(theirs)
    assert arp.hwlen == 8 and arp.plen == 16
    assert arp.sha == "01:02:03:04:05:06:07:08"
    assert arp.spa == "2001:db8::1" and arp.tpa == "2001:db8::2"
    assert arp.encode() == theirs
    built = ARP(hwtype=6, ptype=0x86DD, hwlen=None, plen=None, sha="01:02:03:04:05:06:07:08",
                spa="2001:db8::1", tha="00:00:00:00:00:00:00:00", tpa="2001:db8::2")
    assert built.encode() == theirs


def test_explicit_lengths_sent_as_given() -> None:
    raw = ARP(hwlen=9, plen=4).encode()
    assert raw[4] == 9 and len(raw) == 28  # a lying hwlen is crafted, not corrected


def test_truncated_fixed_part() -> None:
    with pytest.raises(TruncatedError, match=r"ARP\.hwtype at byte 0: truncated: needs 8"):
        ARP.decode(bytes(7))


def test_truncated_addresses() -> None:
    raw = ARP().encode()
    with pytest.raises(TruncatedError, match=r"ARP\.sha at byte 22: truncated: needs 20 bytes, "
                                             r"19 left"):
        ARP.decode(bytes(14) + raw[:-1], 14)


def test_bad_address_is_encode_error() -> None:
    with pytest.raises(EncodeError, match=r"ARP\.sha"):
        ARP(sha="not-a-mac")
    with pytest.raises(EncodeError, match=r"ARP: a field does not fit"):
        ARP(op=70000).encode()
