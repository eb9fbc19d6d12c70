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
from collections.abc import Callable
from dataclasses import dataclass, field

from wirelab.monitor import services
from wirelab.monitor.keys import IPV4, TCP, UDP, Keys

_FLAGS = struct.Struct("!13xB").unpack_from  # the TCP flags byte (RFC 9293 section 3.1)
_OFF = struct.Struct("!12xB").unpack_from
_SEQ = struct.Struct("!4xI").unpack_from
_U16 = struct.Struct("!H").unpack_from
_FIN, _SYN, _RST, _ACK = 0x01, 0x02, 0x04, 0x10
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


@dataclass
class Flow:
    orig: tuple[bytes, int]
    resp: tuple[bytes, int]
    family: int
    proto: int
    first_ns: int
    last_ns: int = 0
    orig_pkts: int = 0
    resp_pkts: int = 0
    orig_bytes: int = 0
    resp_bytes: int = 0
    orig_ip_bytes: int = 0
    resp_ip_bytes: int = 0
    history: str = ""
    seen: set[str] = field(default_factory=set)
    service: str | None = None
    sniffed: int = 0  # payload-carrying packets looked at for the service
    orig_top: int | None = None  # TCP: the highest data sequence number reached, each way
    resp_top: int | None = None

    def event(self, letter: str, from_orig: bool) -> None:
        mark = letter if from_orig else letter.lower()
        if mark not in self.seen:
            self.seen.add(mark)
            self.history += mark


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


def idle_timeout(flow: Flow) -> int:
    """How long ``flow`` may stay silent before it is over, in nanoseconds."""
    if flow.proto == UDP:
        return UDP_TIMEOUT_NS
    if flow.proto != TCP:
        return ICMP_TIMEOUT_NS
    if "R" in flow.seen or "r" in flow.seen:
        return RST_TIMEOUT_NS
    if "F" in flow.seen or "f" in flow.seen:
        return FIN_TIMEOUT_NS
    return TCP_TIMEOUT_NS


class FlowTable:
    """Accumulates flows packet by packet (the ``add`` of the statistics accumulators).

    A flow ends when it has been idle longer than :func:`idle_timeout` (a later packet of
    the same 5-tuple starts a new flow, as in softflowd and Zeek), when a packet comes more
    than ``active_timeout_ns`` after its first (the packet starts the next record of the same
    flow, originator and responder kept), or when ``max_flows`` are live and it is the least
    recently active.  Ended flows go to ``emit`` at once, so the table holds at most
    ``max_flows`` flows whatever the capture's length.
    """

    def __init__(self, emit: Callable[[dict[str, object]], None] | None = None,
                 max_flows: int = MAX_FLOWS, active_timeout_ns: int = ACTIVE_TIMEOUT_NS) -> None:
        # An OrderedDict, not a dict: taking the oldest entry of a dict whose front entries
        # were deleted scans the deleted slots (quadratic over a long capture).
        self.flows: OrderedDict[tuple[object, ...], Flow] = OrderedDict()
        self._frame: bytes | memoryview = b""
        self.emitted: list[dict[str, object]] = []
        self._emit = emit if emit is not None else self.emitted.append
        self.max_flows = max_flows
        self.active_timeout_ns = active_timeout_ns
        self.peak = 0
        self._next_sweep = 0

    def set_frame(self, frame: bytes | memoryview) -> None:
        """The frame the next :meth:`add` is about (flags and payload are read from it)."""
        self._frame = frame

    def add(self, keys: Keys, ts_ns: int, length: int) -> None:
        if keys.proto in (TCP, UDP):
            src, dst = (keys.src, keys.sport), (keys.dst, keys.dport)
            flags, data, start = self._segment(keys)
            answer = keys.proto == TCP and flags & (_SYN | _ACK) == _SYN | _ACK
            proto = keys.proto
        elif keys.proto == 0 and keys.payload in (ICMP, ICMPV6):
            icmp = self._icmp(keys)
            if icmp is None:
                return
            src, dst, answer, data, start = icmp
            flags, proto = 0, ICMP
        else:
            return
        if ts_ns >= self._next_sweep:
            self._sweep(ts_ns)
        pair = (proto, *sorted((src, dst)))
        flow = self._live(pair, ts_ns)
        if flow is None:
            if len(self.flows) >= self.max_flows:
                self._emit(_record(self.flows.popitem(last=False)[1]))
            orig, resp = (dst, src) if answer else (src, dst)
            flow = Flow(orig, resp, keys.family, proto, ts_ns)
        self.flows[pair] = flow
        self.peak = max(self.peak, len(self.flows))
        flow.last_ns = ts_ns
        from_orig = src == flow.orig
        ip_bytes = self._ip_length(keys)
        if proto == TCP and keys.l4 >= 0:
            counted = _sequence_bytes(flow, from_orig, _SEQ(self._frame, keys.l4)[0], flags,
                                      data)
        else:
            counted = data
        if from_orig:
            flow.orig_pkts += 1
            flow.orig_bytes += counted
            flow.orig_ip_bytes += ip_bytes
        else:
            flow.resp_pkts += 1
            flow.resp_bytes += counted
            flow.resp_ip_bytes += ip_bytes
        if proto == TCP:
            _tcp_history(flow, flags, data, from_orig)
        elif data and proto == UDP:
            flow.event("D", from_orig)
        if data and flow.service is None and flow.sniffed < services.SNIFF_SEGMENTS \
                and start >= 0 and proto != ICMP:
            flow.sniffed += 1
            payload = self._frame[start:start + min(data, 512)]
            flow.service = services.guess(payload, from_orig, proto, (src[1], dst[1]))

    def _live(self, pair: tuple[object, ...], ts_ns: int) -> Flow | None:
        """The live flow of ``pair`` (removed; the caller re-inserts it, keeping LRU order),
        or None when there is none or it just ended on a timeout."""
        flow = self.flows.pop(pair, None)
        if flow is None:
            return None
        if ts_ns - flow.last_ns > idle_timeout(flow):
            self._emit(_record(flow))
            return None
        if ts_ns - flow.first_ns >= self.active_timeout_ns:
            self._emit(_record(flow))
            following = Flow(flow.orig, flow.resp, flow.family, flow.proto, ts_ns)
            following.service, following.sniffed = flow.service, flow.sniffed
            return following
        return flow

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
        """End every flow idle past its timeout (least recently active first)."""
        expired = []
        for pair, flow in self.flows.items():
            if now - flow.last_ns <= idle_timeout(flow):
                if now - flow.last_ns <= RST_TIMEOUT_NS:
                    break  # LRU order: every later flow is more recent than the shortest timeout
                continue
            expired.append(pair)
        for pair in expired:
            self._emit(_record(self.flows.pop(pair)))
        self._next_sweep = now + SWEEP_NS

    def flush(self) -> None:
        """End the flows still live (end of capture), in order of first packet."""
        for flow in sorted(self.flows.values(), key=lambda x: x.first_ns):
            self._emit(_record(flow))
        self.flows.clear()

    def records(self) -> list[dict[str, object]]:
        """Flush, then every record emitted so far (when no ``emit`` was given)."""
        self.flush()
        return self.emitted


def _sequence_bytes(flow: Flow, from_orig: bool, seq: int, flags: int, data: int) -> int:
    """The payload bytes a TCP segment adds, from sequence numbers as Zeek counts them: data
    that moves the highest sequence number reached, so a retransmission adds nothing and a
    gap (data never captured) counts as sent.  The SYN's number starts the count; without
    one the first data segment does.  Segments without data (RSTs carry odd numbers) and
    the FIN's sequence number move nothing."""
    start = (seq + 1) & 0xFFFFFFFF if flags & _SYN else seq
    end = (start + data) & 0xFFFFFFFF
    top = flow.orig_top if from_orig else flow.resp_top
    added = 0
    if top is None:
        if not (flags & _SYN or data):
            return 0
        added, top = data, end
    elif data and 0 < (end - top) & 0xFFFFFFFF < 1 << 31:
        added, top = (end - top) & 0xFFFFFFFF, end
    if from_orig:
        flow.orig_top = top
    else:
        flow.resp_top = top
    return added


def _tcp_history(flow: Flow, flags: int, data: int, from_orig: bool) -> None:
    if flags & _SYN:
        flow.event("H" if flags & _ACK else "S", from_orig)
    if flags & _FIN:
        flow.event("F", from_orig)
    if flags & _RST:
        flow.event("R", from_orig)
    if data:
        flow.event("D", from_orig)
    elif flags & _ACK and not flags & (_SYN | _FIN | _RST):
        flow.event("A", from_orig)


def conn_state(flow: Flow) -> str:
    """Zeek's conn_state from the events the history recorded."""
    h = flow.seen
    if flow.proto == UDP:
        return "SF" if flow.resp_pkts and flow.orig_pkts else "S0"
    if flow.proto != TCP:
        return "OTH"
    syn, synack = "S" in h, "h" in h
    if syn and not synack:
        if "R" in h:
            return "RSTOS0"
        if "r" in h:
            return "REJ"
        return "SH" if "F" in h else "S0"
    if synack and not syn:
        if "r" in h:
            return "RSTRH"
        return "SHR" if "f" in h else "OTH"
    if not syn:
        return "OTH"
    if "R" in h or "r" in h:
        first_rst = next(c for c in flow.history if c in "Rr")
        return "RSTO" if first_rst == "R" else "RSTR"
    if "F" in h and "f" in h:
        return "SF"
    if "F" in h:
        return "S2"
    return "S3" if "f" in h else "S1"


def _uid(flow: Flow) -> str:
    """A stable id: 'C' and 17 hex digits of a hash of the 5-tuple and start time (Zeek's are
    'C' and base62; the length is the same, the alphabet differs)."""
    digest = hashlib.blake2b(repr((flow.orig, flow.resp, flow.proto, flow.first_ns)).encode(),
                             digest_size=9)
    return "C" + digest.hexdigest()[:17]


_PROTO_NAMES = {TCP: "tcp", UDP: "udp", ICMP: "icmp"}


def _record(flow: Flow) -> dict[str, object]:
    af = socket.AF_INET if flow.family == IPV4 else socket.AF_INET6
    return {
        "ts": flow.first_ns / 1e9, "uid": _uid(flow),
        "id.orig_h": socket.inet_ntop(af, flow.orig[0]), "id.orig_p": flow.orig[1],
        "id.resp_h": socket.inet_ntop(af, flow.resp[0]), "id.resp_p": flow.resp[1],
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
