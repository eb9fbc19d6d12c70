"""Packets from a capture file or a live interface, through one interface.

Every Module 4 tool (``stats``, ``flows``, ``top``, export) consumes the same thing: packets in
arrival order, each as ``(ts_ns, linktype, data, orig_len)``.  :func:`open_source` hands them
out from a pcap/pcapng file (:func:`wirelab.wire.capture.open_capture`) or from a live
interface, where frames come from an AF_PACKET ``TPACKET_V3`` ring shared with the kernel
(:class:`wirelab.craft.sniff_fast.RingCapture`, no Scapy): the kernel runs the BPF filter and
fills blocks of frames; we walk a block without a system call per frame, as libpcap does.

Stopping, the same way for both kinds of source:

- ``count=N``: after N packets (tshark/tcpdump ``-c N``);
- ``duration=S``: live, after S seconds of wall clock; from a file, the packets of the first
  S seconds of capture time (tshark's ``-a duration:S`` on a live capture);
- Ctrl-C: while packets are being iterated in the main thread, SIGINT ends the iteration
  cleanly (``source.interrupted`` is then True) so the caller prints what it counted, as
  tshark does on Ctrl-C; outside the iteration SIGINT behaves as usual;
- :meth:`Source.stop` from another thread (a UI, a timer).

A live capture needs CAP_NET_RAW: without it :class:`wirelab.errors.PrivilegeError` says so
in one line.  As libpcap does, a frame leaving through loopback is skipped (it comes back in
as incoming), and an 802.1Q tag the kernel took out of the frame is put back.
"""

from __future__ import annotations

import os
import signal
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import NamedTuple

from wirelab.errors import PrivilegeError, WirelabError
from wirelab.wire.pcap import CapturedPacket, PcapWriter

NS = 1_000_000_000
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
_ARPHRD_LINKTYPE = {1: LINKTYPE_ETHERNET, 772: LINKTYPE_ETHERNET, 65534: LINKTYPE_RAW}
"""sockaddr_ll.sll_hatype -> pcap linktype: Ethernet and loopback (Linux gives loopback an
Ethernet header of zero addresses; libpcap records it as EN10MB), and ARPHRD_NONE (tun
devices: bare IP, libpcap's LINKTYPE_RAW)."""


class Packet(NamedTuple):
    """One packet: the fields of :class:`wirelab.wire.pcap.CapturedPacket` the tools use."""

    ts_ns: int
    """Time of capture, integer nanoseconds since the epoch."""
    linktype: int
    """pcap LINKTYPE_* of ``data`` (1 Ethernet, 101 raw IP, 113 Linux cooked...)."""
    data: bytes
    """The captured bytes (at most the snap length)."""
    orig_len: int
    """The frame's length on the wire (tshark's ``frame.len``)."""


class SourceError(WirelabError):
    """A source that cannot be opened as asked (bad combination of options)."""


class Source:
    """An open packet source: iterate it for :class:`Packet` s (once), or use :meth:`batches`.

    After the iteration, ``count`` is the number of packets handed out, ``interrupted`` whether
    Ctrl-C ended it (:meth:`stop` sets only ``stopped``), and for a live source ``kernel_packets`` /
    ``kernel_drops`` the kernel's PACKET_STATISTICS (drops: frames the ring had no room for).
    """

    def __init__(self, name: str, limit: int | None, duration: float | None) -> None:
        self.name = name
        self.live = False
        self.limit = limit
        self.duration = duration
        self.count = 0
        self.interrupted = False
        self.kernel_packets = 0
        self.kernel_drops = 0
        self._stop = threading.Event()

    def stop(self) -> None:
        """Ask the iteration to end after the batch in hand (safe from any thread).

        A batch is at most one ring block (live) or the records of one MiB (file).
        """
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def __iter__(self) -> Iterator[Packet]:
        for batch in self.batches(0.25):
            yield from batch

    def batches(self, max_wait_s: float) -> Iterator[list[Packet]]:
        """Packets in lists as they come; an empty list after ``max_wait_s`` without any.

        For a live display (``wirelab top``) that must redraw even when the wire is quiet.
        A list holds at most one ring block's frames (live) or one MiB of records (file).
        """
        with _sigint_stops(self):
            yield from self._batches(max_wait_s)

    def _batches(self, max_wait_s: float) -> Iterator[list[Packet]]:
        raise NotImplementedError

    def _take(self, batch: list[Packet]) -> tuple[list[Packet], bool]:
        """Cut ``batch`` at the packet limit; (packets to hand out, whether to go on)."""
        if self.limit is not None and self.count + len(batch) >= self.limit:
            batch = batch[:self.limit - self.count]
            self.count += len(batch)
            return batch, False
        self.count += len(batch)
        return batch, True


@contextmanager
def _sigint_stops(source: Source) -> Iterator[None]:
    """While iterating in the main thread, SIGINT stops ``source`` instead of raising."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        source.interrupted = True
        source.stop()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class FileSource(Source):
    """Packets of a pcap or pcapng file."""

    def __init__(self, path: str, limit: int | None, duration: float | None,
                 on_warning: Callable[[str], None] | None) -> None:
        super().__init__(path, limit, duration)
        from wirelab.wire.capture import open_capture

        self._reader = open_capture(path, on_warning=on_warning)
        self._warn = on_warning

    def _batches(self, max_wait_s: float) -> Iterator[list[Packet]]:
        from wirelab.wire.pcap import PcapReader

        reader = self._reader
        if isinstance(reader, PcapReader) and os.path.isfile(self.name):
            # Classic pcap on disk: the header was checked by the reader; records are read
            # here a MiB at a time, with no object per packet but the Packet itself.
            raw = _pcap_records(self.name, reader.byteorder, reader.nanosecond,
                                reader.linktype, self._warn)
        else:
            raw = _reader_batches(reader)
        end_ns: int | None = None
        for batch in raw:
            if self.duration is not None:
                if end_ns is None:
                    end_ns = batch[0][0] + int(self.duration * NS)
                if batch[-1][0] > end_ns:
                    cut = next(i for i, p in enumerate(batch) if p[0] > end_ns)
                    if cut:
                        yield self._take(batch[:cut])[0]
                    return
            out, more = self._take(batch)
            yield out
            if not more or self._stop.is_set():
                return

    def close(self) -> None:
        self._reader.close()


def _reader_batches(reader: Iterator[CapturedPacket]) -> Iterator[list[Packet]]:
    """Batches of 1,024 packets from a reader (pcapng, a pipe)."""
    new = tuple.__new__
    batch: list[Packet] = []
    for p in reader:
        batch.append(new(Packet, (p.ts_sec * NS + p.ts_frac_ns, p.linktype, p.data,
                                  p.orig_len)))
        if len(batch) >= 1024:
            yield batch
            batch = []
    if batch:
        yield batch


def _pcap_records(path: str, byteorder: str, nanosecond: bool, linktype: int,
                  warn: Callable[[str], None] | None) -> Iterator[list[Packet]]:
    """The records of a classic pcap file after its 24-byte header, one batch per MiB read.

    The format (a 16-byte record header: seconds, fraction, captured and original length,
    then the bytes) as :class:`wirelab.wire.pcap.PcapReader` reads it, with its checks.
    """
    from wirelab.errors import CaptureFormatError
    from wirelab.wire.pcap import MAX_CAPLEN

    unpack = struct.Struct(byteorder + "IIII").unpack_from
    scale = 1 if nanosecond else 1000
    new = tuple.__new__
    offset = 24  # of buf[0] in the file
    with open(path, "rb") as f:
        f.seek(24)
        buf = b""
        while chunk := f.read(1 << 20):
            buf += chunk
            pos, size = 0, len(buf)
            batch: list[Packet] = []
            append = batch.append
            while pos + 16 <= size:
                sec, frac, caplen, orig_len = unpack(buf, pos)
                if caplen > MAX_CAPLEN:
                    raise CaptureFormatError(
                        f"{path}: byte {offset + pos + 8}: record captured length {caplen} "
                        f"exceeds {MAX_CAPLEN} (256 MiB); the file is corrupt")
                end = pos + 16 + caplen
                if end > size:
                    break
                append(new(Packet, (sec * NS + frac * scale, linktype, buf[pos + 16:end],
                                    orig_len)))
                pos = end
            buf, offset = buf[pos:], offset + pos
            if batch:
                yield batch
    if buf and warn is not None:
        warn(f"{path}: byte {offset}: file ends inside a record ({len(buf)} bytes left); "
             "the last record is truncated")


class LiveSource(Source):
    """Frames from an AF_PACKET TPACKET_V3 ring on ``interface`` (None: every interface)."""

    def __init__(self, interface: str | None, bpf: str | None, limit: int | None,
                 duration: float | None) -> None:
        super().__init__(interface or "any", limit, duration)
        from wirelab.craft.bpf import compile_filter
        from wirelab.craft.sniff_fast import RingCapture

        self.live = True
        program = compile_filter(bpf) if bpf else None
        try:
            self._ring = RingCapture(None if interface in (None, "any") else interface,
                                     program)
        except PermissionError:
            raise PrivilegeError(
                f"capturing on {self.name} needs CAP_NET_RAW; run it as root or inside the "
                "lab: wirelab lab exec HOST -- wirelab ...") from None

    def _batches(self, max_wait_s: float) -> Iterator[list[Packet]]:
        from wirelab.craft import sniff_fast as sf

        cap = self._ring
        ring, block_size, block_nr = cap.ring, cap.block_size, cap.block_nr
        frame_hdr, block_hdr = sf.FRAME.unpack_from, sf.BLOCK.unpack_from
        deadline = None if self.duration is None else time.monotonic() + self.duration
        skip_hatype, outgoing = sf.ARPHRD_LOOPBACK, sf.PACKET_OUTGOING
        new = tuple.__new__
        while not self._stop.is_set():
            offset = cap.block * block_size
            _v, _p, status, count, first = block_hdr(ring, offset)
            if not status & sf.TP_STATUS_USER:
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    return
                wait = max_wait_s if deadline is None else min(max_wait_s, deadline - now)
                if not cap.poller.poll(max(1, int(wait * 1000))):
                    yield []
                continue
            batch: list[Packet] = []
            pos = offset + first
            for _ in range(count):
                (next_off, sec, nsec, snaplen, length, tp_status, mac, _net, _hash, tci, tpid,
                 _pad, _family, _proto, _ifindex, hatype, pkttype) = frame_hdr(ring, pos)
                start, pos = pos + mac, pos + next_off
                if pkttype == outgoing and hatype == skip_hatype:
                    continue
                frame = ring[start:start + snaplen]
                if tp_status & sf.TP_STATUS_VLAN_VALID:
                    # The kernel took the 802.1Q tag out of the frame; put it back.
                    tag = tpid if tp_status & sf.TP_STATUS_VLAN_TPID_VALID else sf.ETH_P_8021Q
                    frame = frame[:12] + struct.pack("!HH", tag, tci) + frame[12:]
                    length += 4  # as libpcap: the tag counts in the length on the wire
                batch.append(new(Packet, (sec * NS + nsec,
                                          _ARPHRD_LINKTYPE.get(hatype, LINKTYPE_ETHERNET),
                                          frame, length)))
            # Hand the block back before yielding: the frames were copied out of it.
            struct.pack_into("=I", ring, offset + 8, sf.TP_STATUS_KERNEL)
            cap.block = (cap.block + 1) % block_nr
            out, more = self._take(batch)
            if out:
                yield out
            if not more:
                return
            if deadline is not None and time.monotonic() >= deadline:
                return

    def close(self) -> None:
        self._ring.close()
        self.kernel_packets = self._ring.kernel_packets
        self.kernel_drops = self._ring.kernel_drops


class Recorder:
    """Writes the packets a source handed out to a nanosecond pcap (``wirelab stats -w``).

    The file's linktype is the first packet's; the pcap header is written with it, so the
    file is created at the first packet (an empty capture writes a header for Ethernet).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._writer: PcapWriter | None = None

    def write(self, batch: list[Packet]) -> None:
        for ts, linktype, data, orig_len in batch:
            writer = self._writer
            if writer is None:
                writer = self._writer = PcapWriter(self.path, linktype, nanosecond=True)
            elif linktype != writer.linktype:
                raise SourceError(f"{self.path}: a pcap holds one link type; frames of "
                                  f"linktype {writer.linktype} and {linktype} (capture on one "
                                  "interface, not 'any')")
            writer.write(data, (ts // NS, ts % NS), orig_len)

    def close(self) -> None:
        if self._writer is None:
            self._writer = PcapWriter(self.path, LINKTYPE_ETHERNET, nanosecond=True)
        self._writer.close()


@contextmanager
def open_source(path: str | None = None, *, interface: str | None = None,
                bpf: str | None = None, count: int | None = None,
                duration: float | None = None,
                on_warning: Callable[[str], None] | None = None) -> Iterator[Source]:
    """Open a capture file (``path``) or a live ``interface``; yields a :class:`Source`.

    A live capture is armed (ring and filter in place, earlier frames discarded) when the
    ``with`` body starts, so traffic generated after that is seen.  ``bpf`` is a capture
    filter in tcpdump's syntax, compiled by libpcap; it applies to live captures only.

    Example::

        with open_source(interface="eth0", count=100) as packets:
            for p in packets:
                print(p.ts_ns, len(p.data), p.orig_len)
    """
    if (path is None) == (interface is None):
        raise SourceError("give either a capture file or a live interface, not both or none")
    if count is not None and count < 1:
        raise SourceError(f"count {count}: it must be at least 1")
    if duration is not None and duration <= 0:
        raise SourceError(f"duration {duration}: it must be more than 0 seconds")
    source: FileSource | LiveSource
    if path is not None:
        if bpf:
            raise SourceError("a capture filter applies to live captures only "
                              "(filter a file with tshark -Y or tcpdump -r -w)")
        source = FileSource(path, count, duration, on_warning)
    else:
        source = LiveSource(interface, bpf, count, duration)
    try:
        yield source
    finally:
        source.close()
