"""DNS messages (RFC 1035 section 4): a bounded decoder and an encoder with name compression.

Decoding follows dnspython's idea of a bounded parser: every read is checked against the end
of the region being parsed (the message, or one record's RDATA), so an over-read raises
:class:`TruncatedError` naming the field and its absolute byte offset instead of an
``IndexError``.  Compression pointers (RFC 1035 4.1.4) must point strictly backwards: below
the start of the name being read, and each further pointer below the previous target.  The
offsets therefore decrease at every jump and a pointer loop is impossible by construction.

Names are text: labels joined by dots, no trailing dot, the root is ``""``.  A label byte
that is not printable ASCII, a dot or a backslash is written ``\\DDD`` (decimal), as in the
master-file format (RFC 1035 5.1), so decoding then encoding gives back the same bytes.

Trailing bytes after the sections the header counts are an error by default
(:class:`TrailingDataError`): over UDP the message is bounded by the UDP length, link padding
never reaches it, and EDNS padding (RFC 7830) lives inside the OPT record.  ``allow_trailing``
keeps them in ``DNSMessage.trailing`` for studying broken senders; they are re-sent on encode.
"""

from __future__ import annotations

import re
import secrets
import socket
import struct
from dataclasses import dataclass, field, replace
from enum import IntEnum
from typing import ClassVar

from wirelab.errors import (
    BadFieldError,
    BadPointerError,
    EncodeError,
    TrailingDataError,
    TruncatedError,
)

LAYER = "DNS"
DNS_PORT = 53
MAX_LABEL = 63  # RFC 1035 2.3.4
MAX_NAME = 255  # RFC 1035 2.3.4: octets on the wire, length bytes and the root included
_POINTER_LIMIT = 0x4000  # a pointer has 14 bits of offset

_HEADER = struct.Struct("!HHHHHH")
_QFIXED = struct.Struct("!HH")
_RRFIXED = struct.Struct("!HHIH")


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


class Opcode(IntEnum):
    """Header OPCODE (RFC 1035 4.1.1, RFC 1996, RFC 2136)."""

    QUERY = 0
    IQUERY = 1
    STATUS = 2
    NOTIFY = 4
    UPDATE = 5


class Rcode(IntEnum):
    """Header RCODE (RFC 1035 4.1.1)."""

    NOERROR = 0
    FORMERR = 1
    SERVFAIL = 2
    NXDOMAIN = 3
    NOTIMP = 4
    REFUSED = 5


def _known(enum: type[IntEnum], value: int) -> int:
    """The enum member for ``value`` when there is one, else the plain int."""
    try:
        return enum(value)
    except ValueError:
        return value


# --- names -----------------------------------------------------------------------------------

_PLAIN = frozenset(range(0x21, 0x7F)) - {ord("."), ord("\\")}
_NEEDS_ESCAPE = re.compile(rb"[^\x21-\x2d\x2f-\x5b\x5d-\x7e]")  # not in _PLAIN


def _label_text(label: bytes) -> str:
    """Master-file text of one label: ``\\.``, ``\\\\`` and ``\\DDD`` where needed."""
    if not _NEEDS_ESCAPE.search(label):
        return label.decode("ascii")
    return "".join(chr(b) if b in _PLAIN else ("\\" + chr(b) if b in b".\\" else f"\\{b:03d}")
                   for b in label)


def name_to_labels(name: str) -> list[bytes]:
    """Split a text name into wire labels, undoing ``\\.`` and ``\\DDD`` escapes.

    Raises :class:`EncodeError` for an empty label, a label over 63 bytes, a name over 255
    bytes on the wire, or a character outside ASCII (give IDNA names in their A-label form).
    """
    if not name.isascii():
        raise EncodeError(f"DNS name {name!r}: not ASCII (use the IDNA xn-- form)")
    if "\\" not in name:
        text = name[:-1] if name.endswith(".") else name
        labels = [part.encode("ascii") for part in text.split(".")] if text else []
    else:
        labels = _split_escaped(name)
    size = 1
    for label in labels:
        if not label:
            raise EncodeError(f"DNS name {name!r}: empty label")
        if len(label) > MAX_LABEL:
            raise EncodeError(f"DNS name {name!r}: label of {len(label)} bytes > {MAX_LABEL}")
        size += len(label) + 1
    if size > MAX_NAME:
        raise EncodeError(f"DNS name {name!r}: {size} bytes on the wire > {MAX_NAME}")
    return labels


def _split_escaped(name: str) -> list[bytes]:
    """Split a name holding master-file escapes (RFC 1035 5.1) into labels."""
    labels: list[bytes] = []
    current = bytearray()
    i = 0
    while i < len(name):
        ch = name[i]
        if ch == "\\":
            digits = name[i + 1:i + 4]
            if len(digits) == 3 and digits.isdigit():
                if int(digits) > 255:
                    raise EncodeError(f"DNS name {name!r}: escape \\{digits} > 255")
                current.append(int(digits))
                i += 4
                continue
            if i + 1 >= len(name):
                raise EncodeError(f"DNS name {name!r}: ends with a lone backslash")
            current += name[i + 1].encode("ascii")
            i += 2
            continue
        if ch == ".":
            labels.append(bytes(current))
            current = bytearray()
        else:
            current += ch.encode("ascii")
        i += 1
    if current:  # otherwise the name ended with an unescaped dot: the root, not a label
        labels.append(bytes(current))
    return labels


class _Reader:
    """A cursor over the message that refuses to read past ``end`` (the current region)."""

    __slots__ = ("buf", "base", "pos", "end", "msg_end")

    def __init__(self, buf: bytes, base: int, end: int) -> None:
        self.buf = buf
        self.base = base  # absolute offset of the message's first byte; pointers count from it
        self.pos = base
        self.end = end
        self.msg_end = end

    def take(self, size: int, field_name: str) -> int:
        """Reserve ``size`` bytes and return their absolute start offset."""
        start = self.pos
        if start + size > self.end:
            raise TruncatedError(LAYER, field_name, start,
                                 f"needs {size} bytes, {self.end - start} left")
        self.pos = start + size
        return start

    def unpack(self, fmt: struct.Struct, field_name: str) -> tuple[int, ...]:
        start = self.take(fmt.size, field_name)
        return fmt.unpack_from(self.buf, start)

    def name(self, field_name: str) -> str:
        """Read a possibly compressed name (RFC 1035 4.1.4) at the cursor."""
        buf, pos, end = self.buf, self.pos, self.end
        limit = pos  # a pointer must go strictly below this, and below every earlier target
        labels: list[str] = []
        size = 1
        jumped = False
        while True:
            if pos >= end:
                raise TruncatedError(LAYER, field_name, pos, "name runs past the end")
            length = buf[pos]
            kind = length & 0xC0
            if kind == 0xC0:
                if pos + 2 > end:
                    raise TruncatedError(LAYER, field_name, pos, "pointer cut in half")
                target = self.base + (((length & 0x3F) << 8) | buf[pos + 1])
                if target >= limit:
                    raise BadPointerError(
                        LAYER, field_name, pos,
                        f"pointer to {target - self.base} is not before {limit - self.base}")
                if not jumped:
                    self.pos = pos + 2
                    jumped = True
                    end = self.msg_end
                limit = pos = target
                continue
            if kind:
                raise BadFieldError(LAYER, field_name, pos,
                                    f"reserved label type 0x{kind:02x} (RFC 6891 5)")
            if length == 0:
                if not jumped:
                    self.pos = pos + 1
                return ".".join(labels)
            size += length + 1
            if size > MAX_NAME:
                raise BadFieldError(LAYER, field_name, pos, f"name longer than {MAX_NAME} bytes")
            if pos + 1 + length > end:
                raise TruncatedError(LAYER, field_name, pos,
                                     f"label of {length} bytes, {end - pos - 1} left")
            labels.append(_label_text(buf[pos + 1:pos + 1 + length]))
            pos += 1 + length


class _Writer:
    """Output buffer plus the compression table: label suffix -> offset of its first copy."""

    __slots__ = ("out", "table", "compress")

    def __init__(self, compress: bool) -> None:
        self.out = bytearray()
        self.table: dict[tuple[bytes, ...], int] = {}
        self.compress = compress

    def name(self, name: str) -> None:
        labels = name_to_labels(name)
        out = self.out
        for i in range(len(labels)):
            suffix = tuple(labels[i:])
            # Matching is byte-exact (case included), so decode -> encode is lossless.
            target = self.table.get(suffix) if self.compress else None
            if target is not None:
                out += struct.pack("!H", 0xC000 | target)
                return
            if len(out) < _POINTER_LIMIT:
                self.table.setdefault(suffix, len(out))
            out.append(len(labels[i]))
            out += labels[i]
        out.append(0)

    def pack(self, fmt: struct.Struct, *values: int, what: str = "field") -> None:
        try:
            packed = fmt.pack(*values)
        except struct.error as exc:
            raise EncodeError(f"DNS {what}: value out of range in {values}: {exc}") from None
        self.out += packed


# --- RDATA -----------------------------------------------------------------------------------


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
_U32 = struct.Struct("!I")
_SOA_TAIL = struct.Struct("!IIIII")

# RDATA decoded for any class; A and AAAA only in class IN, whose format they are (RFC 1035 3.4).
_RDATA: dict[int, type[Rdata]] = {cls.rtype: cls for cls in (CNAME, NS, PTR, MX, TXT, SOA)}
_RDATA_IN: dict[int, type[Rdata]] = {QType.A: A, QType.AAAA: AAAA}


# --- sections and message --------------------------------------------------------------------


@dataclass(slots=True)
class Question:
    """One entry of the question section (RFC 1035 4.1.2)."""

    name: str
    qtype: int = QType.A
    qclass: int = QClass.IN


@dataclass(slots=True)
class ResourceRecord:
    """One resource record (RFC 1035 4.1.3).

    ``rtype`` None takes the type of ``rdata``; ``rdlength`` None is computed.  A decoded
    record keeps the RDLENGTH read from the wire, which stays right as long as the message is
    re-encoded with the same ``compress`` setting; set it to None after changing the RDATA or
    to re-encode with the other setting.  Equality ignores ``rdlength``.
    """

    name: str
    rdata: Rdata = field(default_factory=RawRdata)
    rtype: int | None = None
    rclass: int = QClass.IN
    ttl: int = 0
    rdlength: int | None = field(default=None, compare=False)  # depends on compression

    def __post_init__(self) -> None:
        if self.rtype is None and not isinstance(self.rdata, RawRdata):
            self.rtype = _known(QType, self.rdata.rtype)


@dataclass(slots=True)
class DNSMessage:
    """A DNS message (RFC 1035 4.1); counts left None are computed from the sections."""

    id: int = 0
    qr: bool = False
    opcode: int = Opcode.QUERY
    aa: bool = False
    tc: bool = False
    rd: bool = False
    ra: bool = False
    z: bool = False  # the one reserved bit left (RFC 2535 6.1 took the other two)
    ad: bool = False  # authentic data (RFC 4035 3.2.3)
    cd: bool = False  # checking disabled (RFC 4035 3.2.2)
    rcode: int = Rcode.NOERROR
    questions: list[Question] = field(default_factory=list)
    answers: list[ResourceRecord] = field(default_factory=list)
    authorities: list[ResourceRecord] = field(default_factory=list)
    additionals: list[ResourceRecord] = field(default_factory=list)
    # Equality compares content: the counts follow from the sections (or are crafted lies).
    qdcount: int | None = field(default=None, compare=False)
    ancount: int | None = field(default=None, compare=False)
    nscount: int | None = field(default=None, compare=False)
    arcount: int | None = field(default=None, compare=False)
    trailing: bytes = b""

    @property
    def flags(self) -> int:
        """The 16-bit second word of the header (RFC 1035 4.1.1)."""
        return ((self.qr << 15) | ((self.opcode & 0xF) << 11) | (self.aa << 10) | (self.tc << 9)
                | (self.rd << 8) | (self.ra << 7) | (self.z << 6) | (self.ad << 5)
                | (self.cd << 4) | (self.rcode & 0xF))

    # -- building ---------------------------------------------------------------------------

    @classmethod
    def query(cls, name: str, qtype: int = QType.A, qclass: int = QClass.IN, *,
              id: int | None = None, rd: bool = True) -> DNSMessage:
        """A standard query for one name; the ID is random unless given (RFC 5452 9.2)."""
        return cls(id=secrets.randbits(16) if id is None else id, rd=rd,
                   questions=[Question(name, qtype, qclass)])

    def reply(self, answers: list[ResourceRecord] | None = None, *,
              rcode: int = Rcode.NOERROR, aa: bool = True, ra: bool = False,
              authorities: list[ResourceRecord] | None = None,
              additionals: list[ResourceRecord] | None = None) -> DNSMessage:
        """The response to this query: same ID, opcode, RD and CD, the question echoed."""
        return DNSMessage(id=self.id, qr=True, opcode=self.opcode, aa=aa, rd=self.rd, ra=ra,
                          cd=self.cd, rcode=rcode,
                          questions=[replace(q) for q in self.questions],
                          answers=list(answers or []), authorities=list(authorities or []),
                          additionals=list(additionals or []))

    # -- encoding ---------------------------------------------------------------------------

    def encode(self, compress: bool = True) -> bytes:
        """The message in wire format, names compressed unless ``compress`` is False."""
        w = _Writer(compress)
        sections = (self.answers, self.authorities, self.additionals)
        counts = [len(self.questions)] + [len(s) for s in sections]
        given = (self.qdcount, self.ancount, self.nscount, self.arcount)
        counts = [c if g is None else g for c, g in zip(counts, given, strict=True)]
        w.pack(_HEADER, self.id, self.flags, *counts, what="header")
        for q in self.questions:
            w.name(q.name)
            w.pack(_QFIXED, q.qtype, q.qclass, what="question type/class")
        for section in sections:
            for rr in section:
                _encode_rr(w, rr)
        w.out += self.trailing
        return bytes(w.out)

    def encode_tcp(self, compress: bool = True) -> bytes:
        """The message with the two-byte length prefix of DNS over TCP (RFC 1035 4.2.2)."""
        return frame_tcp(self.encode(compress))

    # -- decoding ---------------------------------------------------------------------------

    @classmethod
    def decode(cls, buf: bytes | bytearray | memoryview, offset: int = 0, *,
               allow_trailing: bool = False) -> DNSMessage:
        """Decode the message that starts at ``offset`` and runs to the end of ``buf``."""
        data = bytes(buf)
        r = _Reader(data, offset, len(data))
        ident, flags, qd, an, ns, ar = r.unpack(_HEADER, "header")
        msg = cls(id=ident, qr=bool(flags & 0x8000), opcode=_known(Opcode, (flags >> 11) & 0xF),
                  aa=bool(flags & 0x400), tc=bool(flags & 0x200), rd=bool(flags & 0x100),
                  ra=bool(flags & 0x80), z=bool(flags & 0x40), ad=bool(flags & 0x20),
                  cd=bool(flags & 0x10), rcode=_known(Rcode, flags & 0xF),
                  qdcount=qd, ancount=an, nscount=ns, arcount=ar)
        for i in range(qd):
            where = f"questions[{i}]"
            name = r.name(where + ".name")
            qtype, qclass = r.unpack(_QFIXED, where + ".qtype")
            msg.questions.append(Question(name, _known(QType, qtype), _known(QClass, qclass)))
        for section, count, label in ((msg.answers, an, "answers"),
                                      (msg.authorities, ns, "authorities"),
                                      (msg.additionals, ar, "additionals")):
            for i in range(count):
                section.append(_decode_rr(r, f"{label}[{i}]"))
        if r.pos < r.end:
            if not allow_trailing:
                raise TrailingDataError(LAYER, "trailing", r.pos,
                                        f"{r.end - r.pos} bytes after the counted sections")
            msg.trailing = data[r.pos:]
        return msg

    @classmethod
    def decode_tcp(cls, buf: bytes | bytearray | memoryview, offset: int = 0) -> DNSMessage:
        """Decode one length-prefixed message of DNS over TCP (RFC 1035 4.2.2)."""
        data = bytes(buf)
        if len(data) < offset + 2:
            raise TruncatedError(LAYER, "tcp_length", offset, "needs 2 bytes")
        (length,) = _U16.unpack_from(data, offset)
        end = offset + 2 + length
        if end > len(data):
            raise TruncatedError(LAYER, "tcp_length", offset,
                                 f"announces {length} bytes, {len(data) - offset - 2} present")
        if end < len(data):
            raise TrailingDataError(LAYER, "tcp_length", end,
                                    f"{len(data) - end} bytes after the framed message")
        return cls.decode(data, offset + 2)


def _encode_rr(w: _Writer, rr: ResourceRecord) -> None:
    if rr.rtype is None:
        raise EncodeError(f"DNS record {rr.name!r}: rtype is None and the RDATA is raw")
    w.name(rr.name)
    w.pack(_QFIXED, rr.rtype, rr.rclass, what="record type/class")
    w.pack(_U32, rr.ttl, what="TTL")
    length_at = len(w.out)
    w.out += b"\0\0"
    rr.rdata._encode(w)
    rdlength = len(w.out) - length_at - 2 if rr.rdlength is None else rr.rdlength
    try:
        _U16.pack_into(w.out, length_at, rdlength)
    except struct.error:
        raise EncodeError(f"DNS record {rr.name!r}: RDLENGTH {rdlength} out of range") from None


def _decode_rr(r: _Reader, where: str) -> ResourceRecord:
    name = r.name(where + ".name")
    rtype, rclass, ttl, rdlength = r.unpack(_RRFIXED, where + ".type")
    r.take(rdlength, where + ".rdata")  # the whole RDATA must be present
    r.pos -= rdlength
    kind = _RDATA.get(rtype) or (_RDATA_IN.get(rtype) if rclass == QClass.IN else None)
    r.end = r.pos + rdlength  # restrict reads to this record's RDATA
    try:
        rdata = (kind or RawRdata)._decode(r, where + ".rdata")
        if r.pos != r.end:
            raise BadFieldError(LAYER, where + ".rdlength", r.pos,
                                f"RDATA ends {r.end - r.pos} bytes before RDLENGTH {rdlength}")
    finally:
        r.end = r.msg_end
    return ResourceRecord(name, rdata, _known(QType, rtype), _known(QClass, rclass), ttl,
                          rdlength)


def frame_tcp(message: bytes) -> bytes:
    """Prefix an encoded message with its length for DNS over TCP (RFC 1035 4.2.2)."""
    if len(message) > 0xFFFF:
        raise EncodeError(f"DNS message of {len(message)} bytes does not fit TCP framing")
    return struct.pack("!H", len(message)) + message
