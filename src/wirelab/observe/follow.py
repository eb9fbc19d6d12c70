"""Follow a TCP stream: the bytes each side sent, in order, as the receiver's TCP saw them.

Reassembly follows RFC 9293 section 3.10.7.4 (segment arrival): data is placed by sequence
number, so segments that arrive out of order are held until the hole before them fills, and
bytes that arrive twice (a retransmission, or two segments that overlap) are delivered once --
the first copy wins, as in a receiver that has already acknowledged them.  Sequence numbers
are unwrapped modulo 2**32 against the next expected byte, so a stream that crosses the
wraparound (or starts near it) reassembles correctly.

Offset 0 of a direction is the byte after its SYN (the SYN takes one sequence number); when
the capture missed the SYN, it is the first data byte seen.  Bytes that never appear in the
capture are reported as :class:`Gap` s and skipped; segments with RST carry no data for us.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from wirelab.errors import ExitCode, WirelabError
from wirelab.observe.packets import ACK, RST, SYN, Observed, endpoint
from wirelab.observe.streams import number_streams

MOD = 1 << 32
HALF = 1 << 31


class Side(StrEnum):
    CLIENT = "client"
    SERVER = "server"


@dataclass(frozen=True, slots=True)
class Chunk:
    """Bytes of one direction that became deliverable when frame ``frame`` arrived."""

    side: Side
    offset: int
    data: bytes
    frame: int


@dataclass(frozen=True, slots=True)
class Gap:
    """``length`` bytes of one direction, from ``offset``, that the capture does not hold."""

    side: Side
    offset: int
    length: int


class NoSuchStreamError(WirelabError):
    """The capture has no TCP stream with that number."""

    exit_code = ExitCode.BAD_INPUT


class Reassembler:
    """One direction's receive side: feed segments in capture order, get bytes in order.

    Sans-IO in the h11 sense: :meth:`syn` and :meth:`segment` return the (offset, bytes)
    pieces that became deliverable; :meth:`finish` gives what is left after holes.
    """

    def __init__(self, base: int | None = None) -> None:
        self.base = base  # sequence number of offset 0: set by syn() or the first segment
        self.next_offset = 0  # offset of the next byte to deliver
        self._pending: list[tuple[int, int, bytes]] = []  # (offset, arrival order, data)
        self._order = itertools.count()
        self.gaps: list[tuple[int, int]] = []
        self.end = 0  # offset just past the furthest byte the segments say was sent

    def syn(self, seq: int) -> None:
        """A SYN: the data starts at ``seq + 1`` (RFC 9293 3.4)."""
        if self.base is None:
            self.base = (seq + 1) % MOD

    def segment(self, seq: int, data: bytes, length: int | None = None
                ) -> list[tuple[int, bytes]]:
        """Place a segment's data; returns the pieces now deliverable, in order.

        ``length`` is the segment's data length on the wire when the capture kept less of it
        (a frame cut by the snaplen): the bytes not kept are reported as a gap.
        """
        if not data:
            return []
        if self.base is None:
            self.base = seq % MOD
        rel = (seq - self.base) % MOD
        # The representative of rel (mod 2**32) nearest the next expected offset.
        offset = self.next_offset + ((rel - self.next_offset + HALF) % MOD) - HALF
        self.end = max(self.end, offset + max(len(data), length or 0))
        if offset + len(data) <= self.next_offset:
            return []  # all of it delivered already: a retransmission
        heapq.heappush(self._pending, (offset, next(self._order), data))
        return self._deliver()

    def _deliver(self) -> list[tuple[int, bytes]]:
        out: list[tuple[int, bytes]] = []
        pending = self._pending
        while pending and pending[0][0] <= self.next_offset:
            offset, _, data = heapq.heappop(pending)
            end = offset + len(data)
            if end <= self.next_offset:
                continue  # an overlap already delivered: the first copy won
            piece = data[self.next_offset - offset:]
            out.append((self.next_offset, piece))
            self.next_offset = end
        return out

    def finish(self) -> list[tuple[int, bytes]]:
        """Deliver what waits behind holes the capture never filled, noting each hole."""
        out: list[tuple[int, bytes]] = []
        while self._pending:
            start = self._pending[0][0]
            if start > self.next_offset:
                self.gaps.append((self.next_offset, start - self.next_offset))
                self.next_offset = start
            out.extend(self._deliver())
        if self.end > self.next_offset:  # sent, as the headers say, but not captured
            self.gaps.append((self.next_offset, self.end - self.next_offset))
            self.next_offset = self.end
        return out


@dataclass
class FollowedStream:
    """A reassembled TCP conversation.

    Iterating gives ``(client_bytes, server_bytes, segments)``, so it unpacks like a tuple.
    ``client_bytes``/``server_bytes`` hold every byte the capture has, in sequence order;
    bytes it lacks are left out and listed in ``gaps``.
    """

    stream: int
    client: str
    server: str
    client_bytes: bytes = b""
    server_bytes: bytes = b""
    segments: list[Chunk] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    frames: int = 0

    def __iter__(self) -> Iterator[object]:
        return iter((self.client_bytes, self.server_bytes, self.segments))

    def data(self, side: Side | None = None) -> bytes:
        """One side's bytes, or both interleaved in delivery order (``side`` None)."""
        if side is Side.CLIENT:
            return self.client_bytes
        if side is Side.SERVER:
            return self.server_bytes
        return b"".join(chunk.data for chunk in self.segments)

    def to_dict(self) -> dict[str, object]:
        return {
            "stream": self.stream, "client": self.client, "server": self.server,
            "frames": self.frames,
            "client_bytes": len(self.client_bytes), "server_bytes": len(self.server_bytes),
            "segments": [{"side": c.side.value, "offset": c.offset, "length": len(c.data),
                          "frame": c.frame} for c in self.segments],
            "gaps": [{"side": g.side.value, "offset": g.offset, "length": g.length}
                     for g in self.gaps],
        }


def client_endpoint(packets: Sequence[Observed]) -> tuple[str, int]:
    """The side that opened the connection: the SYN's sender, the SYN/ACK's receiver, or
    failing both the sender of the first packet (as Wireshark's Follow does)."""
    for p in packets:
        if p.tcp is not None and p.tcp.flags & SYN:
            if p.tcp.flags & ACK:
                return (p.dst, p.dport or 0)
            return (p.src, p.sport or 0)
    first = packets[0]
    return (first.src, first.sport or 0)


def follow(packets: Sequence[Observed], stream: int) -> FollowedStream:
    """Reassemble TCP stream ``stream`` (tshark's ``tcp.stream`` number) of ``packets``."""
    streams = number_streams(packets)
    mine = streams.tcp_packets(packets, stream)
    if not mine:
        raise NoSuchStreamError(no_stream_message("TCP", stream, streams.tcp_count))
    return reassemble(mine, stream)


def no_stream_message(proto: str, stream: int, count: int) -> str:
    if count == 0:
        return f"no {proto} stream {stream}: the capture has no {proto} conversation"
    return f"no {proto} stream {stream}: the capture has {count} (0..{count - 1})"


def reassemble(packets: Sequence[Observed], stream: int = 0) -> FollowedStream:
    """Reassemble the packets of one TCP connection (all of them must belong to it)."""
    client = client_endpoint(packets)
    server = next(((p.dst, p.dport or 0) for p in packets
                   if (p.src, p.sport or 0) == client), None)
    if server is None:
        first = packets[0]
        server = (first.src, first.sport or 0)
    result = FollowedStream(stream, endpoint(*client), endpoint(*server), frames=len(packets))
    sides = {side: Reassembler(_first_byte(packets, client, side)) for side in Side}
    for p in packets:
        t = p.tcp
        if t is None:
            continue
        side = _side(p, client)
        r = sides[side]
        if t.flags & SYN:
            r.syn(t.seq)
        if t.flags & RST:
            continue
        payload_seq = (t.seq + 1) % MOD if t.flags & SYN else t.seq  # TFO data
        for offset, data in r.segment(payload_seq, t.payload, t.seglen):
            result.segments.append(Chunk(side, offset, data, p.number))
    last = packets[-1].number
    for side, r in sides.items():
        for offset, data in r.finish():
            result.segments.append(Chunk(side, offset, data, last))
        result.gaps.extend(Gap(side, off, length) for off, length in r.gaps)
    result.client_bytes = _join(result.segments, Side.CLIENT)
    result.server_bytes = _join(result.segments, Side.SERVER)
    return result


def _side(p: Observed, client: tuple[str, int]) -> Side:
    return Side.CLIENT if (p.src, p.sport or 0) == client else Side.SERVER


def _first_byte(packets: Sequence[Observed], client: tuple[str, int], side: Side) -> int | None:
    """Sequence number of one side's first byte: after its SYN, else the lowest one seen.

    Looking at the whole capture first means that a capture which starts mid-stream with
    segments out of order still starts at the earliest byte it holds, not at the first
    segment that happened to arrive.
    """
    lowest: int | None = None
    for p in packets:
        t = p.tcp
        if t is None or _side(p, client) is not side:
            continue
        if t.flags & SYN:
            return (t.seq + 1) % MOD
        if t.payload and not t.flags & RST:
            if lowest is None or (t.seq - lowest) % MOD >= HALF:
                lowest = t.seq
    return lowest


def _join(chunks: list[Chunk], side: Side) -> bytes:
    return b"".join(c.data for c in sorted((c for c in chunks if c.side is side),
                                           key=lambda c: c.offset))
