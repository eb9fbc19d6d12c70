"""ICMPv6 (RFC 4443), echo in particular.

The layout is ICMP's (type, code, checksum, 4 type-specific bytes, body), but the checksum
also covers the IPv6 pseudo-header (RFC 4443 section 2.3, RFC 8200 section 8.1), so encoding
with a computed checksum needs the addresses: ``encode(src=..., dst=...)``.  Other message
types (errors, Neighbor Discovery) decode into the same generic fields.
"""

from __future__ import annotations

from enum import IntEnum
from typing import ClassVar

from wirelab.errors import EncodeError
from wirelab.wire._fields import ip6_to_bytes
from wirelab.wire.checksum import checksum_from_int, ok_from_int, pseudo_int
from wirelab.wire.icmp import ICMPBase
from wirelab.wire.ipv4 import IPProto


class ICMPv6Type(IntEnum):
    """ICMPv6 types (RFC 4443 section 2.1, RFC 4861 for Neighbor Discovery)."""

    DEST_UNREACHABLE = 1
    PACKET_TOO_BIG = 2
    TIME_EXCEEDED = 3
    PARAMETER_PROBLEM = 4
    ECHO_REQUEST = 128
    ECHO_REPLY = 129
    ROUTER_SOLICITATION = 133
    ROUTER_ADVERTISEMENT = 134
    NEIGHBOR_SOLICITATION = 135
    NEIGHBOR_ADVERTISEMENT = 136
    REDIRECT = 137


ICMPV6_TYPES: dict[int, int] = {int(t): t for t in ICMPv6Type}
ECHO_TYPES = frozenset({ICMPv6Type.ECHO_REQUEST, ICMPv6Type.ECHO_REPLY})


class ICMPv6(ICMPBase):
    """An ICMPv6 message; the checksum needs the IPv6 addresses (pseudo-header)."""

    __slots__ = ()

    layer: ClassVar[str] = "ICMPv6"
    _types: ClassVar[dict[int, int]] = ICMPV6_TYPES
    _echo_types: ClassVar[frozenset[int]] = ECHO_TYPES

    def _total(self, src: str | bytes, dst: str | bytes) -> int:
        s = ip6_to_bytes(src, "src", "ICMPv6")
        d = ip6_to_bytes(dst, "dst", "ICMPv6")
        return pseudo_int(s, d, IPProto.ICMPV6, 8 + len(self.payload)) + self._sum()

    def checksum_ok(self, src: str | bytes, dst: str | bytes) -> bool | None:
        """Whether the checksum verifies under these IPv6 addresses; None if it cannot tell."""
        if self.checksum is None or self.partial:
            return None
        return ok_from_int(self._total(src, dst) + self.checksum)

    def encode(self, src: str | bytes | None = None, dst: str | bytes | None = None) -> bytes:
        """The message; a None checksum is computed and then needs ``src`` and ``dst``."""
        csum = self.checksum
        if csum is None:
            if src is None or dst is None:
                raise EncodeError("ICMPv6.checksum: computing it needs src and dst "
                                  "(the IPv6 pseudo-header)")
            csum = checksum_from_int(self._total(src, dst))
        return self._pack(csum)
