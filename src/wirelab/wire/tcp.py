"""TCP (RFC 9293) with the options that matter in practice.

Header: ports, sequence and acknowledgment numbers, data offset (header length in 32-bit
words), 4 reserved bits, 8 flag bits, window, checksum (pseudo-header + segment, section
3.1), urgent pointer, then ``data_offset*4 - 20`` bytes of options:

* EOL (0) and NOP (1): single octets (RFC 9293 section 3.2);
* MSS (2, length 4, RFC 9293 3.7.1), window scale (3, length 3, RFC 7323 section 2),
  SACK-permitted (4, length 2) and SACK blocks (5, length 2 + 8n, RFC 2018),
  timestamps (8, length 10, RFC 7323 section 3);
* anything else is kept raw as :class:`UnknownOption`.

Options are checked when the header is decoded (a bad length is a :class:`BadFieldError`
naming its byte) but turned into objects only when ``options`` is first read: most uses of a
decoded segment never look at them.  Bytes after EOL are kept in ``EOL.padding`` so that
decode -> encode is byte-exact even for non-zero padding.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum, IntFlag
from typing import Any, ClassVar, Self

from wirelab.errors import BadFieldError, EncodeError
from wirelab.wire._fields import Buf, Header, ip_to_bytes, layout_struct, truncated
from wirelab.wire.checksum import checksum_from_int, ok_from_int, pseudo_int, sum_int
from wirelab.wire.ipv4 import IPProto


class TCPFlags(IntFlag):
    """The eight flag bits of RFC 9293 section 3.1 (ECE/CWR from RFC 3168)."""

    FIN = 0x01
    SYN = 0x02
    RST = 0x04
    PSH = 0x08
    ACK = 0x10
    URG = 0x20
    ECE = 0x40
    CWR = 0x80


_FLAG_VALUES: list[TCPFlags] = [TCPFlags(i) for i in range(256)]
# (bit, name), FIN first as in tshark's Info column; plain ints, because & on IntFlag
# members runs Python code and costs a microsecond each.
FLAG_NAMES: list[str] = [", ".join(f.name or "" for f in TCPFlags if i & f) for i in range(256)]
"""tshark's spelling of each flag byte, FIN first: ``FLAG_NAMES[0x12] == "SYN, ACK"``."""


def flag_names(flags: int) -> str:
    """The set flags as tshark's Info column writes them: ``"SYN, ACK"`` (``""`` for none)."""
    return FLAG_NAMES[flags & 0xFF]


class TCPOptionKind(IntEnum):
    """TCP option kinds (IANA "TCP Option Kind Numbers")."""

    EOL = 0
    NOP = 1
    MSS = 2
    WSCALE = 3
    SACK_PERMITTED = 4
    SACK = 5
    TIMESTAMPS = 8
    MD5 = 19
    USER_TIMEOUT = 28
    AUTH = 29
    MPTCP = 30
    FAST_OPEN = 34


# --- options -----------------------------------------------------------------------------


@dataclass(slots=True)
class EOL:
    """End of option list; ``padding`` holds the bytes after it (zeros, per RFC 9293)."""

    padding: bytes = b""
    kind: ClassVar[int] = TCPOptionKind.EOL

    def encode(self) -> bytes:
        return b"\x00" + self.padding


@dataclass(slots=True)
class NOP:
    """No-operation, used to align the next option."""

    kind: ClassVar[int] = TCPOptionKind.NOP

    def encode(self) -> bytes:
        return b"\x01"


@dataclass(slots=True)
class MSS:
    """Maximum segment size the sender can receive (only in SYNs)."""

    value: int
    kind: ClassVar[int] = TCPOptionKind.MSS

    def encode(self) -> bytes:
        return _pack_opt("!BBH", self.kind, 4, self.value)


@dataclass(slots=True)
class WindowScale:
    """Window scale shift count (RFC 7323 section 2.2)."""

    shift: int
    kind: ClassVar[int] = TCPOptionKind.WSCALE

    def encode(self) -> bytes:
        return _pack_opt("!BBB", self.kind, 3, self.shift)


@dataclass(slots=True)
class SACKPermitted:
    """SACK may be used on this connection (RFC 2018 section 2)."""

    kind: ClassVar[int] = TCPOptionKind.SACK_PERMITTED

    def encode(self) -> bytes:
        return b"\x04\x02"


@dataclass(slots=True)
class SACK:
    """Selective acknowledgment: (left edge, right edge) blocks (RFC 2018 section 3)."""

    blocks: tuple[tuple[int, int], ...]
    kind: ClassVar[int] = TCPOptionKind.SACK

    def encode(self) -> bytes:
        edges = [edge for block in self.blocks for edge in block]
        return _pack_opt(f"!BB{len(edges)}I", self.kind, 2 + 4 * len(edges), *edges)


@dataclass(slots=True)
class Timestamps:
    """TSval and TSecr (RFC 7323 section 3.2)."""

    tsval: int
    tsecr: int
    kind: ClassVar[int] = TCPOptionKind.TIMESTAMPS

    def encode(self) -> bytes:
        return _pack_opt("!BBII", self.kind, 10, self.tsval, self.tsecr)


@dataclass(slots=True)
class UnknownOption:
    """An option wirelab does not interpret: its kind and the bytes after the length octet.

    ``length`` None is computed as ``2 + len(data)``; an explicit value is sent as given.
    """

    kind: int  # an instance field here, a ClassVar in the other options
    data: bytes = b""
    length: int | None = None

    def encode(self) -> bytes:
        length = 2 + len(self.data) if self.length is None else self.length
        return _pack_opt("!BB", self.kind, length) + self.data


TCPOption = EOL | NOP | MSS | WindowScale | SACKPermitted | SACK | Timestamps | UnknownOption


def _pack_opt(fmt: str, *values: int) -> bytes:
    try:
        return struct.pack(fmt, *values)
    except struct.error as exc:
        raise EncodeError(f"TCP option {values[0]}: a value does not fit ({exc}): "
                          f"{values[2:]}") from exc


# Exact lengths of the fixed-size options (RFC 9293, 7323, 2018); SACK is checked apart.
_OPT_LEN: dict[int, int] = {TCPOptionKind.MSS: 4, TCPOptionKind.WSCALE: 3,
                            TCPOptionKind.SACK_PERMITTED: 2, TCPOptionKind.TIMESTAMPS: 10}
_OPT_NAME: dict[int, str] = {k: k.name.lower() for k in TCPOptionKind}


def check_options(opts: bytes, base: int) -> None:
    """Raise a DecodeError for malformed options; ``base`` is the absolute offset of opts[0]."""
    i = 0
    n = len(opts)
    while i < n:
        kind = opts[i]
        if kind == 0:
            return
        if kind == 1:
            i += 1
            continue
        if i + 1 >= n:
            raise truncated("TCP", "options", base + i, 2, n - i)
        length = opts[i + 1]
        if length < 2:
            raise BadFieldError("TCP", "options", base + i + 1,
                                f"option {kind} has length {length} (< 2)")
        if i + length > n:
            raise truncated("TCP", "options", base + i, length, n - i)
        want = _OPT_LEN.get(kind)
        if want is not None and length != want:
            raise BadFieldError("TCP", "options", base + i + 1,
                                f"{_OPT_NAME[kind]} option has length {length}, not {want}")
        if kind == 5 and (length < 10 or (length - 2) % 8):
            raise BadFieldError("TCP", "options", base + i + 1,
                                f"SACK option length {length} is not 2 + 8n (n >= 1)")
        i += length


def parse_options(opts: bytes, base: int = 0) -> list[TCPOption]:
    """The option objects of an options area (checked first; see :func:`check_options`)."""
    check_options(opts, base)
    return _parse_checked(opts)


_NOP_NOP_TS = b"\x01\x01\x08\x0a"  # NOP, NOP, timestamps (kind 8, length 10)
_U16 = struct.Struct("!H").unpack_from
_U32X2 = struct.Struct("!II").unpack_from


_NOP = NOP()  # NOP and SACK-permitted carry no data: decoded lists share one of each
_SACK_OK = SACKPermitted()


def _parse_checked(opts: bytes) -> list[TCPOption]:
    """Options to objects; ``opts`` has passed :func:`check_options`."""
    if len(opts) == 12 and opts[:4] == _NOP_NOP_TS:  # what nearly every data segment carries
        return [_NOP, _NOP, Timestamps(*_U32X2(opts, 4))]
    out: list[TCPOption] = []
    append = out.append
    i = 0
    n = len(opts)
    while i < n:
        kind = opts[i]
        if kind == 1:
            append(_NOP)
            i += 1
            continue
        if kind == 0:
            append(EOL(opts[i + 1:]))
            break
        length = opts[i + 1]
        if kind == 8:
            append(Timestamps(*_U32X2(opts, i + 2)))
        elif kind == 2:
            append(MSS(_U16(opts, i + 2)[0]))
        elif kind == 3:
            append(WindowScale(opts[i + 2]))
        elif kind == 4:
            append(_SACK_OK)
        elif kind == 5:
            edges = struct.unpack_from(f"!{(length - 2) // 4}I", opts, i + 2)
            append(SACK(tuple(zip(edges[::2], edges[1::2], strict=True))))
        else:
            append(UnknownOption(kind, opts[i + 2:i + length], length))
        i += length
    return out


# --- the header --------------------------------------------------------------------------

_HDR = layout_struct((("sport", "H"), ("dport", "H"), ("seq", "I"), ("ack", "I"),
                      ("data_offset_reserved", "B"), ("flags", "B"), ("window", "H"),
                      ("checksum", "H"), ("urgent", "H")))
_unpack = _HDR.unpack_from
_pack = _HDR.pack
_new = object.__new__
_TCP = int(IPProto.TCP)


class TCP(Header):
    """A TCP header.  ``data_offset`` and ``checksum`` left None are computed on encoding."""

    __slots__ = ("sport", "dport", "seq", "ack", "data_offset", "reserved", "flags", "window",
                 "checksum", "urgent", "_opts_raw", "_options", "partial")

    layer: ClassVar[str] = "TCP"
    fields: ClassVar[tuple[str, ...]] = ("sport", "dport", "seq", "ack", "data_offset",
                                         "reserved", "flags", "window", "checksum", "urgent",
                                         "options")

    data_offset: int | None
    flags: int
    checksum: int | None
    _opts_raw: bytes | None
    _options: list[TCPOption] | None
    partial: bool
    """True when decoded from the first fragment of a larger datagram (checksum unverifiable)."""

    def __init__(self, sport: int = 0, dport: int = 0, seq: int = 0, ack: int = 0,
                 data_offset: int | None = None, flags: int = TCPFlags.SYN,
                 window: int = 65535, checksum: int | None = None, urgent: int = 0,
                 options: list[TCPOption] | None = None, payload: bytes = b"",
                 reserved: int = 0) -> None:
        self.sport = sport
        self.dport = dport
        self.seq = seq
        self.ack = ack
        self.data_offset = data_offset
        self.reserved = reserved
        self.flags = flags
        self.window = window
        self.checksum = checksum
        self.urgent = urgent
        self._opts_raw = None
        self._options = [] if options is None else options
        self.partial = False
        self._init_payload(payload)

    @property
    def options(self) -> list[TCPOption]:
        """The options as objects, parsed from the header on first access."""
        opts = self._options
        if opts is None:
            # checked by decode() already
            opts = self._options = _parse_checked(self._opts_raw or b"")
        return opts

    @options.setter
    def options(self, value: list[TCPOption]) -> None:
        self._options = value

    @property
    def options_bytes(self) -> bytes:
        """The options area as sent (before any padding the encoder adds).

        Once ``options`` has been read the list is authoritative (edit it in place or assign
        it); parsing keeps everything, so an unedited list encodes to the original bytes.
        """
        if self._options is None:
            return self._opts_raw or b""
        return b"".join(opt.encode() for opt in self._options)

    def flag_names(self) -> str:
        """The set flags as tshark's Info column writes them: ``"SYN, ACK"``."""
        return FLAG_NAMES[int(self.flags) & 0xFF]

    def iter_fields(self) -> Iterator[tuple[str, Any]]:
        for name, value in super().iter_fields():
            yield name, value
            if name == "flags":
                yield "flag_names", self.flag_names()

    def _header_sum(self, data_offset: int, opts: bytes) -> int:
        """``sum_int`` of the header with a zero checksum, from the field values."""
        return self.sport + self.dport + self.seq + self.ack \
            + ((((data_offset << 4) | self.reserved) << 8) | self.flags) + self.window \
            + self.urgent + sum_int(opts)

    def _prepare(self) -> tuple[int, bytes]:
        """The data offset to send and the options area (zero-padded if it is computed)."""
        opts = self.options_bytes
        if self.data_offset is not None:
            return self.data_offset, opts
        if len(opts) & 3:
            opts += bytes(4 - (len(opts) & 3))  # RFC 9293 3.1: "The padding is composed of zeros"
        if len(opts) > 40:
            raise EncodeError(f"TCP.options: {len(opts)} bytes exceed the 40-byte maximum")
        return 5 + len(opts) // 4, opts

    def checksum_ok(self, src: str | bytes, dst: str | bytes) -> bool | None:
        """Whether the checksum verifies under these addresses; None if it cannot be told."""
        csum = self.checksum
        if csum is None or self.partial:
            return None
        doff, opts = self._prepare()
        payload = self.payload
        s = ip_to_bytes(src, "src", "TCP")
        d = ip_to_bytes(dst, "dst", "TCP")
        total = pseudo_int(s, d, _TCP, 20 + len(opts) + len(payload)) \
            + self._header_sum(doff, opts) + sum_int(payload) + csum
        return ok_from_int(total)

    def encode(self, src: str | bytes | None = None, dst: str | bytes | None = None) -> bytes:
        """Header, options and data.  A None checksum is computed and needs ``src``/``dst``."""
        doff, opts = self._prepare()
        payload = self.payload
        for name, value, width in (("data_offset", doff, 4), ("reserved", self.reserved, 4)):
            if not 0 <= value < (1 << width):
                raise EncodeError(f"TCP.{name}: {value!r} does not fit {width} bits")
        csum = self.checksum
        if csum is None:
            if src is None or dst is None:
                raise EncodeError("TCP.checksum: computing it needs src and dst "
                                  "(the pseudo-header)")
            s = ip_to_bytes(src, "src", "TCP")
            d = ip_to_bytes(dst, "dst", "TCP")
            csum = checksum_from_int(pseudo_int(s, d, _TCP, 20 + len(opts) + len(payload))
                                     + self._header_sum(doff, opts) + sum_int(payload))
        try:
            head = _pack(self.sport, self.dport, self.seq, self.ack,
                         (doff << 4) | self.reserved, self.flags, self.window, csum, self.urgent)
        except struct.error as exc:
            raise EncodeError(f"TCP: a field does not fit its width ({exc}): sport={self.sport}, "
                              f"dport={self.dport}, seq={self.seq}, ack={self.ack}, "
                              f"flags={self.flags}, window={self.window}, checksum={csum}, "
                              f"urgent={self.urgent}") from exc
        return head + opts + payload

    @classmethod
    def decode(cls, buf: Buf, offset: int = 0, end: int | None = None,
               partial: bool = False) -> Self:
        """Decode the header at ``offset``; the payload runs to ``end`` (the IP payload's end).

        ``partial=True`` marks a segment cut short by IP fragmentation (checksum unverifiable).
        """
        if end is None:
            end = len(buf)
        avail = end - offset
        if avail < 20:
            raise truncated("TCP", "sport", offset, 20, avail)
        sport, dport, seq, ack, offres, flags, window, csum, urgent = _unpack(buf, offset)
        doff = offres >> 4
        if doff < 5:
            raise BadFieldError("TCP", "data_offset", offset + 12, f"{doff} is below the minimum 5")
        hl = doff << 2
        if hl > avail:
            raise truncated("TCP", "options", offset + 20, hl - 20, avail - 20)
        self = _new(cls)
        if hl > 20:
            raw = bytes(buf[offset + 20:offset + hl])
            if hl != 32 or raw[:4] != _NOP_NOP_TS:  # the usual data-segment layout is valid
                check_options(raw, offset + 20)
            self._opts_raw = raw
            self._options = None
        else:
            self._opts_raw = b""
            self._options = None
        self.sport = sport
        self.dport = dport
        self.seq = seq
        self.ack = ack
        self.data_offset = doff
        self.reserved = offres & 15
        self.flags = _FLAG_VALUES[flags]
        self.window = window
        self.checksum = csum
        self.urgent = urgent
        self.partial = partial
        self._buf = buf
        self._hstart = offset
        self._pstart = offset + hl
        self._pend = end
        self._payload = None
        return self
