"""Link layers: Ethernet II with 802.1Q tags (IEEE 802.3 / 802.1Q) and Linux cooked capture.

An Ethernet II frame (as captured: no preamble, no FCS) is two MAC addresses and an EtherType;
a type of 0x8100 (or 0x88A8 / 0x9100 for stacked "Q-in-Q" tags) announces a 4-byte 802.1Q tag
-- priority (PCP), drop-eligible (DEI) and VLAN id in the 16-bit TCI -- followed by the next
EtherType.  A type below 0x0600 is an IEEE 802.3 length, not a type (802.3 clause 3.2.6).

Linux cooked capture v1 (pcap LINKTYPE_LINUX_SLL, 113) replaces the Ethernet header when
capturing on "any": packet type, ARPHRD type, link-layer address length, 8 address bytes and the
protocol (an EtherType) -- see https://www.tcpdump.org/linktypes/LINKTYPE_LINUX_SLL.html.
"""

from __future__ import annotations

import struct
from enum import IntEnum
from typing import ClassVar, Self

from wirelab.errors import EncodeError
from wirelab.wire._fields import Buf, Header, hw_to_bytes, layout_struct, mac_to_bytes, truncated


class EtherType(IntEnum):
    """EtherType values (IEEE Registration Authority) that wirelab names."""

    IPV4 = 0x0800
    ARP = 0x0806
    WOL = 0x0842
    RARP = 0x8035
    VLAN = 0x8100
    IPX = 0x8137
    IPV6 = 0x86DD
    MPLS = 0x8847
    PPPOE_DISCOVERY = 0x8863
    PPPOE_SESSION = 0x8864
    EAPOL = 0x888E
    QINQ = 0x88A8
    LLDP = 0x88CC
    VLAN_9100 = 0x9100


ETHER_TYPES: dict[int, int] = {int(t): t for t in EtherType}
"""Wire value -> EtherType member; unknown values stay plain ints (``ETHER_TYPES.get(v, v)``)."""

VLAN_TPIDS = frozenset({EtherType.VLAN, EtherType.QINQ, EtherType.VLAN_9100})
"""Tag protocol identifiers that announce an 802.1Q tag."""

ETHER_MIN_TYPE = 0x0600
"""Values below this in the type field are 802.3 lengths (IEEE 802.3 clause 3.2.6)."""

_HDR = layout_struct((("dst", "6s"), ("src", "6s"), ("type", "H")))
_TAG = layout_struct((("tci", "H"), ("type", "H")))
_SLL = layout_struct((("pkttype", "H"), ("hatype", "H"), ("halen", "H"), ("addr", "8s"),
                      ("protocol", "H")))
_unpack_hdr = _HDR.unpack_from
_unpack_tag = _TAG.unpack_from
_new = object.__new__


class Dot1Q:
    """One 802.1Q tag: PCP (3 bits), DEI (1 bit), VLAN id (12 bits), then the next EtherType."""

    __slots__ = ("pcp", "dei", "vid", "type")

    layer: ClassVar[str] = "802.1Q"
    fields: ClassVar[tuple[str, ...]] = __slots__

    def __init__(self, pcp: int = 0, dei: int = 0, vid: int = 1,
                 type: int = EtherType.IPV4) -> None:
        self.pcp = pcp
        self.dei = dei
        self.vid = vid
        self.type = type

    @property
    def tci(self) -> int:
        """The 16-bit tag control information as sent."""
        return (self.pcp << 13) | (self.dei << 12) | self.vid

    def encode(self) -> bytes:
        for name, width in (("pcp", 3), ("dei", 1), ("vid", 12), ("type", 16)):
            value = getattr(self, name)
            if not 0 <= value < (1 << width):
                raise EncodeError(f"802.1Q.{name}: {value!r} does not fit {width} bits")
        return _TAG.pack(self.tci, self.type)

    @classmethod
    def decode(cls, buf: Buf, offset: int = 0, end: int | None = None) -> Self:
        end = len(buf) if end is None else end
        if end - offset < 4:
            raise truncated("802.1Q", "tci", offset, 4, end - offset)
        tci, typ = _unpack_tag(buf, offset)
        return cls._from_wire(tci, typ)

    @classmethod
    def _from_wire(cls, tci: int, typ: int) -> Self:
        tag = _new(cls)
        tag.pcp = tci >> 13
        tag.dei = (tci >> 12) & 1
        tag.vid = tci & 0x0FFF
        tag.type = ETHER_TYPES.get(typ, typ)
        return tag

    def to_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.fields}

    def __repr__(self) -> str:
        return f"Dot1Q(pcp={self.pcp}, dei={self.dei}, vid={self.vid}, type={self.type!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Dot1Q):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]


class Ethernet(Header):
    """An Ethernet II header, with any 802.1Q tags, as captured (no preamble, no FCS).

    ``type`` is the first EtherType on the wire (0x8100 when tagged); each tag in ``vlan``
    carries the type that follows it, so ``payload_type`` is the type of the payload.
    The payload keeps any padding up to the 60-byte minimum frame; the layer above bounds
    itself by its own length field.
    """

    __slots__ = ("_dst", "_src", "type", "vlan")

    layer: ClassVar[str] = "Ethernet"
    fields: ClassVar[tuple[str, ...]] = ("dst", "src", "type", "vlan")

    _dst: bytes
    _src: bytes
    type: int
    vlan: list[Dot1Q]

    def __init__(self, dst: str | bytes = "ff:ff:ff:ff:ff:ff",
                 src: str | bytes = "00:00:00:00:00:00", type: int = EtherType.IPV4,
                 vlan: list[Dot1Q] | None = None, payload: bytes = b"") -> None:
        self._dst = mac_to_bytes(dst, "dst")
        self._src = mac_to_bytes(src, "src")
        self.type = type
        self.vlan = [] if vlan is None else vlan
        self._init_payload(payload)

    @property
    def dst(self) -> str:
        return self._dst.hex(":")

    @dst.setter
    def dst(self, value: str | bytes) -> None:
        self._dst = mac_to_bytes(value, "dst")

    @property
    def src(self) -> str:
        return self._src.hex(":")

    @src.setter
    def src(self, value: str | bytes) -> None:
        self._src = mac_to_bytes(value, "src")

    @property
    def payload_type(self) -> int:
        """The EtherType of the payload: the last tag's type, or ``type`` if untagged."""
        return self.vlan[-1].type if self.vlan else self.type

    @property
    def header_length(self) -> int:
        return 14 + 4 * len(self.vlan)

    def encode(self) -> bytes:
        try:
            head = _HDR.pack(self._dst, self._src, self.type)
        except struct.error as exc:
            raise EncodeError(f"Ethernet.type: {self.type!r} does not fit 16 bits") from exc
        if self.vlan:
            head += b"".join(tag.encode() for tag in self.vlan)
        return head + self.payload

    @classmethod
    def decode(cls, buf: Buf, offset: int = 0, end: int | None = None) -> Self:
        if end is None:
            end = len(buf)
        if end - offset < 14:
            raise truncated("Ethernet", "dst", offset, 14, end - offset)
        dst, src, typ = _unpack_hdr(buf, offset)
        self = _new(cls)
        self._dst = dst
        self._src = src
        self.type = ETHER_TYPES.get(typ, typ)
        pos = offset + 14
        vlan: list[Dot1Q] = []
        while typ in VLAN_TPIDS:
            if end - pos < 4:
                raise truncated("802.1Q", "tci", pos, 4, end - pos)
            tci, typ = _unpack_tag(buf, pos)
            vlan.append(Dot1Q._from_wire(tci, typ))
            pos += 4
        self.vlan = vlan
        self._buf = buf
        self._hstart = offset
        self._pstart = pos
        self._pend = end
        self._payload = None
        return self


class SLLPacketType(IntEnum):
    """The ``pkttype`` of a Linux cooked header (linux/if_packet.h PACKET_*)."""

    HOST = 0
    BROADCAST = 1
    MULTICAST = 2
    OTHERHOST = 3
    OUTGOING = 4


class LinuxSLL(Header):
    """Linux cooked capture v1 header (16 bytes), the link layer of ``tcpdump -i any``."""

    __slots__ = ("pkttype", "hatype", "halen", "_addr", "protocol")

    layer: ClassVar[str] = "SLL"
    fields: ClassVar[tuple[str, ...]] = ("pkttype", "hatype", "halen", "addr", "protocol")

    halen: int | None
    _addr: bytes

    def __init__(self, pkttype: int = SLLPacketType.HOST, hatype: int = 1,
                 halen: int | None = None, addr: str = "00:00:00:00:00:00",
                 protocol: int = EtherType.IPV4, payload: bytes = b"") -> None:
        self.pkttype = pkttype
        self.hatype = hatype
        self.halen = halen
        self.addr = addr
        self.protocol = protocol
        self._init_payload(payload)

    @property
    def addr(self) -> str:
        """The link-layer address: the first ``halen`` (at most 8) of the 8 address bytes."""
        n = 8 if self.halen is None else min(self.halen, 8)
        return self._addr[:n].hex(":")

    @addr.setter
    def addr(self, value: str) -> None:
        raw = hw_to_bytes(value, None, "addr", "SLL") if value else b""
        if len(raw) > 8:
            raise EncodeError(f"SLL.addr: at most 8 octets, got {len(raw)}")
        self._addr = raw

    @property
    def payload_type(self) -> int:
        return self.protocol

    def encode(self) -> bytes:
        halen = len(self._addr) if self.halen is None else self.halen
        try:
            head = _SLL.pack(self.pkttype, self.hatype, halen, self._addr, self.protocol)
        except struct.error as exc:
            raise EncodeError(f"SLL: a field does not fit its width ({exc})") from exc
        return head + self.payload

    @classmethod
    def decode(cls, buf: Buf, offset: int = 0, end: int | None = None) -> Self:
        if end is None:
            end = len(buf)
        if end - offset < 16:
            raise truncated("SLL", "pkttype", offset, 16, end - offset)
        pkttype, hatype, halen, addr, proto = _SLL.unpack_from(buf, offset)
        self = _new(cls)
        self.pkttype = pkttype
        self.hatype = hatype
        self.halen = halen
        self._addr = addr
        self.protocol = ETHER_TYPES.get(proto, proto)
        self._buf = buf
        self._hstart = offset
        self._pstart = offset + 16
        self._pend = end
        self._payload = None
        return self
