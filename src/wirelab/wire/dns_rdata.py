"""DNS record types and classes, and the RDATA forms decoded by :mod:`wirelab.wire.dns`.

Each :class:`Rdata` subclass encodes and decodes one TYPE's RDATA (RFC 1035 3.3-3.4, RFC 3596)
through the bounded :class:`~wirelab.wire.dns_names.Reader` (which never reads past the
record's RDLENGTH) and the compressing :class:`~wirelab.wire.dns_names.Writer`.  Any other TYPE
is kept as bytes (:class:`RawRdata`, RFC 3597).
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field
from enum import IntEnum
from typing import ClassVar

from wirelab.errors import BadFieldError, EncodeError
from wirelab.wire.dns_names import LAYER
from wirelab.wire.dns_names import Reader as _Reader
from wirelab.wire.dns_names import Writer as _Writer


class QType(IntEnum):
    """TYPE and QTYPE values (RFC 1035 3.2.2/3.2.3, RFC 3596, RFC 6891)."""

    A = 1
    NS = 2
    CNAME = 5
    SOA = 6
    PTR = 12
    HINFO = 13
    MX = 15
    TXT = 16
    AAAA = 28
    SRV = 33
    OPT = 41
    DS = 43
    RRSIG = 46
    DNSKEY = 48
    HTTPS = 65
    AXFR = 252
    ANY = 255


class QClass(IntEnum):
    """CLASS and QCLASS values (RFC 1035 3.2.4/3.2.5)."""

    IN = 1
    CH = 3
    HS = 4
    NONE = 254
    ANY = 255


class Rdata:
    """Base of the decoded RDATA forms; ``rtype`` is the TYPE each one encodes."""

    __slots__ = ()
    rtype: ClassVar[int] = 0

    def _encode(self, w: _Writer) -> None:
        raise NotImplementedError

    @classmethod
    def _decode(cls, r: _Reader, field_name: str) -> Rdata:
        raise NotImplementedError


@dataclass(slots=True)
class RawRdata(Rdata):
    """RDATA of a type this module does not decode (kept as bytes, RFC 3597)."""

    data: bytes = b""

    def _encode(self, w: _Writer) -> None:
        w.out += self.data

    @classmethod
    def _decode(cls, r: _Reader, field_name: str) -> Rdata:
        start = r.take(r.end - r.pos, field_name)
        return cls(r.buf[start:r.end])


@dataclass(slots=True)
class _Address(Rdata):
    """An address record: the RDATA is the address in network order, nothing else."""

    address: str
    _family: ClassVar[int] = socket.AF_INET
    _size: ClassVar[int] = 4

    def _encode(self, w: _Writer) -> None:
        try:
            w.out += socket.inet_pton(self._family, self.address)
        except (OSError, TypeError):
            raise EncodeError(f"DNS {type(self).__name__} address {self.address!r}") from None

    @classmethod
    def _decode(cls, r: _Reader, field_name: str) -> Rdata:
        if r.end - r.pos != cls._size:
            raise BadFieldError(LAYER, field_name, r.pos,
                                f"{cls.__name__} RDATA is {r.end - r.pos} bytes, not {cls._size}")
        start = r.take(cls._size, field_name)
        return cls(socket.inet_ntop(cls._family, r.buf[start:r.pos]))


@dataclass(slots=True)
class A(_Address):
    """IPv4 host address (RFC 1035 3.4.1)."""

    address: str = "0.0.0.0"
    rtype: ClassVar[int] = QType.A


@dataclass(slots=True)
class AAAA(_Address):
    """IPv6 host address (RFC 3596 2.2)."""

    address: str = "::"
    rtype: ClassVar[int] = QType.AAAA
    _family: ClassVar[int] = socket.AF_INET6
    _size: ClassVar[int] = 16


@dataclass(slots=True)
class _NameRdata(Rdata):
    """RDATA that is one domain name, compressible (RFC 1035 3.3, RFC 3597 4)."""

    target: str = ""

    def _encode(self, w: _Writer) -> None:
        w.name(self.target)

    @classmethod
    def _decode(cls, r: _Reader, field_name: str) -> Rdata:
        return cls(r.name(field_name))


@dataclass(slots=True)
class CNAME(_NameRdata):
    """Canonical name (RFC 1035 3.3.1)."""

    rtype: ClassVar[int] = QType.CNAME


@dataclass(slots=True)
class NS(_NameRdata):
    """Authoritative name server (RFC 1035 3.3.11)."""

    rtype: ClassVar[int] = QType.NS


@dataclass(slots=True)
class PTR(_NameRdata):
    """Domain name pointer (RFC 1035 3.3.12)."""

    rtype: ClassVar[int] = QType.PTR


@dataclass(slots=True)
class MX(Rdata):
    """Mail exchange (RFC 1035 3.3.9)."""

    preference: int = 0
    exchange: str = ""
    rtype: ClassVar[int] = QType.MX

    def _encode(self, w: _Writer) -> None:
        w.pack(_U16, self.preference, what="MX preference")
        w.name(self.exchange)

    @classmethod
    def _decode(cls, r: _Reader, field_name: str) -> Rdata:
        (preference,) = r.unpack(_U16, field_name + ".preference")
        return cls(preference, r.name(field_name + ".exchange"))


@dataclass(slots=True)
class TXT(Rdata):
    """Text strings (RFC 1035 3.3.14): each one a length byte and up to 255 bytes."""

    strings: list[bytes] = field(default_factory=list)
    rtype: ClassVar[int] = QType.TXT

    def _encode(self, w: _Writer) -> None:
        for text in self.strings:
            if len(text) > 255:
                raise EncodeError(f"DNS TXT string of {len(text)} bytes > 255")
            w.out.append(len(text))
            w.out += text

    @classmethod
    def _decode(cls, r: _Reader, field_name: str) -> Rdata:
        strings = []
        while r.pos < r.end:
            length = r.buf[r.take(1, field_name + ".length")]
            start = r.take(length, field_name + ".string")
            strings.append(r.buf[start:r.pos])
        return cls(strings)


@dataclass(slots=True)
class SOA(Rdata):
    """Start of a zone of authority (RFC 1035 3.3.13)."""

    mname: str = ""
    rname: str = ""
    serial: int = 0
    refresh: int = 0
    retry: int = 0
    expire: int = 0
    minimum: int = 0
    rtype: ClassVar[int] = QType.SOA

    def _encode(self, w: _Writer) -> None:
        w.name(self.mname)
        w.name(self.rname)
        w.pack(_SOA_TAIL, self.serial, self.refresh, self.retry, self.expire, self.minimum,
               what="SOA timers")

    @classmethod
    def _decode(cls, r: _Reader, field_name: str) -> Rdata:
        mname = r.name(field_name + ".mname")
        rname = r.name(field_name + ".rname")
        serial, refresh, retry, expire, minimum = r.unpack(_SOA_TAIL, field_name + ".serial")
        return cls(mname, rname, serial, refresh, retry, expire, minimum)


_U16 = struct.Struct("!H")
_SOA_TAIL = struct.Struct("!IIIII")

# RDATA decoded for any class; A and AAAA only in class IN, whose format they are (RFC 1035 3.4).
_RDATA: dict[int, type[Rdata]] = {cls.rtype: cls for cls in (CNAME, NS, PTR, MX, TXT, SOA)}
_RDATA_IN: dict[int, type[Rdata]] = {QType.A: A, QType.AAAA: AAAA}


def rdata_class(rtype: int, rclass: int) -> type[Rdata] | None:
    """The RDATA form decoded for this TYPE in this CLASS, or None (kept raw)."""
    return _RDATA.get(rtype) or (_RDATA_IN.get(rtype) if rclass == QClass.IN else None)
