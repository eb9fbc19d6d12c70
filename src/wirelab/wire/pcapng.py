"""pcapng capture files (draft-ietf-opsawg-pcapng): a streaming reader and a small writer.

A file is a run of blocks, each ``type u32, total length u32, body, total length u32``,
padded to 32 bits.  A Section Header Block (SHB, 4.1) opens each section and fixes its
byte order through the 0x1A2B3C4D magic; a new SHB starts a new section and forgets every
interface.  Interface Description Blocks (IDB, 4.2) give each interface its link type,
snaplen and timestamp unit (``if_tsresol``: 10^-n, or 2^-n with the high bit set; microseconds
by default) and offset (``if_tsoffset``, seconds).  Packets come in Enhanced Packet Blocks
(EPB, 4.3), Simple Packet Blocks (SPB, 4.4: no timestamp, interface 0, cut to its snaplen) and
the obsolete Packet Block (OPB, appendix A).  Every other block type is skipped.

The reader holds one block at a time.  A file that ends inside a block yields what came before
and records a warning; a block whose length is not a multiple of 4, shorter than 12 bytes,
larger than 256 MiB, or whose trailing length differs raises :class:`CaptureFormatError`
with the block's byte offset.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from wirelab.errors import CaptureFormatError, EncodeError
from wirelab.wire.pcap import (
    DEFAULT_SNAPLEN,
    LINKTYPE_ETHERNET,
    MAX_CAPLEN,
    CapturedPacket,
    CaptureInput,
    ReaderBase,
    Source,
    Timestamp,
    WarningCallback,
    WriterBase,
    split_timestamp,
)

SHB = 0x0A0D0D0A
IDB = 0x00000001
OPB = 0x00000002  # obsolete Packet Block
SPB = 0x00000003
EPB = 0x00000006
BYTE_ORDER_MAGIC = 0x1A2B3C4D
SHB_BYTES = b"\x0a\x0d\x0d\x0a"  # a palindrome: readable before the byte order is known
_BOM = {b"\x4d\x3c\x2b\x1a": "<", b"\x1a\x2b\x3c\x4d": ">"}
MAX_BLOCK = MAX_CAPLEN + 64 * 1024  # a maximal packet plus room for its options

OPT_ENDOFOPT = 0
OPT_IF_NAME = 2
OPT_IF_TSRESOL = 9
OPT_IF_TSOFFSET = 14


class Interface:
    """One IDB of the current section."""

    __slots__ = ("linktype", "snaplen", "tsresol", "units", "tsoffset", "name")

    def __init__(self, linktype: int, snaplen: int, tsresol: int = 6, tsoffset: int = 0,
                 name: str | None = None) -> None:
        self.linktype = linktype
        self.snaplen = snaplen
        self.tsresol = tsresol
        # if_tsresol (4.2): high bit clear -> 10^-n seconds, set -> 2^-n seconds.
        self.units: int = 2 ** (tsresol & 0x7F) if tsresol & 0x80 else 10 ** tsresol
        self.tsoffset = tsoffset
        self.name = name

    def split(self, ticks: int) -> tuple[int, int]:
        """(seconds, nanoseconds) for a timestamp in this interface's units (truncated)."""
        sec, rem = divmod(ticks, self.units)
        return sec + self.tsoffset, rem * 1_000_000_000 // self.units

    def ticks(self, sec: int, ns: int) -> int:
        return (sec - self.tsoffset) * self.units + ns * self.units // 1_000_000_000

    def __repr__(self) -> str:
        return (f"Interface(linktype={self.linktype}, snaplen={self.snaplen}, "
                f"tsresol=0x{self.tsresol:02x}, tsoffset={self.tsoffset}, name={self.name!r})")


def _options(body: bytes, start: int, order: str) -> Iterator[tuple[int, bytes]]:
    """(code, value) of each option from ``start``; raises ValueError when one overruns."""
    pos = start
    while pos + 4 <= len(body):
        code, length = struct.unpack_from(order + "HH", body, pos)
        if code == OPT_ENDOFOPT:
            return
        if pos + 4 + length > len(body):
            raise ValueError(f"option {code} of {length} bytes overruns the block")
        yield code, body[pos + 4:pos + 4 + length]
        pos += 4 + (length + 3) // 4 * 4


class PcapngReader(ReaderBase):
    """Iterate the packets of a pcapng file (a path, ``"-"`` for stdin, or a stream)."""

    def __init__(self, source: Source | CaptureInput, *,
                 on_warning: WarningCallback | None = None) -> None:
        super().__init__(source, on_warning)
        self.interfaces: list[Interface] = []
        self.sections = 0
        self.byteorder = "<"
        self._offset = 0
        try:
            first = self._input.read(4)
            if first != SHB_BYTES:
                what = "empty" if not first else (
                    f"not a pcapng file (first block type 0x{first.hex()}, "
                    "not a Section Header Block)")
                raise CaptureFormatError(f"{self.name}: byte 0: {what}")
            self._input.push_back(first)
            self._first = self._read_block()  # parse the first SHB now: fail early
            if self._first is None:
                raise CaptureFormatError(f"{self.name}: byte 0: file ends inside the first "
                                         "Section Header Block")
        except BaseException:
            self.close()
            raise
        self._records = self._iterate()

    # -- blocks -------------------------------------------------------------------------------

    def _corrupt(self, offset: int, what: str) -> CaptureFormatError:
        return CaptureFormatError(f"{self.name}: byte {offset}: {what}")

    def _truncated(self, offset: int, got: int, want: int) -> None:
        self._warn(f"byte {offset}: file ends inside a block ({got} of {want} bytes) after "
                   f"{self.count} packets; the last block is truncated")

    def _read_block(self) -> tuple[int, bytes, int] | None:
        """(type, body, offset) of the next block, or None at the end (or a truncated end)."""
        offset = self._offset
        read = self._input.read
        head = read(8)
        if len(head) < 8:
            if head:
                self._truncated(offset, len(head), 8)
            return None
        if head[:4] == SHB_BYTES:
            bom = read(4)
            if len(bom) < 4:
                self._truncated(offset, 8 + len(bom), 12)
                return None
            if bom not in _BOM:
                raise self._corrupt(offset + 8, f"Section Header Block byte-order magic "
                                                f"0x{bom.hex()} is not 0x1a2b3c4d")
            self.byteorder = _BOM[bom]
            self._input.push_back(bom)
        block_type, length = struct.unpack(self.byteorder + "II", head)
        if length % 4 or length < 12:
            raise self._corrupt(offset + 4, f"block type 0x{block_type:08x} has total length "
                                            f"{length}: not a multiple of 4 of at least 12")
        if length > MAX_BLOCK:
            raise self._corrupt(offset + 4, f"block type 0x{block_type:08x} has total length "
                                            f"{length} > {MAX_BLOCK}; the file is corrupt")
        rest = read(length - 8)
        if len(rest) < length - 8:
            self._truncated(offset, 8 + len(rest), length)
            return None
        (trailer,) = struct.unpack_from(self.byteorder + "I", rest, length - 12)
        if trailer != length:
            raise self._corrupt(offset + length - 4,
                                f"block type 0x{block_type:08x} at byte {offset}: trailing "
                                f"length {trailer} differs from leading length {length}")
        self._offset = offset + length
        body = rest[:-4]
        if block_type == SHB:
            self._section(body, offset)
        elif block_type == IDB:
            self._interface(body, offset)
        return block_type, body, offset

    def _section(self, body: bytes, offset: int) -> None:
        if len(body) < 16:
            raise self._corrupt(offset, "Section Header Block shorter than 28 bytes")
        major, minor = struct.unpack_from(self.byteorder + "HH", body, 4)
        if major != 1:
            raise self._corrupt(offset + 12, f"pcapng version {major}.{minor}, only 1.x exists")
        self.interfaces = []  # interface ids are numbered per section (4.2)
        self.sections += 1

    def _interface(self, body: bytes, offset: int) -> None:
        if len(body) < 8:
            raise self._corrupt(offset, "Interface Description Block shorter than 20 bytes")
        linktype, _, snaplen = struct.unpack_from(self.byteorder + "HHI", body)
        tsresol, tsoffset, name = 6, 0, None
        try:
            for code, value in _options(body, 8, self.byteorder):
                if code == OPT_IF_TSRESOL and len(value) == 1:
                    tsresol = value[0]
                elif code == OPT_IF_TSOFFSET and len(value) == 8:
                    (tsoffset,) = struct.unpack(self.byteorder + "q", value)
                elif code == OPT_IF_NAME:
                    name = value.decode("utf-8", "replace")
        except ValueError as exc:
            raise self._corrupt(offset, f"Interface Description Block: {exc}") from None
        self.interfaces.append(Interface(linktype, snaplen, tsresol, tsoffset, name))

    def _iface(self, interface_id: int, offset: int) -> Interface:
        if interface_id >= len(self.interfaces):
            raise self._corrupt(offset, f"packet block names interface {interface_id}, but the "
                                        f"section has {len(self.interfaces)} interface(s)")
        return self.interfaces[interface_id]

    def _packet(self, block_type: int, body: bytes, offset: int) -> CapturedPacket | None:
        order = self.byteorder
        if block_type == EPB or block_type == OPB:
            if len(body) < 20:
                raise self._corrupt(offset, "packet block shorter than its fixed fields")
            if block_type == EPB:
                iid, high, low, caplen, orig_len = struct.unpack_from(order + "IIIII", body)
            else:
                iid, _, high, low, caplen, orig_len = struct.unpack_from(order + "HHIIII", body)
            if 20 + caplen > len(body):
                raise self._corrupt(offset, f"captured length {caplen} overruns the block of "
                                            f"{len(body) + 12} bytes")
            iface = self._iface(iid, offset)
            sec, ns = iface.split((high << 32) | low)
            return CapturedPacket(sec, ns, caplen, orig_len, body[20:20 + caplen],
                                  iface.linktype, iid)
        if block_type == SPB:
            if len(body) < 4:
                raise self._corrupt(offset, "Simple Packet Block shorter than 16 bytes")
            iface = self._iface(0, offset)
            (orig_len,) = struct.unpack_from(order + "I", body)
            # 4.4: the captured length is the smaller of the original length and the snaplen
            # of interface 0 (0 meaning no limit); the rest of the body is padding.
            caplen = min(orig_len, len(body) - 4)
            if iface.snaplen:
                caplen = min(caplen, iface.snaplen)
            return CapturedPacket(0, 0, caplen, orig_len, body[4:4 + caplen], iface.linktype, 0)
        return None

    def _iterate(self) -> Iterator[CapturedPacket]:
        try:
            block = self._first
            while block is not None:
                packet = self._packet(*block)
                if packet is not None:
                    self.count += 1
                    yield packet
                block = self._read_block()
        finally:
            self.close()


class PcapngWriter(WriterBase):
    """Write a pcapng file: one SHB, then interfaces (IDB) and packets (EPB or SPB).

    Enough to generate test captures: several interfaces, any ``if_tsresol``, an
    ``if_tsoffset``, new sections, and raw blocks of any type (to test skipping).
    """

    format_name = "pcapng"

    def __init__(self, dest: Source, *, byteorder: str = "little") -> None:
        super().__init__(dest, byteorder)
        self.interfaces: list[Interface] = []
        self.new_section()

    def write_block(self, block_type: int, body: bytes) -> None:
        """Write one block of any type, padding the body to 32 bits."""
        body = body + b"\0" * (-len(body) % 4)
        length = 12 + len(body)
        try:
            self._stream.write(struct.pack(self._order + "II", block_type, length) + body
                               + struct.pack(self._order + "I", length))
        except struct.error as exc:
            raise EncodeError(f"pcapng block type {block_type}: {exc}") from None

    def _option(self, code: int, value: bytes) -> bytes:
        return (struct.pack(self._order + "HH", code, len(value)) + value
                + b"\0" * (-len(value) % 4))

    def new_section(self) -> None:
        """Start a section (SHB, section length unknown: -1); interfaces start again at 0."""
        self.write_block(SHB, struct.pack(self._order + "IHHq", BYTE_ORDER_MAGIC, 1, 0, -1))
        self.interfaces = []

    def add_interface(self, linktype: int = LINKTYPE_ETHERNET, snaplen: int = DEFAULT_SNAPLEN,
                      tsresol: int = 6, tsoffset: int = 0, name: str | None = None) -> int:
        """Write an IDB and return its interface id."""
        options = b""
        if name is not None:
            options += self._option(OPT_IF_NAME, name.encode("utf-8"))
        if tsresol != 6:
            options += self._option(OPT_IF_TSRESOL, bytes([tsresol]))
        if tsoffset:
            options += self._option(OPT_IF_TSOFFSET, struct.pack(self._order + "q", tsoffset))
        if options:
            options += self._option(OPT_ENDOFOPT, b"")
        try:
            fixed = struct.pack(self._order + "HHI", linktype, 0, snaplen)
        except struct.error as exc:
            raise EncodeError(f"pcapng interface: {exc}") from None
        self.write_block(IDB, fixed + options)
        self.interfaces.append(Interface(linktype, snaplen, tsresol, tsoffset, name))
        return len(self.interfaces) - 1

    def write(self, data: bytes, ts: Timestamp = None, interface_id: int = 0,
              orig_len: int | None = None) -> None:
        """Append an EPB; data longer than the interface's snaplen is cut."""
        if not 0 <= interface_id < len(self.interfaces):
            raise EncodeError(f"pcapng: no interface {interface_id} in this section")
        iface = self.interfaces[interface_id]
        ticks = iface.ticks(*split_timestamp(ts))
        caplen = min(len(data), iface.snaplen) if iface.snaplen else len(data)
        try:
            fixed = struct.pack(self._order + "IIIII", interface_id, ticks >> 32,
                                ticks & 0xFFFFFFFF, caplen,
                                len(data) if orig_len is None else orig_len)
        except struct.error as exc:
            raise EncodeError(f"pcapng packet: {exc}") from None
        self.write_block(EPB, fixed + data[:caplen])

    def write_simple(self, data: bytes, orig_len: int | None = None) -> None:
        """Append an SPB (interface 0, no timestamp), cut to interface 0's snaplen."""
        if not self.interfaces:
            raise EncodeError("pcapng: a Simple Packet Block needs interface 0")
        snaplen = self.interfaces[0].snaplen
        caplen = min(len(data), snaplen) if snaplen else len(data)
        self.write_block(SPB, struct.pack(self._order + "I",
                                          len(data) if orig_len is None else orig_len)
                         + data[:caplen])
