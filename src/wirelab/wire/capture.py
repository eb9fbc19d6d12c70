"""Open a capture file of either format by its magic number.

``open_capture`` reads the first four bytes, pushes them back, and hands the stream to the
reader of that format, so it works on a path, an open binary file, or a pipe (``"-"`` is
stdin).  The reader it returns is an iterator of :class:`CapturedPacket` with ``warnings``.
"""

from __future__ import annotations

from wirelab.errors import CaptureFormatError
from wirelab.wire.pcap import (
    MAGICS,
    CapturedPacket,
    CaptureInput,
    PcapReader,
    PcapWriter,
    Source,
    WarningCallback,
)
from wirelab.wire.pcapng import SHB_BYTES, PcapngReader, PcapngWriter

__all__ = ["CapturedPacket", "PcapReader", "PcapWriter", "PcapngReader", "PcapngWriter",
           "open_capture", "capture_format"]


def capture_format(magic: bytes) -> str | None:
    """``"pcap"`` or ``"pcapng"`` for the first four bytes of a file, else None."""
    if magic in MAGICS:
        return "pcap"
    if magic == SHB_BYTES:
        return "pcapng"
    return None


def open_capture(source: Source, *,
                 on_warning: WarningCallback | None = None) -> PcapReader | PcapngReader:
    """The reader for ``source`` (a path, ``"-"`` for stdin, or a binary stream).

    Raises :class:`CaptureFormatError` for a file that is empty, of another format, or
    whose header is corrupt; the message names the file and the byte offset.
    """
    stream = CaptureInput(source)
    try:
        magic = stream.read(4)
        stream.push_back(magic)
        kind = capture_format(magic)
        if kind is None:
            what = "empty file" if not magic else (
                f"not a pcap or pcapng file (magic 0x{magic.hex()})")
            raise CaptureFormatError(f"{stream.name}: byte 0: {what}")
    except BaseException:
        stream.close()
        raise
    if kind == "pcap":
        return PcapReader(stream, on_warning=on_warning)
    return PcapngReader(stream, on_warning=on_warning)
