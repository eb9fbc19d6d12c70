"""UDP (RFC 768), over IPv4 or IPv6 (RFC 8200 section 8.1).

``length`` counts header and data; the checksum covers a pseudo-header (addresses, protocol,
UDP length), the header and the data.  Two RFC rules shape the API:

* a computed checksum of 0 is sent as 0xFFFF, because 0 means "no checksum" (RFC 768);
* over IPv4 a received 0 is "no checksum" (``checksum_ok`` gives None); over IPv6 the checksum
  is mandatory, so 0 is wrong (RFC 8200 section 8.1).
"""

from __future__ import annotations

import struct
from typing import ClassVar, Self

from wirelab.errors import BadFieldError, EncodeError
from wirelab.wire._fields import Buf, Header, ip_to_bytes, layout_struct, truncated
from wirelab.wire.checksum import checksum_from_int, ok_from_int, pseudo_int, sum_int
from wirelab.wire.ipv4 import IPProto

_HDR = layout_struct((("sport", "H"), ("dport", "H"), ("length", "H"), ("checksum", "H")))
_unpack = _HDR.unpack_from
_pack = _HDR.pack
_new = object.__new__
_UDP = int(IPProto.UDP)


class UDP(Header):
    """A UDP header.  ``length`` and ``checksum`` left None are computed on encoding."""

    __slots__ = ("sport", "dport", "length", "checksum", "partial")

    layer: ClassVar[str] = "UDP"
    fields: ClassVar[tuple[str, ...]] = ("sport", "dport", "length", "checksum")

    length: int | None
    checksum: int | None
    partial: bool
    """True when decoded from the first fragment of a fragmented datagram (``length`` may
    exceed the bytes present); the checksum cannot be verified then."""

    def __init__(self, sport: int = 0, dport: int = 0, length: int | None = None,
                 checksum: int | None = None, payload: bytes = b"") -> None:
        self.sport = sport
        self.dport = dport
        self.length = length
        self.checksum = checksum
        self.partial = False
        self._init_payload(payload)

    def _total(self, src: str | bytes, dst: str | bytes, length: int, payload: bytes) -> int:
        """``sum_int`` of pseudo-header + header (zero checksum) + data."""
        s = ip_to_bytes(src, "src", "UDP")
        d = ip_to_bytes(dst, "dst", "UDP")
        return pseudo_int(s, d, _UDP, length) + self.sport + self.dport + length \
            + sum_int(payload)

    def checksum_ok(self, src: str | bytes, dst: str | bytes) -> bool | None:
        """Whether the checksum verifies under these addresses.

        None when there is nothing to verify: checksum 0 over IPv4 (RFC 768 "no checksum"),
        a partial datagram, or a header built with ``checksum=None``.
        """
        csum = self.checksum
        if csum is None or self.partial:
            return None
        if csum == 0:
            is_v6 = isinstance(src, bytes) and len(src) == 16 or isinstance(src, str) and ":" in src
            return False if is_v6 else None
        payload = self.payload
        length = 8 + len(payload) if self.length is None else self.length
        return ok_from_int(self._total(src, dst, length, payload) + csum)

    def encode(self, src: str | bytes | None = None, dst: str | bytes | None = None) -> bytes:
        """Header and data.  A None checksum is computed and then needs ``src`` and ``dst``."""
        payload = self.payload
        length = 8 + len(payload) if self.length is None else self.length
        csum = self.checksum
        if csum is None:
            if src is None or dst is None:
                raise EncodeError("UDP.checksum: computing it needs src and dst (the "
                                  "pseudo-header); pass checksum=0 to send none over IPv4")
            csum = checksum_from_int(self._total(src, dst, length, payload)) or 0xFFFF
        try:
            return _pack(self.sport, self.dport, length, csum) + payload
        except struct.error as exc:
            raise EncodeError(f"UDP: a field does not fit 16 bits: sport={self.sport}, "
                              f"dport={self.dport}, length={length}, checksum={csum}") from exc

    @classmethod
    def decode(cls, buf: Buf, offset: int = 0, end: int | None = None,
               partial: bool = False) -> Self:
        """Decode the header at ``offset``; the payload ends where ``length`` says.

        ``partial=True`` (the first fragment of a fragmented datagram) accepts a ``length``
        beyond the bytes present and marks the checksum unverifiable.
        """
        if end is None:
            end = len(buf)
        avail = end - offset
        if avail < 8:
            raise truncated("UDP", "sport", offset, 8, avail)
        sport, dport, length, csum = _unpack(buf, offset)
        if length < 8:
            raise BadFieldError("UDP", "length", offset + 4, f"{length} is below the header's 8")
        self = _new(cls)
        if length > avail:
            if not partial:
                raise truncated("UDP", "length", offset + 4, length, avail)
            self._pend = end
        else:
            self._pend = offset + length
        self.partial = partial
        self.sport = sport
        self.dport = dport
        self.length = length
        self.checksum = csum
        self._buf = buf
        self._hstart = offset
        self._pstart = offset + 8
        self._payload = None
        return self
