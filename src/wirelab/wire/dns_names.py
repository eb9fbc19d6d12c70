"""DNS names on the wire (RFC 1035 sections 2.3.4, 3.1, 4.1.4 and 5.1): text <-> labels, and the
bounded reader and compressing writer the message and RDATA codecs share.

Names are text: labels joined by dots, no trailing dot, the root is ``""``.  A label byte
that is not printable ASCII, a dot or a backslash is written ``\\DDD`` (decimal), as in the
master-file format (RFC 1035 5.1), so decoding then encoding gives back the same bytes.
Compression pointers must point strictly backwards (see :meth:`Reader.name`), so a pointer
loop is impossible by construction.
"""

from __future__ import annotations

import re
import struct

from wirelab.errors import BadFieldError, BadPointerError, EncodeError, TruncatedError

LAYER = "DNS"
MAX_LABEL = 63  # RFC 1035 2.3.4
MAX_NAME = 255  # RFC 1035 2.3.4: octets on the wire, length bytes and the root included
_POINTER_LIMIT = 0x4000  # a pointer has 14 bits of offset

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


class Reader:
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


class Writer:
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
