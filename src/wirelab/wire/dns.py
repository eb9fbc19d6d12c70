"""DNS messages (RFC 1035 section 4): a bounded decoder and an encoder with name compression.

Decoding follows dnspython's idea of a bounded parser: every read is checked against the end
of the region being parsed (the message, or one record's RDATA), so an over-read raises
:class:`TruncatedError` naming the field and its absolute byte offset instead of an
``IndexError``.  Compression pointers (RFC 1035 4.1.4) must point strictly backwards: below
the start of the name being read, and each further pointer below the previous target.  The
offsets therefore decrease at every jump and a pointer loop is impossible by construction.

Names (text <-> labels, the reader and writer) live in :mod:`wirelab.wire.dns_names`, the
record types and RDATA forms in :mod:`wirelab.wire.dns_rdata`; both are re-exported here.

Trailing bytes after the sections the header counts are an error by default
(:class:`TrailingDataError`): over UDP the message is bounded by the UDP length, link padding
never reaches it, and EDNS padding (RFC 7830) lives inside the OPT record.  ``allow_trailing``
keeps them in ``DNSMessage.trailing`` for studying broken senders; they are re-sent on encode.
"""


from __future__ import annotations

import secrets
import struct
from dataclasses import dataclass, field, replace
from enum import IntEnum

from wirelab.errors import BadFieldError, EncodeError, TrailingDataError, TruncatedError
from wirelab.wire.dns_names import LAYER, MAX_LABEL, MAX_NAME, name_to_labels
from wirelab.wire.dns_names import Reader as _Reader
from wirelab.wire.dns_names import Writer as _Writer
from wirelab.wire.dns_rdata import (
    AAAA,
    CNAME,
    MX,
    NS,
    PTR,
    SOA,
    TXT,
    A,
    QClass,
    QType,
    RawRdata,
    Rdata,
    rdata_class,
)

__all__ = [
    "A", "AAAA", "CNAME", "DNS_PORT", "DNSMessage", "LAYER", "MAX_LABEL", "MAX_NAME", "MX",
    "NS", "Opcode", "PTR", "QClass", "QType", "Question", "RawRdata", "Rcode", "Rdata",
    "ResourceRecord", "SOA", "TXT", "frame_tcp", "name_to_labels",
]

DNS_PORT = 53

_HEADER = struct.Struct("!HHHHHH")
_QFIXED = struct.Struct("!HH")
_RRFIXED = struct.Struct("!HHIH")
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")


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
    kind = rdata_class(rtype, rclass)
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
