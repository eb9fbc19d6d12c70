"""Classic libpcap capture files: read and write (draft-ietf-opsawg-pcap).

A file is a 24-byte global header followed by records: a 16-byte record header (seconds,
microseconds or nanoseconds, captured length, original length) and the captured bytes.  The
magic number tells the byte order and the timestamp unit: 0xA1B2C3D4 for microseconds,
0xA1B23C4D for nanoseconds, read in the writer's byte order.

Reading streams: a generator reads one record at a time, so memory stays flat whatever the
file's size.  A file that ends inside its last record yields every packet before it and adds a
warning (``reader.warnings``, and ``on_warning(message)`` when given; the library does not use
the ``warnings`` module, so a CLI decides how to show it).  A corrupt header or an absurd record
length raises :class:`CaptureFormatError` naming the byte offset.  ``CapturedPacket`` and the
input helpers live here because pcapng and ``open_capture`` share them.
"""

from __future__ import annotations

import io
import os
import struct
import sys
import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import BinaryIO, Self

from wirelab.errors import CaptureFormatError, EncodeError

# No real link carries more: a larger length is a corrupt file, not a packet (and reading it
# would allocate that much memory).
MAX_CAPLEN = 256 * 1024 * 1024
DEFAULT_SNAPLEN = 262144
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113

MAGIC_MICRO = 0xA1B2C3D4
MAGIC_NANO = 0xA1B23C4D
MAGICS = {  # the first four bytes of the file -> (byte order, nanosecond)
    b"\xd4\xc3\xb2\xa1": ("<", False),
    b"\xa1\xb2\xc3\xd4": (">", False),
    b"\x4d\x3c\xb2\xa1": ("<", True),
    b"\xa1\xb2\x3c\x4d": (">", True),
}
_OTHER_MAGICS = {
    b"\x34\xcd\xb2\xa1": "a Kuznetzov 'modified' pcap file (not supported)",
    b"\xa1\xb2\xcd\x34": "a Kuznetzov 'modified' pcap file (not supported)",
    b"\x0a\x0d\x0d\x0a": "a pcapng file (use PcapngReader or open_capture)",
}

Source = str | os.PathLike[str] | BinaryIO
WarningCallback = Callable[[str], None]
Timestamp = float | tuple[int, int] | None


class CapturedPacket:
    """One packet read from a capture file.

    ``ts_sec`` and ``ts_frac_ns`` (0..999,999,999) keep the timestamp exact; ``timestamp``
    is the float for convenience.  ``caplen < orig_len`` when the capture cut the packet.
    """

    __slots__ = ("ts_sec", "ts_frac_ns", "caplen", "orig_len", "data", "linktype",
                 "interface_id")

    def __init__(self, ts_sec: int, ts_frac_ns: int, caplen: int, orig_len: int, data: bytes,
                 linktype: int, interface_id: int = 0) -> None:
        self.ts_sec = ts_sec
        self.ts_frac_ns = ts_frac_ns
        self.caplen = caplen
        self.orig_len = orig_len
        self.data = data
        self.linktype = linktype
        self.interface_id = interface_id

    @property
    def timestamp(self) -> float:
        return self.ts_sec + self.ts_frac_ns / 1e9

    @property
    def ts_ns(self) -> int:
        """The timestamp as integer nanoseconds since the epoch."""
        return self.ts_sec * 1_000_000_000 + self.ts_frac_ns

    @property
    def truncated(self) -> bool:
        return self.caplen < self.orig_len

    def _key(self) -> tuple[int, int, int, int, bytes, int, int]:
        return (self.ts_sec, self.ts_frac_ns, self.caplen, self.orig_len, self.data,
                self.linktype, self.interface_id)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CapturedPacket) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (f"CapturedPacket(ts={self.ts_sec}.{self.ts_frac_ns:09d}, caplen={self.caplen}, "
                f"orig_len={self.orig_len}, linktype={self.linktype}, "
                f"interface_id={self.interface_id})")


class CaptureInput:
    """An opened capture source: a buffered binary stream, its name, and pushed-back bytes.

    ``open_capture`` reads the magic through it and hands it, bytes pushed back, to a reader,
    so sniffing works on pipes (stdin) that cannot seek.
    """

    stream: BinaryIO
    name: str
    owned: bool

    def __init__(self, source: Source | CaptureInput) -> None:
        self.head = b""
        if isinstance(source, CaptureInput):
            self.stream, self.name, self.owned = source.stream, source.name, source.owned
            self.head = source.head
            return
        if isinstance(source, (str, os.PathLike)):
            if os.fspath(source) == "-":
                self.stream, self.name, self.owned = sys.stdin.buffer, "<stdin>", False
                return
            self.name = os.fspath(source)
            try:
                self.stream = open(self.name, "rb", buffering=256 * 1024)  # noqa: SIM115
            except OSError as exc:
                raise CaptureFormatError(f"{self.name}: cannot open: {exc.strerror}") from None
            self.owned = True
            return
        stream: BinaryIO = source
        if isinstance(stream, io.RawIOBase):  # unbuffered: read(n) may return fewer bytes
            stream = io.BufferedReader(stream)
        self.stream, self.owned = stream, False
        name = getattr(source, "name", None)
        self.name = name if isinstance(name, str) else "<stream>"

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes: fewer only at the end of the stream."""
        if self.head:
            data = self.head[:size]
            self.head = self.head[size:]
        else:
            data = self.stream.read(size)
        while len(data) < size:
            chunk = self.stream.read(size - len(data))
            if not chunk:
                break
            data += chunk
        return data

    def push_back(self, data: bytes) -> None:
        self.head = data + self.head

    def close(self) -> None:
        if self.owned:
            self.stream.close()


def read_exactly(read: Callable[[int], bytes], size: int) -> bytes:
    """``read(size)`` retried until ``size`` bytes or the end (for streams that return less)."""
    data = read(size)
    while len(data) < size:
        chunk = read(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


class ReaderBase:
    """Iteration, warnings and closing shared by the pcap and pcapng readers."""

    def __init__(self, source: Source | CaptureInput,
                 on_warning: WarningCallback | None) -> None:
        self._input = CaptureInput(source)
        self.name = self._input.name
        self.warnings: list[str] = []
        self._on_warning = on_warning
        self.count = 0  # packets yielded so far
        self._records: Iterator[CapturedPacket] = iter(())

    def _warn(self, message: str) -> None:
        message = f"{self.name}: {message}"
        self.warnings.append(message)
        if self._on_warning is not None:
            self._on_warning(message)

    def __iter__(self) -> Iterator[CapturedPacket]:
        return self

    def __next__(self) -> CapturedPacket:
        return next(self._records)

    def close(self) -> None:
        self._input.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class PcapReader(ReaderBase):
    """Iterate the packets of a classic pcap file (a path, ``"-"`` for stdin, or a stream)."""

    def __init__(self, source: Source | CaptureInput, *,
                 on_warning: WarningCallback | None = None) -> None:
        super().__init__(source, on_warning)
        try:
            self._read_header()
        except BaseException:
            self.close()
            raise
        self._records = self._iterate()

    def _read_header(self) -> None:
        header = self._input.read(24)
        magic = header[:4]
        if magic not in MAGICS:
            what = _OTHER_MAGICS.get(magic)
            if what is None:
                what = "empty" if not header else f"not a pcap file (magic 0x{magic.hex()})"
            raise CaptureFormatError(f"{self.name}: byte 0: {what}")
        self.byteorder, self.nanosecond = MAGICS[magic]
        if len(header) < 24:
            raise CaptureFormatError(
                f"{self.name}: byte {len(header)}: file ends inside the 24-byte global header")
        (_, self.version_major, self.version_minor, self.thiszone, self.sigfigs, self.snaplen,
         self.network) = struct.unpack(self.byteorder + "IHHiIII", header)
        if self.version_major != 2:
            raise CaptureFormatError(
                f"{self.name}: byte 4: version {self.version_major}.{self.version_minor}, "
                "only 2.x exists")
        # The low 16 bits are the LINKTYPE; the high bits may carry FCS information.
        self.linktype = self.network & 0xFFFF

    def _iterate(self) -> Iterator[CapturedPacket]:
        record = struct.Struct(self.byteorder + "IIII")
        unpack, linktype = record.unpack, self.linktype
        frac_scale = 1 if self.nanosecond else 1000
        # Straight to the stream's read once the sniffed bytes are consumed (the usual case).
        read = self._input.read if self._input.head else self._input.stream.read
        offset = 24
        try:
            while True:
                head = read(16)
                if len(head) < 16:
                    if head:
                        head += read_exactly(read, 16 - len(head))
                    if 0 < len(head) < 16:
                        self._warn(f"byte {offset}: file ends inside a record header "
                                   f"({len(head)} of 16 bytes) after {self.count} packets; "
                                   "the last record is truncated")
                    if len(head) < 16:
                        return
                ts_sec, ts_frac, caplen, orig_len = unpack(head)
                if caplen > MAX_CAPLEN:
                    raise CaptureFormatError(
                        f"{self.name}: byte {offset + 8}: record captured length {caplen} "
                        f"exceeds {MAX_CAPLEN} (256 MiB); the file is corrupt")
                data = read(caplen)
                if len(data) < caplen:
                    data += read_exactly(read, caplen - len(data))
                    if len(data) < caplen:
                        self._warn(f"byte {offset}: file ends inside a record after "
                                   f"{self.count} packets ({len(data)} of {caplen} bytes); "
                                   "the last record is truncated")
                        return
                offset += 16 + caplen
                self.count += 1
                yield CapturedPacket(ts_sec, ts_frac * frac_scale, caplen, orig_len, data,
                                     linktype)
        finally:
            self.close()


def split_timestamp(ts: Timestamp) -> tuple[int, int]:
    """(seconds, nanoseconds) from None (now), float seconds, or a (sec, ns) pair."""
    if ts is None:
        return divmod(time.time_ns(), 1_000_000_000)
    if isinstance(ts, tuple):
        return ts
    sec = int(ts // 1)
    ns = round((ts - sec) * 1e9)
    if ns >= 1_000_000_000:
        sec, ns = sec + 1, ns - 1_000_000_000
    return sec, ns


def open_output(dest: Source) -> tuple[BinaryIO, bool]:
    """A writable binary stream for a path (owned, to close) or a given stream (not owned)."""
    if isinstance(dest, (str, os.PathLike)):
        try:
            return open(os.fspath(dest), "wb"), True  # noqa: SIM115
        except OSError as exc:
            raise EncodeError(f"{os.fspath(dest)}: cannot create: {exc.strerror}") from None
    return dest, False


class WriterBase:
    """What both capture writers share: the byte order, the output stream, closing it."""

    format_name = "capture"

    def __init__(self, dest: Source, byteorder: str) -> None:
        if byteorder not in ("little", "big"):
            raise EncodeError(f"{self.format_name} byte order {byteorder!r}: 'little' or 'big'")
        self._order = "<" if byteorder == "little" else ">"
        self._stream, self._owned = open_output(dest)

    def close(self) -> None:
        """Close a file we opened; only flush a stream the caller handed us."""
        if self._owned:
            self._stream.close()
        else:
            self._stream.flush()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class PcapWriter(WriterBase):
    """Write a classic pcap file; packets longer than ``snaplen`` are cut (caplen < len)."""

    format_name = "pcap"

    def __init__(self, dest: Source, linktype: int = LINKTYPE_ETHERNET,
                 snaplen: int = DEFAULT_SNAPLEN, nanosecond: bool = False, *,
                 byteorder: str = "little") -> None:
        super().__init__(dest, byteorder)
        self.linktype, self.snaplen, self.nanosecond = linktype, snaplen, nanosecond
        self._record = struct.Struct(self._order + "IIII")
        try:
            self._stream.write(struct.pack(self._order + "IHHiIII",
                                           MAGIC_NANO if nanosecond else MAGIC_MICRO, 2, 4, 0, 0,
                                           snaplen, linktype))
        except struct.error as exc:
            raise EncodeError(f"pcap global header: {exc}") from None

    def write(self, data: bytes, ts: Timestamp = None, orig_len: int | None = None) -> None:
        """Append one record; ``orig_len`` defaults to ``len(data)``."""
        sec, ns = split_timestamp(ts)
        frac = ns if self.nanosecond else ns // 1000
        caplen = min(len(data), self.snaplen)
        try:
            head = self._record.pack(sec, frac, caplen,
                                     len(data) if orig_len is None else orig_len)
        except struct.error as exc:
            raise EncodeError(f"pcap record (ts={sec}.{ns:09d}): {exc}") from None
        self._stream.write(head)
        self._stream.write(data[:caplen])

    def write_packet(self, packet: CapturedPacket) -> None:
        """Copy a read packet, keeping its timestamp and original length."""
        self.write(packet.data, (packet.ts_sec, packet.ts_frac_ns), packet.orig_len)
