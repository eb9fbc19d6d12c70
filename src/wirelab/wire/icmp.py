"""ICMP for IPv4 (RFC 792).

Every ICMP message starts with type, code, checksum and four type-specific bytes (``rest``):
identifier and sequence number for echo, unused (or the next-hop MTU, RFC 1191) for
destination unreachable, unused for time exceeded, the gateway for redirect.  Error messages
quote the original datagram's IP header and its first 8 data bytes (RFC 792, "Internet Header
+ 64 bits of Original Data Datagram"), which :attr:`ICMP.quoted` decodes leniently: the quoted
header's ``total_length`` describes the original datagram, not the few bytes quoted.

The checksum covers the whole ICMP message; no pseudo-header (unlike ICMPv6).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from enum import IntEnum
from typing import Any, ClassVar, Self

from wirelab.errors import EncodeError
from wirelab.wire._fields import Buf, Header, bytes_to_ip4, layout_struct, truncated
from wirelab.wire.checksum import checksum_from_int, ok_from_int, sum_int
from wirelab.wire.ipv4 import IPv4


class ICMPType(IntEnum):
    """ICMP message types (RFC 792, IANA "ICMP Type Numbers")."""

    ECHO_REPLY = 0
    DEST_UNREACHABLE = 3
    SOURCE_QUENCH = 4
    REDIRECT = 5
    ECHO_REQUEST = 8
    ROUTER_ADVERTISEMENT = 9
    ROUTER_SOLICITATION = 10
    TIME_EXCEEDED = 11
    PARAMETER_PROBLEM = 12
    TIMESTAMP = 13
    TIMESTAMP_REPLY = 14


class UnreachableCode(IntEnum):
    """Codes of destination unreachable (RFC 792, RFC 1122 section 3.2.2.1, RFC 1812)."""

    NET = 0
    HOST = 1
    PROTOCOL = 2
    PORT = 3
    FRAG_NEEDED = 4
    SOURCE_ROUTE_FAILED = 5
    NET_UNKNOWN = 6
    HOST_UNKNOWN = 7
    HOST_ISOLATED = 8
    NET_PROHIBITED = 9
    HOST_PROHIBITED = 10
    NET_TOS = 11
    HOST_TOS = 12
    ADMIN_PROHIBITED = 13
    HOST_PRECEDENCE = 14
    PRECEDENCE_CUTOFF = 15


class TimeExceededCode(IntEnum):
    TTL_EXCEEDED = 0
    REASSEMBLY_EXCEEDED = 1


ICMP_TYPES: dict[int, int] = {int(t): t for t in ICMPType}
ERROR_TYPES = frozenset({ICMPType.DEST_UNREACHABLE, ICMPType.SOURCE_QUENCH, ICMPType.REDIRECT,
                         ICMPType.TIME_EXCEEDED, ICMPType.PARAMETER_PROBLEM})
"""Types whose payload quotes the offending datagram."""
ECHO_TYPES = frozenset({ICMPType.ECHO_REQUEST, ICMPType.ECHO_REPLY})

_HDR = layout_struct((("type", "B"), ("code", "B"), ("checksum", "H"), ("rest", "4s")))
_ID_SEQ = struct.Struct("!HH")
_new = object.__new__


class ICMPBase(Header):
    """The layout ICMP and ICMPv6 share: type, code, checksum, 4 bytes, then the body."""

    __slots__ = ("type", "code", "checksum", "rest", "partial")

    fields: ClassVar[tuple[str, ...]] = ("type", "code", "checksum", "rest")
    _types: ClassVar[dict[int, int]] = {}
    _echo_types: ClassVar[frozenset[int]] = frozenset()

    checksum: int | None
    partial: bool
    """True when decoded from the first fragment of a larger datagram: the checksum covers
    bytes that are not here, so it cannot be verified."""

    def __init__(self, type: int = 0, code: int = 0, checksum: int | None = None,
                 rest: bytes = bytes(4), payload: bytes = b"", *, id: int | None = None,
                 seq: int | None = None) -> None:
        self.type = type
        self.code = code
        self.checksum = checksum
        self.rest = bytes(rest)
        self.partial = False
        if id is not None or seq is not None:
            self.rest = _ID_SEQ.pack(id or 0, seq or 0)
        self._init_payload(payload)

    @property
    def id(self) -> int:
        """Echo identifier: the first half of ``rest`` (RFC 792 echo, RFC 4443 section 4)."""
        return _ID_SEQ.unpack(self.rest)[0] if len(self.rest) == 4 else 0

    @id.setter
    def id(self, value: int) -> None:
        self.rest = _ID_SEQ.pack(value, self.seq)

    @property
    def seq(self) -> int:
        """Echo sequence number: the second half of ``rest``."""
        return _ID_SEQ.unpack(self.rest)[1] if len(self.rest) == 4 else 0

    @seq.setter
    def seq(self, value: int) -> None:
        self.rest = _ID_SEQ.pack(self.id, value)

    @property
    def is_echo(self) -> bool:
        return self.type in self._echo_types

    def iter_fields(self) -> Iterator[tuple[str, Any]]:
        yield from super().iter_fields()
        if self.type in self._echo_types:
            yield "id", self.id
            yield "seq", self.seq

    def _sum(self) -> int:
        """``sum_int`` of the message with a zero checksum."""
        return ((self.type << 8) | self.code) + int.from_bytes(self.rest, "big") \
            + sum_int(self.payload)

    def _pack(self, checksum: int) -> bytes:
        if len(self.rest) != 4:
            raise EncodeError(f"{self.layer}.rest: must be 4 bytes, got {len(self.rest)}")
        try:
            return _HDR.pack(self.type, self.code, checksum, self.rest) + self.payload
        except struct.error as exc:
            raise EncodeError(f"{self.layer}: a field does not fit its width ({exc}): "
                              f"type={self.type}, code={self.code}, checksum={checksum}") from exc

    @classmethod
    def decode(cls, buf: Buf, offset: int = 0, end: int | None = None,
               partial: bool = False) -> Self:
        """Decode the 8-byte header; the rest of the buffer (up to ``end``) is the body."""
        if end is None:
            end = len(buf)
        if end - offset < 8:
            raise truncated(cls.layer, "type", offset, 8, end - offset)
        typ, code, csum, rest = _HDR.unpack_from(buf, offset)
        self = _new(cls)
        self.type = cls._types.get(typ, typ)
        self.code = code
        self.checksum = csum
        self.rest = rest
        self.partial = partial
        self._buf = buf
        self._hstart = offset
        self._pstart = offset + 8
        self._pend = end
        self._payload = None
        return self


class ICMP(ICMPBase):
    """An ICMP message.  ``checksum`` left None is computed over the whole message."""

    __slots__ = ()

    layer: ClassVar[str] = "ICMP"
    _types: ClassVar[dict[int, int]] = ICMP_TYPES
    _echo_types: ClassVar[frozenset[int]] = ECHO_TYPES

    @property
    def checksum_ok(self) -> bool | None:
        """Whether the checksum verifies; None if it cannot be told (partial or None)."""
        if self.checksum is None or self.partial:
            return None
        return ok_from_int(self._sum() + self.checksum)

    @property
    def is_error(self) -> bool:
        return self.type in ERROR_TYPES

    @property
    def next_hop_mtu(self) -> int | None:
        """The MTU of "fragmentation needed" (RFC 1191 section 4), else None."""
        if self.type == ICMPType.DEST_UNREACHABLE and self.code == UnreachableCode.FRAG_NEEDED:
            return int.from_bytes(self.rest[2:], "big")
        return None

    @property
    def gateway(self) -> str | None:
        """The gateway address of a redirect, else None."""
        return bytes_to_ip4(self.rest) if self.type == ICMPType.REDIRECT else None

    @property
    def quoted(self) -> IPv4 | None:
        """The quoted original IPv4 header (with its first data bytes as payload).

        None for messages that quote nothing.  Decoded leniently (``total_length`` may exceed
        what is quoted); a quote that is not an IPv4 header raises a DecodeError whose offset
        is absolute in the buffer this message was decoded from.
        """
        if self.type not in ERROR_TYPES:
            return None
        if self._buf:  # decoded and not replaced: offsets absolute in the original buffer
            return IPv4.decode(self._buf, self._pstart, self._pend, partial=True)
        return IPv4.decode(self.payload, 0, partial=True)

    @property
    def quoted_ports(self) -> tuple[int, int] | None:
        """(source port, destination port) of the quoted TCP or UDP header, if quoted.

        The 8 quoted data bytes always hold both ports (RFC 792, RFC 1812 4.3.2.3): how a
        traceroute or a scanner matches an error to the probe that caused it.
        """
        quoted = self.quoted
        if quoted is None or quoted.proto not in (6, 17) or quoted.frag_offset:
            return None
        head = quoted.payload
        if len(head) < 4:
            return None
        sport, dport = _ID_SEQ.unpack_from(head)
        return sport, dport

    def encode(self) -> bytes:
        csum = self.checksum
        if csum is None:
            csum = checksum_from_int(self._sum())
        return self._pack(csum)
