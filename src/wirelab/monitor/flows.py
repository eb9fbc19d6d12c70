"""Bidirectional flow records in the shape of Zeek's conn.log (ts, uid, id.*, conn_state...).

A flow is a TCP or UDP 5-tuple, or an ICMP "connection" as Zeek defines one: ``id.orig_p`` is
the ICMP type and ``id.resp_p`` the type that answers it (echo request 8 <-> echo reply 0,
timestamp 13 <-> 14, ...; ICMPv6 128 <-> 129, neighbour solicitation 135 <-> 136), or, for a
message nothing answers (unreachable, time exceeded), its code.  A ping and its replies are
thus one flow between the two hosts, whatever their echo identifiers, as in Zeek.

The originator is the source of a flow's first packet, except when that packet is an answer
(a SYN-ACK, an echo reply): then its sender is the responder, as Zeek decides.
``conn_state`` follows Zeek's definitions (base/protocols/conn/main.zeek); ``history`` has
one letter per event, upper case from the originator, lower case from the responder: S SYN,
H SYN-ACK, A pure ACK, D data, F FIN, R RST -- each letter once per direction (Zeek repeats
some at 10, 100, ... occurrences; we do not).  ICMP flows are ``OTH`` with no history.

Record fields (:data:`FIELDS`, Zeek's order; the flow exporters read these names, keep them):

- ``ts`` (float, epoch seconds of the first packet), ``uid`` (str), ``id.orig_h``,
  ``id.orig_p``, ``id.resp_h``, ``id.resp_p``, ``proto`` ("tcp", "udp" or "icmp"; ICMPv6 is
  "icmp" too, as in Zeek), ``service`` (str or None, see :mod:`wirelab.monitor.services`),
  ``duration`` (float seconds), ``orig_bytes``/``resp_bytes`` (payload bytes: TCP/UDP data,
  or what follows the 8-byte ICMP header), ``conn_state``, ``local_orig``/``local_resp``
  (None: we know no local networks), ``missed_bytes`` (None: gaps are not tracked),
  ``history`` (str, None for ICMP), ``orig_pkts``, ``orig_ip_bytes`` (sum of the IP total
  lengths, 40 + payload length for IPv6), ``resp_pkts``, ``resp_ip_bytes``,
  ``tunnel_parents`` (None).
- TCP payload bytes come from sequence numbers, as Zeek's do (:func:`_sequence_bytes`):
  retransmitted data counts once, data missing from the capture counts as sent.  UDP and
  ICMP payload bytes are what the datagrams carry; a UDP datagram reassembled from
  fragments counts once, on the frame that completes it, with its whole payload.

Flows end on softflowd's timeouts (see :class:`FlowTable`) or when the table is full.  Not
done: the fragments before the one that completes a datagram are not counted (that frame
counts once, with its own IP length; a TCP segment reassembled so adds no payload bytes), and
fragmented ICMP messages are skipped.
"""

from __future__ import annotations

import hashlib
import socket
import struct
from collections import OrderedDict
from collections.abc import Callable, Iterable

from wirelab.monitor import services
from wirelab.monitor.keys import IPV4, IPV6, TCP, UDP, KeyReader, Keys

_FLAGS = struct.Struct("!13xB").unpack_from  # the TCP flags byte (RFC 9293 section 3.1)
_OFF = struct.Struct("!12xB").unpack_from
_U16 = struct.Struct("!H").unpack_from
_SEQ = struct.Struct("!4xI").unpack_from
_IP4 = struct.Struct("!BxH2xH1xB2x4s4s").unpack_from  # vihl, total length, flags/offset,
#                                                       protocol, source, destination
_IP6 = struct.Struct("!B3xHB1x16s16s").unpack_from  # vtc, payload length, next header, src, dst
_TCPH = struct.Struct("!HHI4xBB").unpack_from  # ports, sequence number, data offset, flags
_PORTS = struct.Struct("!HH").unpack_from
_FIN, _SYN, _RST, _ACK = 0x01, 0x02, 0x04, 0x10
_SEQ_MASK = 0xFFFFFFFF
ICMP, ICMPV6 = 1, 58
NS = 1_000_000_000

FIELDS = ("ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto",
          "service", "duration", "orig_bytes", "resp_bytes", "conn_state", "local_orig",
          "local_resp", "missed_bytes", "history", "orig_pkts", "orig_ip_bytes", "resp_pkts",
          "resp_ip_bytes", "tunnel_parents")
_TYPES = ("time", "string", "addr", "port", "addr", "port", "enum", "string", "interval",
          "count", "count", "string", "bool", "bool", "count", "string", "count", "count",
          "count", "count", "set[string]")

# ICMP types that are answered, and the answer (Zeek's ICMP4_counterpart/ICMP6_counterpart):
_ANSWER = {ICMP: {8: 0, 13: 14, 15: 16, 17: 18, 10: 9},
           ICMPV6: {128: 129, 133: 134, 135: 136, 130: 131, 139: 140}}
_ANSWERED = {p: {v: k for k, v in pairs.items()} for p, pairs in _ANSWER.items()}
_IP_STARTS = (14, 0, 16, 18, 22)
"""Where the IP header may start: Ethernet, raw IP, Linux cooked, one or two 802.1Q tags."""
_VLAN_TPIDS = frozenset({0x8100, 0x88A8, 0x9100})
_IP6_LATER = frozenset({0, 43, 44, 60})
"""IPv6 extension headers (hop-by-hop, routing, fragment, destination options): a frame with
one goes the general way (:class:`~wirelab.monitor.keys.KeyReader`, which reassembles)."""

# History letters as bits of an int: the originator's in bits 0-5, the responder's in 6-11.
_LETTERS = "SHADFR"
_BIT = {c: 1 << i for i, c in enumerate(_LETTERS)} | \
    {c.lower(): 1 << (i + 6) for i, c in enumerate(_LETTERS)}
_O_SYN, _O_FIN, _O_RST = _BIT["S"], _BIT["F"], _BIT["R"]
_R_SYNACK, _R_FIN, _R_RST = _BIT["h"], _BIT["f"], _BIT["r"]
_ANY_RST, _ANY_FIN = _O_RST | _R_RST, _O_FIN | _R_FIN


def _segment_letters(flags: int, data: int) -> str:
    """The history letters of one TCP segment, in Zeek's order within a segment."""
    out = ""
    if flags & _SYN:
        out += "H" if flags & _ACK else "S"
    if flags & _FIN:
        out += "F"
    if flags & _RST:
        out += "R"
    if data:
        out += "D"
    elif flags & _ACK and not flags & (_SYN | _FIN | _RST):
        out += "A"
    return out


def _events(letters: str, from_orig: bool) -> tuple[int, tuple[tuple[int, str], ...]]:
    marks = letters if from_orig else letters.lower()
    pairs = tuple((_BIT[m], m) for m in marks)
    bits = 0
    for bit, _ in pairs:
        bits |= bit
    return bits, pairs


_TCP_EVENTS = tuple(_events(_segment_letters(i & 0x17, i & 0x20), bool(i & 0x40))
                    for i in range(128))
"""Indexed by the flags that make letters (FIN SYN RST ACK: ``flags & 0x17``), 0x20 when the
segment carries data, 0x40 from the originator: (the bits, the (bit, letter) pairs in order).
One tuple lookup per segment instead of a chain of tests."""
_UDP_DATA = (_events("D", False), _events("D", True))

TCP_TIMEOUT_NS = 3600 * NS
"""Idle timeouts, softflowd's defaults (softflowd.h DEFAULT_TCP_TIMEOUT, _TCP_RST_, _TCP_FIN_,
_UDP_, _ICMP_): an open TCP connection, one after a RST, one after a FIN, UDP and ICMP."""
RST_TIMEOUT_NS = 120 * NS
FIN_TIMEOUT_NS = 300 * NS
UDP_TIMEOUT_NS = 300 * NS
ICMP_TIMEOUT_NS = 300 * NS
ACTIVE_TIMEOUT_NS = 3600 * 24 * 7 * NS
"""The active timeout: softflowd's ``maxlife`` (softflowd.h DEFAULT_MAXIMUM_LIFETIME,
3600*24*7 s, one week; softflowd(8): "All flows are forcibly expired when they pass maxlife
seconds").  A flow older than this is cut into records; NetFlow exporters on routers use far
shorter ones (Cisco's default is 30 minutes), hence ``wirelab flows --active-timeout``."""
MAX_FLOWS = 65536
SWEEP_NS = 10 * NS  # how often (capture time) idle flows are looked for


class Flow:
    """One live flow.  Plain slots, no dataclass: a capture creates one per flow and touches
    one per packet, so attribute access is the cost that matters."""

    __slots__ = ("orig_h", "orig_p", "resp_h", "resp_p", "family", "proto", "first_ns",
                 "last_ns", "orig_pkts", "resp_pkts", "orig_bytes", "resp_bytes",
                 "orig_ip_bytes", "resp_ip_bytes", "history", "seen", "service", "sniffed",
                 "orig_top", "resp_top", "timeout", "queue", "touch")

    def __init__(self, orig_h: bytes, orig_p: int, resp_h: bytes, resp_p: int, family: int,
                 proto: int, first_ns: int) -> None:
        self.orig_h, self.orig_p, self.resp_h, self.resp_p = orig_h, orig_p, resp_h, resp_p
        self.family, self.proto, self.first_ns, self.last_ns = family, proto, first_ns, 0
        self.orig_pkts = self.resp_pkts = self.orig_bytes = self.resp_bytes = 0
        self.orig_ip_bytes = self.resp_ip_bytes = 0
        self.history = ""
        self.seen = 0  # the history's letters as bits (_BIT): each letter once per direction
        self.service: str | None = None
        self.sniffed = 0  # payload-carrying packets looked at for the service
        self.orig_top: int | None = None  # TCP: the highest data sequence number reached,
        self.resp_top: int | None = None  # each way
        self.timeout = idle_timeout(self)
        self.queue: OrderedDict[tuple[object, ...], Flow] | None = None
        self.touch = 0  # the table's packet counter at this flow's last packet (LRU order)


def idle_timeout(flow: Flow) -> int:
    """How long ``flow`` may stay silent before it is over, in nanoseconds."""
    if flow.proto == UDP:
        return UDP_TIMEOUT_NS
    if flow.proto != TCP:
        return ICMP_TIMEOUT_NS
    if flow.seen & _ANY_RST:
        return RST_TIMEOUT_NS
    if flow.seen & _ANY_FIN:
        return FIN_TIMEOUT_NS
    return TCP_TIMEOUT_NS


class FlowTable:
    """Accumulates flows packet by packet.

    A flow ends when it has been idle longer than :func:`idle_timeout` (a later packet of
    the same 5-tuple starts a new flow, as in softflowd and Zeek), when a packet comes more
    than ``active_timeout_ns`` after its first (the packet starts the next record of the same
    flow, originator and responder kept), or when ``max_flows`` are live and it is the least
    recently active.  Ended flows go to ``emit`` at once, so the table holds at most
    ``max_flows`` flows whatever the capture's length: as a record (a dict, :func:`record`),
    or, given ``emit_flow`` instead, as the :class:`Flow` itself, for a writer that formats
    it directly (:func:`json_line`: no dict per flow).

    Two ways in: :meth:`feed` takes packets as they come from a source and reads the few
    header fields it needs at fixed offsets (the fast path); :meth:`add` is the statistics
    accumulators' interface (:class:`~wirelab.monitor.keys.Keys` read by someone else, the
    frame given by :meth:`set_frame`).  Both count through :meth:`_count`.

    Expiry is cheap because flows wait in one queue per idle timeout (120, 300 and 3600 s),
    each in order of last activity, as softflowd keeps an expiry tree: a sweep looks only at
    the front of each queue, however many connections sit open for an hour.
    """

    def __init__(self, emit: Callable[[dict[str, object]], None] | None = None,
                 max_flows: int = MAX_FLOWS, active_timeout_ns: int = ACTIVE_TIMEOUT_NS, *,
                 emit_flow: Callable[[Flow], None] | None = None) -> None:
        self.flows: dict[tuple[object, ...], Flow] = {}
        self._queues: dict[int, OrderedDict[tuple[object, ...], Flow]] = {}
        self._frame: bytes | memoryview = b""
        self.emitted: list[dict[str, object]] = []
        if emit_flow is not None:  # the ended Flow itself (json_line writes it directly)
            self._emit_flow = emit_flow
        else:
            to = emit if emit is not None else self.emitted.append
            self._emit_flow = lambda flow: to(record(flow))
        self.max_flows = max_flows
        self.active_timeout_ns = active_timeout_ns
        self.peak = 0
        self._next_sweep = 0
        self._tick = 0
        self._reader: KeyReader | None = None

    def set_frame(self, frame: bytes | memoryview) -> None:
        """The frame the next :meth:`add` is about (flags and payload are read from it)."""
        self._frame = frame

    # --- the fast path ------------------------------------------------------------------

    def feed(self, packets: Iterable[tuple[int, int, bytes, int]]) -> None:
        """Count ``packets`` -- ``(ts_ns, linktype, data, orig_len)``, a source's batch.

        The common frames (Ethernet with up to two VLAN tags, Linux cooked, raw IP; an
        unfragmented IPv4 datagram or an IPv6 one without extension headers; TCP, UDP,
        ICMP) are read here with one ``struct`` call per header at offsets known from the
        link type; any other frame (fragments, IPv6 extension headers, more tags) goes
        through :class:`~wirelab.monitor.keys.KeyReader` and :meth:`add`, which reassemble
        and follow headers.  The records are the same either way (tests compare them).
        """
        count = self._count
        slow = self._slow
        ip4, ip6, tcph, ports = _IP4, _IP6, _TCPH, _PORTS
        vlans, later = _VLAN_TPIDS, _IP6_LATER
        answer_of, answered_of = _ANSWER, _ANSWERED
        for ts, linktype, f, _ in packets:
            try:
                if linktype == 1:
                    etype, off = f[12] << 8 | f[13], 14
                    if etype in vlans:
                        etype, off = f[16] << 8 | f[17], 18
                        if etype in vlans:
                            etype, off = f[20] << 8 | f[21], 22
                            if etype in vlans:
                                slow(ts, linktype, f)
                                continue
                elif linktype == 113:
                    etype, off = f[14] << 8 | f[15], 16
                elif linktype in (101, 228, 229):
                    version, off = f[0] >> 4, 0
                    etype = 0x0800 if version == 4 else 0x86DD if version == 6 else 0
                else:
                    continue
                if etype == 0x0800:
                    vihl, ipb, ff, proto, src, dst = ip4(f, off)
                    hl = (vihl & 15) << 2
                    if vihl >> 4 != 4 or hl < 20 or ipb < hl or off + ipb > len(f):
                        continue
                    if ff & 0x3FFF:  # a fragment (offset or more-fragments): reassemble
                        slow(ts, linktype, f)
                        continue
                    family, pos, end = IPV4, off + hl, off + ipb
                elif etype == 0x86DD:
                    vtc, plen, proto, src, dst = ip6(f, off)
                    if vtc >> 4 != 6:
                        continue
                    if proto in later:
                        slow(ts, linktype, f)
                        continue
                    family, pos, ipb = IPV6, off + 40, 40 + plen
                    end = min(pos + plen, len(f))
                else:
                    continue
                if proto == TCP:
                    if end - pos < 20:
                        continue
                    sport, dport, seq, offset, flags = tcph(f, pos)
                    start = pos + (offset >> 4) * 4
                    data = end - start if end > start else 0
                    answer = flags & 0x12 == 0x12  # a SYN-ACK
                elif proto == UDP:
                    if end - pos < 8:
                        continue
                    sport, dport = ports(f, pos)
                    start, seq, flags, answer = pos + 8, -1, 0, False
                    data = end - start if end > start else 0
                elif proto == ICMP or proto == ICMPV6:
                    if end > len(f):
                        end = len(f)
                    if end - pos < 4:
                        continue
                    kind, code = f[pos], f[pos + 1]
                    sport, answer, seq, flags = kind, False, -1, 0
                    dport = answer_of[proto].get(kind, -1)
                    if dport < 0:
                        dport = answered_of[proto].get(kind, -1)
                        if dport < 0:
                            dport = code
                        else:
                            answer = True
                    start = pos + 8
                    data = end - start if end > start else 0
                    proto = ICMP
                else:
                    continue
            except (IndexError, struct.error):
                continue  # a truncated frame: no flow (as KeyReader says None)
            count(proto, family, src, sport, dst, dport, answer, flags, data, start, seq, ipb,
                  ts, f)

    def _slow(self, ts: int, linktype: int, frame: bytes) -> None:
        if self._reader is None:
            self._reader = KeyReader()
        keys = self._reader.read(frame, linktype)
        if keys is not None:
            self._frame = frame
            self.add(keys, ts, 0)

    # --- the accumulator interface ------------------------------------------------------

    def add(self, keys: Keys, ts_ns: int, length: int) -> None:
        """Count one frame whose keys were read elsewhere (its bytes: :meth:`set_frame`)."""
        seq = -1
        if keys.proto in (TCP, UDP):
            proto, src, sport, dst, dport = keys.proto, keys.src, keys.sport, keys.dst, keys.dport
            flags, data, start = self._segment(keys)
            answer = proto == TCP and flags & (_SYN | _ACK) == _SYN | _ACK
            if proto == TCP and keys.l4 >= 0:
                seq = _SEQ(self._frame, keys.l4)[0]
        elif keys.proto == 0 and keys.payload in (ICMP, ICMPV6):
            icmp = self._icmp(keys)
            if icmp is None:
                return
            (src, sport), (dst, dport), answer, data, start = icmp
            flags, proto = 0, ICMP
        else:
            return
        self._count(proto, keys.family, src, sport, dst, dport, answer, flags, data, start,
                    seq, self._ip_length(keys), ts_ns, self._frame)

    def _count(self, proto: int, family: int, src: bytes, sport: int, dst: bytes, dport: int,
               answer: bool, flags: int, data: int, start: int, seq: int, ip_bytes: int,
               ts: int, frame: bytes | memoryview) -> None:
        """One packet of a flow: ``seq`` is the TCP sequence number (-1: none read), ``data``
        the payload length at ``start`` in ``frame`` (-1: not in this frame)."""
        if ts >= self._next_sweep:
            self._sweep(ts)
        pair = (proto, src, sport, dst, dport) if src < dst or src == dst and sport <= dport \
            else (proto, dst, dport, src, sport)
        flows = self.flows
        flow = flows.get(pair)
        if flow is not None:
            if ts - flow.last_ns > flow.timeout:
                self._end(pair, flow)
                flow = None
            elif ts - flow.first_ns >= self.active_timeout_ns:
                self._end(pair, flow)
                following = Flow(flow.orig_h, flow.orig_p, flow.resp_h, flow.resp_p,
                                 flow.family, flow.proto, ts)
                following.service, following.sniffed = flow.service, flow.sniffed
                flow = following
                flows[pair] = flow
        if flow is None:
            if len(flows) >= self.max_flows:
                self._evict()
            flow = Flow(dst, dport, src, sport, family, proto, ts) if answer else \
                Flow(src, sport, dst, dport, family, proto, ts)
            flows[pair] = flow
            if len(flows) > self.peak:
                self.peak = len(flows)
        flow.last_ns = ts
        from_orig = src == flow.orig_h and sport == flow.orig_p
        counted = data
        if seq >= 0:  # TCP: bytes from sequence numbers (_sequence_bytes, inlined)
            first = (seq + 1) & _SEQ_MASK if flags & _SYN else seq
            top_end = (first + data) & _SEQ_MASK
            top = flow.orig_top if from_orig else flow.resp_top
            if top is None:
                if not (flags & _SYN or data):
                    counted = 0
                    top_end = -1
            elif data and 0 < (top_end - top) & _SEQ_MASK < 1 << 31:
                counted = (top_end - top) & _SEQ_MASK
            else:
                counted = 0
                top_end = -1
            if top_end >= 0:
                if from_orig:
                    flow.orig_top = top_end
                else:
                    flow.resp_top = top_end
        if from_orig:
            flow.orig_pkts += 1
            flow.orig_bytes += counted
            flow.orig_ip_bytes += ip_bytes
        else:
            flow.resp_pkts += 1
            flow.resp_bytes += counted
            flow.resp_ip_bytes += ip_bytes
        if proto == TCP:
            bits, marks = _TCP_EVENTS[(flags & 0x17) | (0x20 if data else 0) |
                                      (0x40 if from_orig else 0)]
            new = bits & ~flow.seen
            if new:
                for bit, mark in marks:
                    if new & bit:
                        flow.history += mark
                flow.seen |= new
                flow.timeout = idle_timeout(flow)
        elif data and proto == UDP:
            bits, marks = _UDP_DATA[from_orig]
            if not flow.seen & bits:
                flow.seen |= bits
                flow.history += marks[0][1]
        if data and flow.service is None and flow.sniffed < services.SNIFF_SEGMENTS \
                and start >= 0 and proto != ICMP:
            flow.sniffed += 1
            payload = frame[start:start + min(data, 512)]
            flow.service = services.guess(payload, from_orig, proto, (sport, dport))
        # keep the flow at the back of its timeout's queue (the most recently active)
        self._tick += 1
        flow.touch = self._tick
        queue = self._queues.get(flow.timeout)
        if queue is None:
            queue = self._queues[flow.timeout] = OrderedDict()
        if flow.queue is queue:
            queue.move_to_end(pair)
        else:
            if flow.queue is not None:
                del flow.queue[pair]
            queue[pair] = flow
            flow.queue = queue

    def _end(self, pair: tuple[object, ...], flow: Flow) -> None:
        """Take ``flow`` out of the table and emit its record."""
        del self.flows[pair]
        if flow.queue is not None:
            del flow.queue[pair]
            flow.queue = None
        self._emit_flow(flow)

    def _evict(self) -> None:
        """End the least recently active flow (the table is full): the front of the queue
        whose front is the oldest."""
        oldest: Flow | None = None
        at: tuple[object, ...] = ()
        for queue in self._queues.values():
            if queue:
                pair, flow = next(iter(queue.items()))
                if oldest is None or flow.touch < oldest.touch:
                    oldest, at = flow, pair
        if oldest is not None:
            self._end(at, oldest)

    def _segment(self, keys: Keys) -> tuple[int, int, int]:
        """(TCP flags, payload length, payload offset) of the current frame; (0, 0, -1) if the
        transport header is not in it (a datagram reassembled from fragments)."""
        f, pos, end = self._frame, keys.l4, keys.l4_end
        if pos < 0:  # reassembled here: the UDP header came in the first fragment
            return 0, max(keys.reassembled - 8, 0) if keys.proto == UDP else 0, -1
        if keys.proto == UDP:
            return 0, max(end - pos - 8, 0), pos + 8
        header = (_OFF(f, pos)[0] >> 4) * 4
        return _FLAGS(f, pos)[0], max(end - pos - header, 0), pos + header

    def _ip_start(self, keys: Keys) -> int:
        """Offset of the IP header whose addresses are ``keys``' (the frame's outermost)."""
        f = self._frame
        for o in _IP_STARTS:
            if keys.family == IPV4:
                if len(f) >= o + 20 and f[o] >> 4 == 4 and f[o + 12:o + 16] == keys.src \
                        and f[o + 16:o + 20] == keys.dst:
                    return o
            elif len(f) >= o + 40 and f[o] >> 4 == 6 and f[o + 8:o + 24] == keys.src \
                    and f[o + 24:o + 40] == keys.dst:
                return o
        return -1

    def _ip_length(self, keys: Keys) -> int:
        """The IP datagram's length as its header gives it (what Zeek's *_ip_bytes add up)."""
        o = self._ip_start(keys)
        if o < 0:
            return 0
        if keys.family == IPV4:
            return int(_U16(self._frame, o + 2)[0])
        return 40 + int(_U16(self._frame, o + 4)[0])

    def _icmp(self, keys: Keys) -> tuple[tuple[bytes, int], tuple[bytes, int], bool, int, int] \
            | None:
        """(source end, destination end, is an answer, payload length, payload offset) of an
        ICMP message, its ends keyed by Zeek's type/counterpart rule; None if unreadable."""
        f, pos, end = self._frame, keys.other, keys.l4_end
        if pos < 0:
            return None  # a fragment: ICMP is followed only in unfragmented datagrams
        end = min(end, len(f))
        if end - pos < 4:
            return None
        kind, code, proto = f[pos], f[pos + 1], keys.payload
        if kind in _ANSWER[proto]:
            src, dst, answer = (keys.src, kind), (keys.dst, _ANSWER[proto][kind]), False
        elif kind in _ANSWERED[proto]:
            src, dst, answer = (keys.src, kind), (keys.dst, _ANSWERED[proto][kind]), True
        else:
            src, dst, answer = (keys.src, kind), (keys.dst, code), False
        return src, dst, answer, max(end - pos - 8, 0), pos + 8

    def expire(self, now_ns: int) -> None:
        """End the flows idle past their timeout at ``now_ns`` (a live capture calls this
        when the wire is quiet, so records do not wait for the next packet)."""
        self._sweep(now_ns)

    def _sweep(self, now: int) -> None:
        """End every flow idle past its timeout, least recently active first: in each queue
        the flows are in order of last activity, so only its expired front is looked at."""
        expired = []
        for timeout, queue in self._queues.items():
            while queue:
                pair, flow = next(iter(queue.items()))
                if now - flow.last_ns <= timeout:
                    break
                queue.popitem(last=False)
                flow.queue = None
                del self.flows[pair]
                expired.append(flow)
        if len(expired) > 1:
            expired.sort(key=_touched)
        for flow in expired:
            self._emit_flow(flow)
        self._next_sweep = now + SWEEP_NS

    def flush(self) -> None:
        """End the flows still live (end of capture), in order of first packet."""
        for flow in sorted(self.flows.values(), key=_started):
            self._emit_flow(flow)
        self.flows.clear()
        self._queues.clear()

    def records(self) -> list[dict[str, object]]:
        """Flush, then every record emitted so far (when no ``emit`` was given)."""
        self.flush()
        return self.emitted


def _touched(flow: Flow) -> int:
    return flow.touch


def _started(flow: Flow) -> tuple[int, int]:
    return flow.first_ns, flow.touch


def conn_state(flow: Flow) -> str:
    """Zeek's conn_state from the events the history recorded."""
    h = flow.seen
    if flow.proto == UDP:
        return "SF" if flow.resp_pkts and flow.orig_pkts else "S0"
    if flow.proto != TCP:
        return "OTH"
    syn, synack = h & _O_SYN, h & _R_SYNACK
    if syn and not synack:
        if h & _O_RST:
            return "RSTOS0"
        if h & _R_RST:
            return "REJ"
        return "SH" if h & _O_FIN else "S0"
    if synack and not syn:
        if h & _R_RST:
            return "RSTRH"
        return "SHR" if h & _R_FIN else "OTH"
    if not syn:
        return "OTH"
    if h & _ANY_RST:
        first_rst = next(c for c in flow.history if c in "Rr")
        return "RSTO" if first_rst == "R" else "RSTR"
    if h & _O_FIN and h & _R_FIN:
        return "SF"
    if h & _O_FIN:
        return "S2"
    return "S3" if h & _R_FIN else "S1"


def _uid(flow: Flow) -> str:
    """A stable id: 'C' and 17 hex digits of a hash of the 5-tuple and start time (Zeek's are
    'C' and base62; the length is the same, the alphabet differs)."""
    key = ((flow.orig_h, flow.orig_p), (flow.resp_h, flow.resp_p), flow.proto, flow.first_ns)
    return "C" + hashlib.blake2b(repr(key).encode(), digest_size=9).hexdigest()[:17]


_PROTO_NAMES = {TCP: "tcp", UDP: "udp", ICMP: "icmp"}
_ntop = socket.inet_ntop


def record(flow: Flow) -> dict[str, object]:
    """The conn.log record of an ended flow (:data:`FIELDS`, in their order)."""
    af = socket.AF_INET if flow.family == IPV4 else socket.AF_INET6
    return {
        "ts": flow.first_ns / 1e9, "uid": _uid(flow),
        "id.orig_h": _ntop(af, flow.orig_h), "id.orig_p": flow.orig_p,
        "id.resp_h": _ntop(af, flow.resp_h), "id.resp_p": flow.resp_p,
        "proto": _PROTO_NAMES[flow.proto], "service": flow.service,
        "duration": (flow.last_ns - flow.first_ns) / 1e9,
        "orig_bytes": flow.orig_bytes, "resp_bytes": flow.resp_bytes,
        "conn_state": conn_state(flow), "local_orig": None, "local_resp": None,
        "missed_bytes": None, "history": flow.history if flow.proto != ICMP else None,
        "orig_pkts": flow.orig_pkts, "orig_ip_bytes": flow.orig_ip_bytes,
        "resp_pkts": flow.resp_pkts, "resp_ip_bytes": flow.resp_ip_bytes,
        "tunnel_parents": None,
    }


def tsv_header() -> str:
    """Zeek's ASCII log header: separator, empty and unset markers, #fields and #types."""
    return "\n".join(["#separator \\x09", "#set_separator\t,", "#empty_field\t(empty)",
                      "#unset_field\t-", "#path\tconn", "#fields\t" + "\t".join(FIELDS),
                      "#types\t" + "\t".join(_TYPES)])


def tsv_row(r: dict[str, object]) -> str:
    """One record as a Zeek TSV line: ``-`` for unset, ``(empty)`` for an empty string."""
    row = []
    for name in FIELDS:
        value = r[name]
        if value is None:
            row.append("-")
        elif name in ("ts", "duration"):
            row.append(f"{float(value):.6f}")  # type: ignore[arg-type]
        elif isinstance(value, bool):
            row.append("T" if value else "F")
        else:
            row.append(str(value) if value != "" else "(empty)")
    return "\t".join(row)


def json_record(r: dict[str, object]) -> dict[str, object]:
    """The record as Zeek's JSON logs write it: unset (None) fields left out."""
    return {k: v for k, v in r.items() if v is not None}


def json_line(flow: Flow) -> str:
    """``json.dumps(json_record(record(flow)))`` written straight from the flow, without the
    dict: the same text (keys in :data:`FIELDS` order, ``", "`` and ``": "`` separators,
    floats as ``repr``), at a fraction of the cost.  Every string in a record is ASCII that
    JSON need not escape (addresses, hex uid, service and state names, history letters);
    tests check the equality on mixed captures."""
    af = socket.AF_INET if flow.family == IPV4 else socket.AF_INET6
    service = f'"service": "{flow.service}", ' if flow.service is not None else ""
    history = f'"history": "{flow.history}", ' if flow.proto != ICMP else ""
    return (f'{{"ts": {flow.first_ns / 1e9!r}, "uid": "{_uid(flow)}", '
            f'"id.orig_h": "{_ntop(af, flow.orig_h)}", "id.orig_p": {flow.orig_p}, '
            f'"id.resp_h": "{_ntop(af, flow.resp_h)}", "id.resp_p": {flow.resp_p}, '
            f'"proto": "{_PROTO_NAMES[flow.proto]}", {service}'
            f'"duration": {(flow.last_ns - flow.first_ns) / 1e9!r}, '
            f'"orig_bytes": {flow.orig_bytes}, "resp_bytes": {flow.resp_bytes}, '
            f'"conn_state": "{conn_state(flow)}", {history}'
            f'"orig_pkts": {flow.orig_pkts}, "orig_ip_bytes": {flow.orig_ip_bytes}, '
            f'"resp_pkts": {flow.resp_pkts}, "resp_ip_bytes": {flow.resp_ip_bytes}}}')
