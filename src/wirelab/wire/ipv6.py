"""IPv6 (RFC 8200): the 40-byte fixed header and the extension headers up to the upper layer.

Extension headers form a chain, each naming the next (section 4).  The decoder walks
Hop-by-Hop Options, Routing, Fragment, Destination Options (all but Fragment have a length in
8-octet units not counting the first 8, section 4.3-4.6) and the Authentication Header (length
in 4-octet units minus 2, RFC 4302 section 2.2), and stops at the first other value: that is
``upper_proto``.  ESP (50) cannot be walked past -- what follows it is encrypted -- so it is an
upper protocol here.  Jumbograms (RFC 2675, payload length 0) are not supported.
"""

from __future__ import annotations

import struct
from typing import ClassVar, Self

from wirelab.errors import BadFieldError, EncodeError
from wirelab.wire._fields import (
    IP6_TEXT,
    Buf,
    Header,
    bytes_to_ip6,
    ip6_to_bytes,
    layout_struct,
    truncated,
)
from wirelab.wire.ipv4 import IP_PROTOS, IPProto

_HDR = layout_struct((("version_tc_flow", "I"), ("payload_length", "H"), ("next_header", "B"),
                      ("hop_limit", "B"), ("src", "16s"), ("dst", "16s")))
_FRAG = layout_struct((("next_header", "B"), ("reserved", "B"), ("offset_res_m", "H"),
                       ("identification", "I")))
_unpack = _HDR.unpack_from
_new = object.__new__

EXT_HEADERS = frozenset({IPProto.HOPOPT, IPProto.ROUTING, IPProto.FRAGMENT, IPProto.DSTOPTS,
                         IPProto.AH})
"""Next-header values the decoder walks through to reach the upper layer."""


class ExtHeader:
    """A Hop-by-Hop, Routing, Destination Options or AH extension header.

    ``data`` is everything after the next-header and length octets.  ``hdr_ext_len`` left None
    is computed: ``(2 + len(data)) / 8 - 1`` (RFC 8200) or ``/ 4 - 2`` for AH (RFC 4302).
    """

    __slots__ = ("type", "next_header", "hdr_ext_len", "data")

    def __init__(self, type: int = IPProto.DSTOPTS, next_header: int = IPProto.NONE,
                 data: bytes = bytes(6), hdr_ext_len: int | None = None) -> None:
        self.type = type
        self.next_header = next_header
        self.data = bytes(data)
        self.hdr_ext_len = hdr_ext_len

    def encode(self) -> bytes:
        size = 2 + len(self.data)
        unit, bias = (4, 2) if self.type == IPProto.AH else (8, 1)
        length = self.hdr_ext_len
        if length is None:
            if size % unit:
                raise EncodeError(f"IPv6 extension {self.type}: {size} bytes is not a multiple "
                                  f"of {unit}; pad the data")
            length = size // unit - bias
        if not (0 <= self.next_header < 256 and 0 <= length < 256):
            raise EncodeError(f"IPv6 extension {self.type}: next_header={self.next_header}, "
                              f"hdr_ext_len={length} must fit one octet")
        return bytes((self.next_header, length)) + self.data

    def to_dict(self) -> dict[str, object]:
        return {"type": self.type, "next_header": self.next_header,
                "hdr_ext_len": self.hdr_ext_len, "data": self.data}

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items())
        return f"ExtHeader({inner})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ExtHeader):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]


class FragmentHeader:
    """The 8-byte Fragment header (RFC 8200 section 4.5); ``frag_offset`` in 8-octet units."""

    __slots__ = ("next_header", "reserved", "frag_offset", "res", "m", "identification")

    type = IPProto.FRAGMENT

    def __init__(self, next_header: int = IPProto.NONE, frag_offset: int = 0, m: int = 0,
                 identification: int = 0, reserved: int = 0, res: int = 0) -> None:
        self.next_header = next_header
        self.frag_offset = frag_offset
        self.m = m
        self.identification = identification
        self.reserved = reserved
        self.res = res

    def encode(self) -> bytes:
        for name, value, width in (("frag_offset", self.frag_offset, 13), ("res", self.res, 2),
                                   ("m", self.m, 1)):
            if not 0 <= value < (1 << width):
                raise EncodeError(f"IPv6 Fragment.{name}: {value!r} does not fit {width} bits")
        try:
            return _FRAG.pack(self.next_header, self.reserved,
                              (self.frag_offset << 3) | (self.res << 1) | self.m,
                              self.identification)
        except struct.error as exc:
            raise EncodeError(f"IPv6 Fragment: a field does not fit its width ({exc})") from exc

    @classmethod
    def decode(cls, buf: Buf, offset: int) -> Self:
        nh, reserved, orm, ident = _FRAG.unpack_from(buf, offset)
        return cls(IP_PROTOS.get(nh, nh), orm >> 3, orm & 1, ident, reserved, (orm >> 1) & 3)

    def to_dict(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.__slots__}

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items())
        return f"FragmentHeader({inner})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FragmentHeader):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]


AnyExtHeader = ExtHeader | FragmentHeader


class IPv6(Header):
    """An IPv6 header with its extension headers; ``payload`` is the upper-layer data."""

    __slots__ = ("version", "traffic_class", "flow_label", "payload_length", "next_header",
                 "hop_limit", "_src", "_dst", "ext_headers", "partial")

    layer: ClassVar[str] = "IPv6"
    fields: ClassVar[tuple[str, ...]] = ("version", "traffic_class", "flow_label",
                                         "payload_length", "next_header", "hop_limit", "src",
                                         "dst", "ext_headers")

    payload_length: int | None
    _src: bytes
    _dst: bytes
    ext_headers: list[AnyExtHeader]

    def __init__(self, version: int = 6, traffic_class: int = 0, flow_label: int = 0,
                 payload_length: int | None = None, next_header: int = IPProto.TCP,
                 hop_limit: int = 64, src: str | bytes = "::", dst: str | bytes = "::",
                 ext_headers: list[AnyExtHeader] | None = None, payload: bytes = b"") -> None:
        self.version = version
        self.traffic_class = traffic_class
        self.flow_label = flow_label
        self.payload_length = payload_length
        self.next_header = next_header
        self.hop_limit = hop_limit
        self._src = ip6_to_bytes(src, "src")
        self._dst = ip6_to_bytes(dst, "dst")
        self.ext_headers = [] if ext_headers is None else ext_headers
        self.partial = False
        self._init_payload(payload)

    @property
    def src(self) -> str:
        return IP6_TEXT.get(self._src) or bytes_to_ip6(self._src)

    @src.setter
    def src(self, value: str | bytes) -> None:
        self._src = ip6_to_bytes(value, "src")

    @property
    def dst(self) -> str:
        return IP6_TEXT.get(self._dst) or bytes_to_ip6(self._dst)

    @dst.setter
    def dst(self, value: str | bytes) -> None:
        self._dst = ip6_to_bytes(value, "dst")

    @property
    def src_bytes(self) -> bytes:
        return self._src

    @property
    def dst_bytes(self) -> bytes:
        return self._dst

    @property
    def upper_proto(self) -> int:
        """The protocol of ``payload``: the last extension header's next header."""
        if self.ext_headers:
            return self.ext_headers[-1].next_header
        return self.next_header

    @property
    def fragment(self) -> FragmentHeader | None:
        """The Fragment header, if the chain has one."""
        for ext in self.ext_headers:
            if isinstance(ext, FragmentHeader):
                return ext
        return None

    @property
    def header_length(self) -> int:
        return 40 + sum(len(ext.encode()) for ext in self.ext_headers)

    def encode(self) -> bytes:
        exts = b"".join(ext.encode() for ext in self.ext_headers)
        payload = self.payload
        plen = len(exts) + len(payload) if self.payload_length is None else self.payload_length
        for name, value, width in (("version", self.version, 4),
                                   ("traffic_class", self.traffic_class, 8),
                                   ("flow_label", self.flow_label, 20)):
            if not 0 <= value < (1 << width):
                raise EncodeError(f"IPv6.{name}: {value!r} does not fit {width} bits")
        try:
            head = _HDR.pack((self.version << 28) | (self.traffic_class << 20) | self.flow_label,
                             plen, self.next_header, self.hop_limit, self._src, self._dst)
        except struct.error as exc:
            raise EncodeError(f"IPv6: a field does not fit its width ({exc}): payload_length="
                              f"{plen}, next_header={self.next_header}, "
                              f"hop_limit={self.hop_limit}") from exc
        return head + exts + payload

    @classmethod
    def decode(cls, buf: Buf, offset: int = 0, end: int | None = None, *,
               partial: bool = False) -> Self:
        """Decode the fixed header and walk the extension headers to the upper layer.

        ``partial=True`` accepts a ``payload_length`` beyond the bytes present (a capture cut
        by its snaplen); ``self.partial`` then says the payload is incomplete.
        """
        if end is None:
            end = len(buf)
        avail = end - offset
        if avail < 40:
            raise truncated("IPv6", "version", offset, 40, avail)
        vtf, plen, nh, hlim, src, dst = _unpack(buf, offset)
        if vtf >> 28 != 6:
            raise BadFieldError("IPv6", "version", offset, f"{vtf >> 28} is not 6")
        cut = plen > avail - 40
        if cut and not partial:
            raise truncated("IPv6", "payload_length", offset + 4, plen, avail - 40)
        self = _new(cls)
        self.partial = cut
        self.version = 6
        self.traffic_class = (vtf >> 20) & 0xFF
        self.flow_label = vtf & 0xFFFFF
        self.payload_length = plen
        self.next_header = IP_PROTOS.get(nh, nh)
        self.hop_limit = hlim
        self._src = src
        self._dst = dst
        pend = end if cut else offset + 40 + plen
        pos = offset + 40
        if nh in EXT_HEADERS:
            self.ext_headers, pos = _walk(buf, pos, pend, nh)
        else:
            self.ext_headers = []
        self._buf = buf
        self._hstart = offset
        self._pstart = pos
        self._pend = pend
        self._payload = None
        return self


def _walk(buf: Buf, pos: int, end: int, nh: int) -> tuple[list[AnyExtHeader], int]:
    """Decode the extension-header chain that starts at ``pos`` with type ``nh``."""
    exts: list[AnyExtHeader] = []
    while nh in EXT_HEADERS:
        if nh == IPProto.FRAGMENT:
            if end - pos < 8:
                raise truncated("IPv6", "fragment_header", pos, 8, end - pos)
            frag = FragmentHeader.decode(buf, pos)
            exts.append(frag)
            nh = frag.next_header
            pos += 8
            continue
        if end - pos < 2:
            raise truncated("IPv6", "hdr_ext_len", pos, 2, end - pos)
        nxt = buf[pos]
        length = buf[pos + 1]
        size = (length + 2) * 4 if nh == IPProto.AH else (length + 1) * 8
        if end - pos < size:
            raise truncated("IPv6", "hdr_ext_len", pos + 1, size, end - pos)
        exts.append(ExtHeader(IP_PROTOS.get(nh, nh), IP_PROTOS.get(nxt, nxt),
                              bytes(buf[pos + 2:pos + size]), length))
        nh = nxt
        pos += size
    return exts, pos
