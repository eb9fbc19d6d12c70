"""The fast capture engine of ``wirelab sniff``: an AF_PACKET TPACKET_V3 ring, no Scapy.

Scapy's ``sniff`` reads one frame per ``recvmsg`` and builds a tree of objects for each; at a
few tens of thousands of frames a second its socket buffer fills and the kernel drops.  Here:

- the BPF filter runs in the kernel (:mod:`wirelab.craft.bpf`), before any copy;
- frames land in a ring of blocks shared with the kernel by ``mmap`` (PACKET_RX_RING with
  TPACKET_V3, Documentation/networking/packet_mmap.rst): no system call per frame, only a
  ``poll`` when the ring is empty, and a large ring absorbs bursts while we catch up;
- each frame is classified by :func:`wirelab.wire.classify.classify`, which reads the bytes
  it needs and builds no header objects.

The socket is created with protocol ETH_P_ALL (which, unbound, listens on every interface)
or protocol 0 and then bound to one interface, so it receives nothing before its filter is
attached.  Frames queued on the socket before the ring existed are drained, never counted.
As libpcap does, a frame leaving through loopback is skipped: it comes back in as incoming.

This module must not import Scapy (the bench measures it against Scapy).
"""

from __future__ import annotations

import errno
import mmap
import select
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

from wirelab.craft.bpf import Program, attach, compile_filter
from wirelab.craft.privilege import require_raw_socket
from wirelab.craft.sniff import SniffOptions, Tally
from wirelab.errors import LabError
from wirelab.wire.classify import classify
from wirelab.wire.pcap import PcapWriter

SOL_PACKET = 263
PACKET_RX_RING = 5
PACKET_STATISTICS = 6
PACKET_VERSION = 10
TPACKET_V3 = 2
ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
ARPHRD_LOOPBACK = 772
TP_STATUS_KERNEL = 0
TP_STATUS_USER = 1
TP_STATUS_VLAN_VALID = 0x10
TP_STATUS_VLAN_TPID_VALID = 0x40
ETH_P_8021Q = 0x8100

# struct tpacket_req3 (linux/if_packet.h): block_size, block_nr, frame_size, frame_nr,
# retire_blk_tov (ms), sizeof_priv, feature_req_word.
REQ3 = struct.Struct("=7I")
# struct tpacket_block_desc: version, offset_to_priv, then tpacket_hdr_v1 whose first fields
# are block_status, num_pkts, offset_to_first_pkt.
BLOCK = struct.Struct("=5I")
# struct tpacket3_hdr (48 bytes with its padding) followed by struct sockaddr_ll.
FRAME = struct.Struct("=6I2H" "IIHH" "8x" "HHiHB")
TPACKET_STATS_V3 = struct.Struct("=3I")  # tp_packets, tp_drops, tp_freeze_q_cnt
TPACKET_STATS = struct.Struct("=2I")  # the same without a ring: tp_packets, tp_drops

Handler = Callable[[bytes, int, int, int], None]  # frame, seconds, nanoseconds, wire length


class RingCapture:
    """An AF_PACKET socket with a TPACKET_V3 receive ring and an optional kernel filter."""

    def __init__(self, iface: str | None = None, program: Program | None = None,
                 block_size: int = 1 << 20, block_nr: int = 64, retire_ms: int = 50) -> None:
        self.block_size, self.block_nr = block_size, block_nr
        proto = 0 if iface else socket.htons(ETH_P_ALL)
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, proto)
        try:
            if program is not None:
                attach(self.sock, program)
            self.sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V3)
            frame_size = 2048
            self.sock.setsockopt(SOL_PACKET, PACKET_RX_RING, REQ3.pack(
                block_size, block_nr, frame_size, block_size * block_nr // frame_size,
                retire_ms, 0, 0))
            self.ring = mmap.mmap(self.sock.fileno(), block_size * block_nr,
                                  mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
            if iface:
                self.sock.bind((iface, ETH_P_ALL))
        except OSError as exc:
            self.sock.close()
            if exc.errno == errno.ENODEV:
                raise LabError(f"no interface named {iface!r} in this host") from None
            raise
        self._drain_queue()
        self.poller = select.poll()
        self.poller.register(self.sock.fileno(), select.POLLIN | select.POLLERR)
        self.block = 0
        self.seen = 0
        self.kernel_packets = 0
        self.kernel_drops = 0

    def _drain_queue(self) -> None:
        """Discard what reached the socket queue before the filter and ring were in place."""
        while True:
            try:
                self.sock.recv(65536, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return

    def pump(self, handler: Handler, budget_s: float, limit: int = 0) -> bool:
        """Hand frames to ``handler`` for about ``budget_s`` seconds.

        Returns False once ``limit`` frames (0: no limit) have been handled.  The hot loop
        keeps everything in locals: this is the code whose speed the benchmark measures.
        """
        ring, block_size = self.ring, self.block_size
        frame_hdr, block_hdr = FRAME.unpack_from, BLOCK.unpack_from
        deadline = time.monotonic() + budget_s
        seen = self.seen
        try:
            while True:
                offset = self.block * block_size
                _v, _p, status, count, first = block_hdr(ring, offset)
                if not status & TP_STATUS_USER:
                    wait = deadline - time.monotonic()
                    if wait <= 0:
                        return True
                    self.poller.poll(max(1, int(wait * 1000)))
                    continue
                pos = offset + first
                for _ in range(count):
                    (next_off, sec, nsec, snaplen, length, tp_status, mac, _net, _hash, tci,
                     tpid, _pad, _family, _proto, _ifindex, hatype, pkttype) = frame_hdr(ring, pos)
                    if not (pkttype == PACKET_OUTGOING and hatype == ARPHRD_LOOPBACK):
                        frame = ring[pos + mac:pos + mac + snaplen]
                        if tp_status & TP_STATUS_VLAN_VALID:
                            # The kernel took the 802.1Q tag out of the frame; put it back.
                            tag = tpid if tp_status & TP_STATUS_VLAN_TPID_VALID else ETH_P_8021Q
                            frame = frame[:12] + struct.pack("!HH", tag, tci) + frame[12:]
                        handler(frame, sec, nsec, length)
                        seen += 1
                        if limit and seen >= limit:
                            self._release(offset)
                            return False
                    pos += next_off
                self._release(offset)
        finally:
            self.seen = seen

    def _release(self, offset: int) -> None:
        struct.pack_into("=I", self.ring, offset + 8, TP_STATUS_KERNEL)
        self.block = (self.block + 1) % self.block_nr

    def statistics(self) -> tuple[int, int]:
        """(packets, drops) the kernel counted since the last call (PACKET_STATISTICS).

        The kernel's packet count includes the drops; both are reset by reading them.
        """
        raw = self.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, TPACKET_STATS_V3.size)
        packets, drops, _freeze = TPACKET_STATS_V3.unpack(raw)
        self.kernel_packets += packets
        self.kernel_drops += drops
        return self.kernel_packets, self.kernel_drops

    def close(self) -> None:
        self.statistics()
        self.ring.close()
        self.sock.close()

    def __enter__(self) -> RingCapture:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def run_fast(options: SniffOptions, tally: Tally,
             on_ready: Callable[[], None] | None = None, slice_s: float = 0.25) -> Tally:
    """Count frames from the ring until the timeout, the count, or Ctrl-C.

    ``on_ready`` is called once the ring and its filter are in place.  The loop returns to
    Python every ``slice_s`` seconds to check the clock even when no frame arrives.
    """
    require_raw_socket("sniff")
    program = compile_filter(options.bpf) if options.bpf else None
    counts = tally.counts
    writer = PcapWriter(options.write, nanosecond=True) if options.write else None

    if writer is None:
        def handler(frame: bytes, sec: int, nsec: int, length: int) -> None:
            counts[classify(frame)] += 1
    else:
        write = writer.write

        def handler(frame: bytes, sec: int, nsec: int, length: int) -> None:
            counts[classify(frame)] += 1
            write(frame, (sec, nsec), length)

    capture = RingCapture(options.interface, program)
    if on_ready is not None:
        on_ready()
    try:
        deadline = time.monotonic() + options.timeout
        while (remaining := deadline - time.monotonic()) > 0:
            more = capture.pump(handler, min(slice_s, remaining), options.count)
            if not more:
                break
    finally:
        capture.close()
        tally.kernel_packets, tally.kernel_drops = capture.kernel_packets, capture.kernel_drops
        if writer is not None:
            writer.close()
    return tally
