"""IPFIX (RFC 7011): templates that describe the records, then records that follow them.

A message (section 3.1) is a 16-byte header -- version 10, total length, export time
(seconds), sequence number, observation domain id -- followed by sets.  A set (3.3.2) is a
4-byte set header (set id, length) and records:

- set id 2 is a *template set*: each template record (3.4.1) gives a template id (256 or
  more), a field count and, per field, an information element id and a length.
- a set id of 256 or more is a *data set*: records laid out by the template of that id.

The information elements are IANA's registry (RFC 7012 section 4 and the registry itself);
we use sourceIPv4Address 8 / sourceIPv6Address 27, destinationIPv4Address 12 /
destinationIPv6Address 28, sourceTransportPort 7, destinationTransportPort 11,
protocolIdentifier 4, tcpControlBits 6 (16 bits since RFC 7125), octetDeltaCount 1,
packetDeltaCount 2 (64 bits each), flowStartMilliseconds 152 and flowEndMilliseconds 153
(absolute epoch milliseconds, unlike NetFlow v5's uptimes).  ICMP flows carry type * 256 +
code in destinationTransportPort, as NetFlow does, which nfdump decodes as ICMP.

A data record is only bytes until the collector knows its template, and a collector that
has none must drop it (section 8).  Over SCTP or TCP a template is sent once, reliably, on a
session the collector sees open.  Over UDP nothing tells the exporter that a datagram
carrying the templates was lost, or that the collector restarted (a reboot, a new nfcapd)
and forgot them; so the exporter must send them again *periodically* (sections 8.4 and
10.3.6), at an interval of time, the template refresh timeout (``templateRefreshTimeout``
in RFC 6728's configuration model, 600 seconds by default), and may also send them every
so many messages (``templateRefreshPacket``), as softflowd and nprobe do.  A count alone is
not enough: on a quiet link twenty messages may take hours, and a collector restarted in
between drops every record until they have gone by.

Here a message carries the template set when either rule is due: it is the first message,
``template_every`` messages have gone since the last one that carried it, or at least
``template_seconds`` have passed since then.  The clock is the export time, not the
machine's: a replayed capture then refreshes its templates at the same points as the live
export it records.  The choice is made once, when a message is started, from the end of its
first record, because the size of the message (at most :data:`MAX_MESSAGE` bytes) depends
on it.  The collector keeps templates for about three refresh timeouts
(``templateLifeTime``, RFC 6728) and replaces one it sees again.

The sequence number is the count of *data records* sent before this message in this
observation domain (section 3.1), not a message counter, so the collector can count lost
records.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from wirelab.errors import DecodeError, EncodeError, TruncatedError
from wirelab.monitor.export.records import UniFlow

VERSION = 10
TEMPLATE_SET = 2
HEADER = struct.Struct("!HHIII")
SET_HEADER = struct.Struct("!HH")
MAX_MESSAGE = 1400
"""Bytes per message: below a 1,500-byte MTU with IP and UDP headers, so no fragments."""

TEMPLATE_V4, TEMPLATE_V6 = 256, 257
# (information element id, length); the address pair first, then the common fields
_COMMON = ((7, 2), (11, 2), (4, 1), (6, 2), (1, 8), (2, 8), (152, 8), (153, 8))
TEMPLATES: dict[int, tuple[tuple[int, int], ...]] = {
    TEMPLATE_V4: ((8, 4), (12, 4), *_COMMON),
    TEMPLATE_V6: ((27, 16), (28, 16), *_COMMON),
}
_DATA = {TEMPLATE_V4: struct.Struct("!4s4sHHBHQQQQ"), TEMPLATE_V6: struct.Struct("!16s16sHHBHQQQQ")}
assert all(_DATA[t].size == sum(n for _, n in TEMPLATES[t]) for t in TEMPLATES)


def template_set() -> bytes:
    """The template set that describes both data record layouts."""
    body = b""
    for tid, fields in TEMPLATES.items():
        body += struct.pack("!HH", tid, len(fields))
        body += b"".join(struct.pack("!HH", ie, size) for ie, size in fields)
    return SET_HEADER.pack(TEMPLATE_SET, SET_HEADER.size + len(body)) + body


_TEMPLATE_SET = template_set()


class Exporter:
    """Packs :class:`UniFlow` records into IPFIX messages (sans-IO: returns bytes).

    Records are grouped in one data set per template and message, as many as fit in
    :data:`MAX_MESSAGE` bytes.  The export time of a message is the latest end among its
    records, so a replayed capture looks as if exported when its flows ended.  The template
    set goes with the first message, then whenever ``template_every`` messages or
    ``template_seconds`` of export time have passed since the last message that carried it.
    """

    def __init__(self, domain: int = 0, template_every: int = 20,
                 template_seconds: float = 600.0) -> None:
        self.domain = domain
        self.template_every = template_every
        self.template_seconds = template_seconds
        self.sequence = 0
        self.messages = 0
        self.clock = 0
        """The latest export time (epoch seconds) this exporter has reached; never goes back."""
        self._templates_at: tuple[int, int] | None = None  # (message number, clock) last sent

    def messages_for(self, flows: Iterable[UniFlow]) -> Iterator[bytes]:
        """Messages carrying ``flows``, in order, with templates where due."""
        yield from self.pack(list(flows), final=True)[0]

    def pack(self, flows: list[UniFlow], final: bool) -> tuple[list[bytes], list[UniFlow]]:
        """Full messages for ``flows`` and the flows left over for a later message.

        A message is closed when the next record would not fit in :data:`MAX_MESSAGE`; with
        ``final`` the last, partly filled message is made too and nothing is left over.
        Whether a message carries the templates is decided at its first record and that
        decision both sizes and builds it, so the size counted here is the size sent.
        """
        out: list[bytes] = []
        start = 0
        used: set[int] = set()
        templates = self.templates_due(flows[0]) if flows else False
        size = _empty_size(templates)
        for i, flow in enumerate(flows):
            tid = _tid(flow)
            grow = _DATA[tid].size + (0 if tid in used else SET_HEADER.size)
            if i > start and size + grow > MAX_MESSAGE:
                out.append(self.message(flows[start:i], templates))
                start = i
                templates = self.templates_due(flow)
                size, used = _empty_size(templates), set()
                grow = _DATA[tid].size + SET_HEADER.size
            size += grow
            used.add(tid)
        if final and start < len(flows):
            out.append(self.message(flows[start:], templates))
            start = len(flows)
        return out, flows[start:]

    def templates_due(self, first: UniFlow | None = None) -> bool:
        """Whether the next message, starting with record ``first``, carries the templates.

        Due for the first message, after ``template_every`` messages without them, or once
        the clock -- the end of ``first`` if later than any export time so far -- is
        ``template_seconds`` past the clock of the last message that carried them (its export
        time, unless it held only records older than an earlier message's).
        """
        if self._templates_at is None:
            return True
        number, at = self._templates_at
        now = max(self.clock, first.last_ms // 1000) if first is not None else self.clock
        return (self.messages - number >= self.template_every
                or now - at >= self.template_seconds)

    def message(self, flows: list[UniFlow], templates: bool | None = None) -> bytes:
        """One message: the template set if ``templates`` (by default: if due), then a data
        set per template used."""
        if templates is None:
            templates = self.templates_due(flows[0] if flows else None)
        sets = [_TEMPLATE_SET] if templates else []
        for tid in (TEMPLATE_V4, TEMPLATE_V6):
            records = [_pack(tid, f) for f in flows if _tid(f) == tid]
            if records:
                body = b"".join(records)
                sets.append(SET_HEADER.pack(tid, SET_HEADER.size + len(body)) + body)
        body = b"".join(sets)
        export_time = max(f.last_ms for f in flows) // 1000 if flows else 0
        msg = HEADER.pack(VERSION, HEADER.size + len(body), export_time,
                          self.sequence & 0xFFFFFFFF, self.domain) + body
        self.sequence += len(flows)
        self.clock = max(self.clock, export_time)
        if templates:
            self._templates_at = (self.messages, self.clock)
        self.messages += 1
        return msg


def _empty_size(templates: bool) -> int:
    """Bytes of a message before any data set: the header, and the templates if it has them."""
    return HEADER.size + (len(_TEMPLATE_SET) if templates else 0)


def _tid(flow: UniFlow) -> int:
    return TEMPLATE_V6 if ":" in flow.src else TEMPLATE_V4


def _pack(tid: int, f: UniFlow) -> bytes:
    af = socket.AF_INET6 if tid == TEMPLATE_V6 else socket.AF_INET
    try:
        return _DATA[tid].pack(socket.inet_pton(af, f.src), socket.inet_pton(af, f.dst),
                               f.sport, f.dport, f.proto, f.tcp_flags, f.octets, f.packets,
                               f.first_ms, f.last_ms)
    except (OSError, struct.error) as exc:
        raise EncodeError(f"cannot encode flow {f.src} -> {f.dst}: {exc}") from None


# --- a small collector-side decoder (tests, lessons) ---------------------------------------


@dataclass
class Message:
    export_time: int
    sequence: int
    domain: int
    flows: list[UniFlow] = field(default_factory=list)
    templates: list[int] = field(default_factory=list)


_ADDRESSES = frozenset({8, 12, 27, 28})


class Decoder:
    """Decodes messages, remembering templates per observation domain (as a collector must).

    Only the element ids this module exports are understood; other elements are stepped over
    by their length, and a record without the counters and times is skipped.  Variable-length
    fields (length 65535, RFC 7011 section 7) and enterprise elements are refused.
    """

    def __init__(self) -> None:
        self.templates: dict[tuple[int, int], tuple[tuple[int, int], ...]] = {}

    def decode(self, data: bytes) -> Message:
        if len(data) < HEADER.size:
            raise TruncatedError("IPFIX", "header", 0, f"{len(data)} bytes")
        version, length, export_time, seq, domain = HEADER.unpack_from(data)
        if version != VERSION:
            raise DecodeError("IPFIX", "version", 0, f"{version}, not 10")
        if length > len(data) or length < HEADER.size:
            raise TruncatedError("IPFIX", "length", 2, f"{length} > {len(data)} bytes")
        msg = Message(export_time, seq, domain)
        pos = HEADER.size
        while pos + SET_HEADER.size <= length:
            set_id, set_len = SET_HEADER.unpack_from(data, pos)
            if set_len < SET_HEADER.size or pos + set_len > length:
                raise DecodeError("IPFIX", "set length", pos + 2, str(set_len))
            body = data[pos + SET_HEADER.size:pos + set_len]
            if set_id == TEMPLATE_SET:
                msg.templates += self._templates(domain, body, pos + SET_HEADER.size)
            elif set_id >= 256:
                msg.flows += self._records(domain, set_id, body)
            pos += set_len
        return msg

    def _templates(self, domain: int, body: bytes, offset: int) -> list[int]:
        ids, pos = [], 0
        while pos + 4 <= len(body):
            tid, count = struct.unpack_from("!HH", body, pos)
            if tid < 256:
                raise DecodeError("IPFIX", "template id", offset + pos, f"{tid} < 256")
            pos += 4
            fields = []
            for _ in range(count):
                if pos + 4 > len(body):
                    raise TruncatedError("IPFIX", "template field", offset + pos)
                ie, size = struct.unpack_from("!HH", body, pos)
                if ie & 0x8000:
                    raise DecodeError("IPFIX", "enterprise element", offset + pos, str(ie))
                if ie in _ADDRESSES and size not in (4, 16) or size == 0xFFFF:
                    raise DecodeError("IPFIX", "field length", offset + pos + 2,
                                      f"{size} for element {ie}")
                fields.append((ie, size))
                pos += 4
            self.templates[(domain, tid)] = tuple(fields)
            ids.append(tid)
        return ids

    def _records(self, domain: int, tid: int, body: bytes) -> list[UniFlow]:
        fields = self.templates.get((domain, tid))
        if fields is None:
            return []  # data before its template: a collector must drop it (RFC 7011 8)
        size = sum(n for _, n in fields)
        if size == 0:
            return []
        flows = []
        for start in range(0, len(body) - size + 1, size):
            values: dict[int, int | str] = {}
            pos = start
            for ie, n in fields:
                raw = body[pos:pos + n]
                pos += n
                if ie in _ADDRESSES:
                    values[ie] = socket.inet_ntop(socket.AF_INET6 if n == 16 else
                                                  socket.AF_INET, raw)
                else:
                    values[ie] = int.from_bytes(raw, "big")
            if not {1, 2, 4, 152, 153} <= values.keys():
                continue
            flows.append(UniFlow(
                str(values.get(8, values.get(27))), str(values.get(12, values.get(28))),
                int(values.get(7, 0)), int(values.get(11, 0)), int(values[4]), int(values[2]),
                int(values[1]), int(values[152]), int(values[153]), int(values.get(6, 0))))
        return flows
