"""IPv4 (RFC 791) and the IANA protocol numbers shared with IPv6.

The 20-byte fixed header is followed by ``ihl*4 - 20`` bytes of options, which are carried as
raw bytes (RFC 791 section 3.1; padded with zeros to a 32-bit boundary when the encoder
computes ``ihl``).  ``total_length`` bounds the payload, so Ethernet padding after it is not
part of the datagram.  A fragment whose offset is not zero carries no transport header
(RFC 791 section 2.3), which is why :func:`wirelab.wire.packet.decode_frame` stops there.
"""

from __future__ import annotations

import struct
from enum import IntEnum
from typing import ClassVar, Self

from wirelab.errors import BadFieldError, EncodeError
from wirelab.wire._fields import (
    IP4_TEXT,
    Buf,
    Header,
    bytes_to_ip4,
    ip4_to_bytes,
    layout_struct,
    truncated,
)
from wirelab.wire.checksum import checksum_from_int, ok_from_int, sum_int


class IPProto(IntEnum):
    """IANA "Assigned Internet Protocol Numbers" that wirelab names."""

    HOPOPT = 0
    ICMP = 1
    IGMP = 2
    IPIP = 4
    TCP = 6
    UDP = 17
    IPV6 = 41
    ROUTING = 43
    FRAGMENT = 44
    GRE = 47
    ESP = 50
    AH = 51
    ICMPV6 = 58
    NONE = 59
    DSTOPTS = 60
    OSPF = 89
    SCTP = 132


IP_PROTOS: dict[int, int] = {int(p): p for p in IPProto}
"""Wire value -> IPProto member; unknown numbers stay plain ints."""

FLAG_RESERVED = 4
FLAG_DF = 2  # don't fragment
FLAG_MF = 1  # more fragments

_LAYOUT = (("version_ihl", "B"), ("tos", "B"), ("total_length", "H"), ("id", "H"),
           ("flags_frag_offset", "H"), ("ttl", "B"), ("proto", "B"), ("checksum", "H"),
           ("src", "4s"), ("dst", "4s"))
_HDR = layout_struct(_LAYOUT)
_unpack = _HDR.unpack_from
_pack = _HDR.pack
_from_bytes = int.from_bytes
_new = object.__new__


class IPv4(Header):
    """An IPv4 header.  ``ihl``, ``total_length`` and ``checksum`` left None are computed."""

    __slots__ = ("version", "ihl", "tos", "total_length", "id", "flags", "frag_offset", "ttl",
                 "proto", "checksum", "_src", "_dst", "options", "partial")

    layer: ClassVar[str] = "IPv4"
    fields: ClassVar[tuple[str, ...]] = ("version", "ihl", "tos", "total_length", "id", "flags",
                                         "frag_offset", "ttl", "proto", "checksum", "src", "dst",
                                         "options")

    ihl: int | None
    total_length: int | None
    checksum: int | None
    _src: bytes
    _dst: bytes
    partial: bool
    """True when decoded with ``partial=True`` and ``total_length`` exceeds the bytes present
    (the header quoted inside an ICMP error)."""

    def __init__(self, version: int = 4, ihl: int | None = None, tos: int = 0,
                 total_length: int | None = None, id: int = 0, flags: int = 0,
                 frag_offset: int = 0, ttl: int = 64, proto: int = IPProto.TCP,
                 checksum: int | None = None, src: str | bytes = "0.0.0.0",
                 dst: str | bytes = "0.0.0.0", options: bytes = b"",
                 payload: bytes = b"") -> None:
        self.version = version
        self.ihl = ihl
        self.tos = tos
        self.total_length = total_length
        self.id = id
        self.flags = flags
        self.frag_offset = frag_offset
        self.ttl = ttl
        self.proto = proto
        self.checksum = checksum
        self._src = ip4_to_bytes(src, "src")
        self._dst = ip4_to_bytes(dst, "dst")
        self.options = bytes(options)
        self.partial = False
        self._init_payload(payload)

    @property
    def src(self) -> str:
        return IP4_TEXT.get(self._src) or bytes_to_ip4(self._src)

    @src.setter
    def src(self, value: str | bytes) -> None:
        self._src = ip4_to_bytes(value, "src")

    @property
    def dst(self) -> str:
        return IP4_TEXT.get(self._dst) or bytes_to_ip4(self._dst)

    @dst.setter
    def dst(self, value: str | bytes) -> None:
        self._dst = ip4_to_bytes(value, "dst")

    @property
    def src_bytes(self) -> bytes:
        return self._src

    @property
    def dst_bytes(self) -> bytes:
        return self._dst

    @property
    def df(self) -> bool:
        """Don't Fragment (RFC 791 section 3.1, flags bit 1)."""
        return bool(self.flags & FLAG_DF)

    @property
    def mf(self) -> bool:
        """More Fragments (flags bit 2)."""
        return bool(self.flags & FLAG_MF)

    @property
    def is_fragment(self) -> bool:
        """Part of a fragmented datagram: MF set or a non-zero offset."""
        return bool(self.flags & FLAG_MF) or self.frag_offset != 0

    def _options_padded(self) -> bytes:
        opts = self.options
        if self.ihl is None and len(opts) & 3:
            opts += bytes(4 - (len(opts) & 3))  # RFC 791: "The padding is zero."
        return opts

    @property
    def header_length(self) -> int:
        """Header length in bytes: ``ihl*4`` if set, else 20 plus the padded options."""
        if self.ihl is not None:
            return self.ihl * 4
        return 20 + len(self._options_padded())

    def _field_sum(self, ihl: int, total_length: int, options: bytes) -> int:
        """``sum_int`` of the header with a zero checksum, from the field values."""
        return (((self.version << 4 | ihl) << 8) | self.tos) + total_length + self.id \
            + ((self.flags << 13) | self.frag_offset) + ((self.ttl << 8) | self.proto) \
            + _from_bytes(self._src, "big") + _from_bytes(self._dst, "big") + sum_int(options)

    @property
    def checksum_ok(self) -> bool:
        """Whether ``checksum`` is right for the header as it stands (True if None)."""
        if self.checksum is None:
            return True
        opts = self._options_padded()
        ihl = self.ihl if self.ihl is not None else 5 + len(opts) // 4
        tl = self.total_length
        if tl is None:
            tl = ihl * 4 + len(self.payload)
        return ok_from_int(self._field_sum(ihl, tl, opts) + self.checksum)

    def encode(self) -> bytes:
        opts = self._options_padded()
        ihl = self.ihl
        if ihl is None:
            ihl = 5 + len(opts) // 4
            if ihl > 15:
                raise EncodeError(f"IPv4.options: {len(opts)} bytes exceed the 40-byte maximum")
        payload = self.payload
        tl = self.total_length
        if tl is None:
            tl = 20 + len(opts) + len(payload)
        if not (0 <= self.version < 16 and 0 <= ihl < 16 and 0 <= self.flags < 8
                and 0 <= self.frag_offset < 8192):
            for name, value, width in (("version", self.version, 4), ("ihl", ihl, 4),
                                       ("flags", self.flags, 3),
                                       ("frag_offset", self.frag_offset, 13)):
                if not 0 <= value < (1 << width):
                    raise EncodeError(f"IPv4.{name}: {value!r} does not fit {width} bits")
        csum = self.checksum
        if csum is None:
            csum = checksum_from_int(self._field_sum(ihl, tl, opts))
        try:
            head = _pack((self.version << 4) | ihl, self.tos, tl, self.id,
                         (self.flags << 13) | self.frag_offset, self.ttl, self.proto, csum,
                         self._src, self._dst)
        except struct.error as exc:
            raise EncodeError(f"IPv4: a field does not fit its width ({exc}): tos={self.tos}, "
                              f"total_length={tl}, id={self.id}, ttl={self.ttl}, "
                              f"proto={self.proto}, checksum={csum}") from exc
        return head + opts + payload

    @classmethod
    def decode(cls, buf: Buf, offset: int = 0, end: int | None = None, *,
               partial: bool = False) -> Self:
        """Decode the header at ``offset``; the payload ends where ``total_length`` says.

        ``partial=True`` accepts a ``total_length`` beyond the bytes present (an ICMP error
        quotes only the header and 8 bytes of the original datagram).
        """
        if end is None:
            end = len(buf)
        avail = end - offset
        if avail < 20:
            raise truncated("IPv4", "version", offset, 20, avail)
        vihl, tos, tl, ident, ff, ttl, proto, csum, src, dst = _unpack(buf, offset)
        if vihl >> 4 != 4:
            raise BadFieldError("IPv4", "version", offset, f"{vihl >> 4} is not 4")
        ihl = vihl & 15
        if ihl < 5:
            raise BadFieldError("IPv4", "ihl", offset, f"{ihl} is below the minimum 5")
        hl = ihl << 2
        if hl > avail:
            raise truncated("IPv4", "options", offset + 20, hl - 20, avail - 20)
        if tl < hl:
            raise BadFieldError("IPv4", "total_length", offset + 2,
                                f"{tl} is less than the header length {hl}")
        self = _new(cls)
        if tl > avail:
            if not partial:
                raise truncated("IPv4", "total_length", offset + 2, tl, avail)
            self._pend = end
            self.partial = True
        else:
            self._pend = offset + tl
            self.partial = False
        self.version = 4
        self.ihl = ihl
        self.tos = tos
        self.total_length = tl
        self.id = ident
        self.flags = ff >> 13
        self.frag_offset = ff & 0x1FFF
        self.ttl = ttl
        self.proto = IP_PROTOS.get(proto, proto)
        self.checksum = csum
        self._src = src
        self._dst = dst
        self.options = bytes(buf[offset + 20:offset + hl]) if hl > 20 else b""
        self._buf = buf
        self._hstart = offset
        self._pstart = offset + hl
        self._payload = None
        return self
