"""The conversations of a capture, like ``tshark -z conv,tcp`` and ``-z conv,udp``.

One :class:`Conversation` per TCP or UDP stream number (see :mod:`wirelab.observe.streams`).
As in tshark, endpoint A is the source of the conversation's first packet, "A->B" counts the
frames and frame bytes (``frame.len``) A sent, and the start is relative to the capture's
first frame.  We add what a learner asks next: who opened the connection, how many data bytes
each way, how it ended, and how many segments the analysis marked.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from wirelab.observe.analysis import Mark, analyse_stream
from wirelab.observe.packets import ACK, FIN, NS, RST, SYN, Observed, endpoint, origin_ns
from wirelab.observe.streams import Streams, number_streams


@dataclass
class Conversation:
    """One TCP or UDP stream of a capture."""

    proto: str  # "tcp" or "udp"
    stream: int
    a: str
    b: str
    frames_ab: int = 0
    bytes_ab: int = 0
    frames_ba: int = 0
    bytes_ba: int = 0
    data_ab: int = 0
    """Transport payload bytes A sent (TCP data counted once per segment, retransmissions too)."""
    data_ba: int = 0
    start: float = 0.0
    """Seconds from the capture's first frame to the conversation's first packet."""
    duration: float = 0.0
    first_frame: int = 0
    last_frame: int = 0
    client: str | None = None
    """The endpoint that sent the SYN (TCP only; None if the capture missed it)."""
    state: str = ""
    """How a TCP connection went: e.g. ``"SYN SYN/ACK FIN(A) FIN(B)"``, ``"RST(B)"``."""
    marks: dict[str, int] = field(default_factory=dict)
    """TCP analysis marks seen in the stream, counted by name (e.g. ``{"retransmission": 2}``)."""

    @property
    def frames(self) -> int:
        return self.frames_ab + self.frames_ba

    @property
    def bytes(self) -> int:
        return self.bytes_ab + self.bytes_ba

    def to_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["frames"] = self.frames
        out["bytes"] = self.bytes
        return out


def conversations(packets: Sequence[Observed], streams: Streams | None = None,
                  proto: str | None = None) -> list[Conversation]:
    """The TCP conversations by stream number, then the UDP ones (``proto`` to keep one kind)."""
    if streams is None:
        streams = number_streams(packets)
    zero = origin_ns(packets)
    out: list[Conversation] = []
    if proto in (None, "tcp"):
        out += _collect(packets, "tcp", streams.tcp, zero)
        for conv, mine in zip(out, _by_stream(packets, streams.tcp), strict=True):
            _tcp_details(conv, mine, streams)
    if proto in (None, "udp"):
        out += _collect(packets, "udp", streams.udp, zero)
    return out


def _by_stream(packets: Sequence[Observed], table: dict[int, int]) -> list[list[Observed]]:
    groups: dict[int, list[Observed]] = {}
    for p in packets:
        stream = table.get(p.number)
        if stream is not None:
            groups.setdefault(stream, []).append(p)
    return [groups[s] for s in sorted(groups)]


def _collect(packets: Sequence[Observed], proto: str, table: dict[int, int],
             zero: int) -> list[Conversation]:
    out: list[Conversation] = []
    for mine in _by_stream(packets, table):
        first, last = mine[0], mine[-1]
        conv = Conversation(proto, table[first.number], first.src_endpoint, first.dst_endpoint,
                            start=(first.ts_ns - zero) / NS,
                            duration=(last.ts_ns - first.ts_ns) / NS,
                            first_frame=first.number, last_frame=last.number)
        a = (first.src, first.sport)
        for p in mine:
            data = p.tcp.seglen if p.tcp is not None else (p.udp_len or 0)
            if (p.src, p.sport) == a:
                conv.frames_ab += 1
                conv.bytes_ab += p.length
                conv.data_ab += data
            else:
                conv.frames_ba += 1
                conv.bytes_ba += p.length
                conv.data_ba += data
        out.append(conv)
    return out


def _tcp_details(conv: Conversation, mine: list[Observed], streams: Streams) -> None:
    """Client, how the connection opened and closed, and the analysis marks counted."""
    events: list[str] = []
    for p in mine:
        assert p.tcp is not None
        flags = p.tcp.flags
        side = "A" if p.src_endpoint == conv.a else "B"
        if flags & SYN:
            name = "SYN/ACK" if flags & ACK else "SYN"
            if name == "SYN" and conv.client is None:
                conv.client = endpoint(p.src, p.sport)
            if name not in events:
                events.append(name)
        for bit, name in ((FIN, f"FIN({side})"), (RST, f"RST({side})")):
            if flags & bit and name not in events:
                events.append(name)
    conv.state = " ".join(events)
    counts: dict[int, int] = {}
    for result in analyse_stream(mine, streams.reused_ports).values():
        if result.marks:
            counts[int(result.marks)] = counts.get(int(result.marks), 0) + 1
    for bits, n in counts.items():  # few distinct combinations: name them once each
        for mark in Mark(bits):
            key = (mark.name or str(int(mark))).lower()
            conv.marks[key] = conv.marks.get(key, 0) + n


def render_table(convs: Sequence[Conversation]) -> str:
    """A fixed-width table, one row per conversation."""
    head = (f"{'proto':<5} {'stream':>6}  {'A':<28} {'B':<28} {'A->B':>14} {'B->A':>14} "
            f"{'start':>10} {'duration':>9}  state / marks")
    lines = [head, "-" * len(head)]
    for c in convs:
        notes = c.state
        if c.marks:
            notes += ("  " if notes else "") + ", ".join(
                f"{name.replace('_', ' ')} x{n}" for name, n in sorted(c.marks.items()))
        lines.append(
            f"{c.proto:<5} {c.stream:>6}  {c.a:<28} {c.b:<28} "
            f"{f'{c.frames_ab} fr {c.bytes_ab} B':>14} {f'{c.frames_ba} fr {c.bytes_ba} B':>14} "
            f"{c.start:>10.6f} {c.duration:>9.6f}  {notes}".rstrip())
    if not convs:
        lines.append("(no TCP or UDP conversation)")
    return "\n".join(lines)


def to_json(convs: Sequence[Conversation]) -> str:
    return json.dumps([c.to_dict() for c in convs], indent=2)
