"""Bidirectional flow records in the shape of Zeek's conn.log (ts, uid, id.*, conn_state...).

A flow is a TCP or UDP 5-tuple.  The originator is the source of its first packet, except
when that packet is a SYN-ACK: then the SYN-ACK's sender is the responder, as Zeek decides.
``conn_state`` follows Zeek's definitions (base/protocols/conn/main.zeek); ``history`` has
one letter per event, upper case from the originator, lower case from the responder: S SYN,
H SYN-ACK, A pure ACK, D data, F FIN, R RST -- each letter once per direction (Zeek repeats
some at 10, 100, ... occurrences; we do not).  Bytes are payload bytes as the segments carry
them (Zeek derives TCP bytes from sequence numbers, so it counts retransmitted data once).

Flows end on softflowd's idle timeouts or when the table is full (see :class:`FlowTable`).
Limits of this version, said plainly: no active timeout (a flow that never goes quiet lasts
until the capture ends), no ICMP flows, no IP byte counts, no service guess, and UDP
datagrams reassembled from fragments add packets but no payload bytes.
"""

from __future__ import annotations

import base64
import hashlib
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from wirelab.monitor.keys import IPV4, TCP, UDP, Keys

_FLAGS = struct.Struct("!13xB").unpack_from  # the TCP flags byte (RFC 9293 section 3.1)
_OFF = struct.Struct("!12xB").unpack_from
_FIN, _SYN, _RST, _ACK = 0x01, 0x02, 0x04, 0x10
NS = 1_000_000_000

FIELDS = ("ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto",
          "duration", "orig_bytes", "resp_bytes", "conn_state", "history", "orig_pkts",
          "resp_pkts")


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
    history: str = ""
    seen: set[str] = field(default_factory=set)

    def event(self, letter: str, from_orig: bool) -> None:
        mark = letter if from_orig else letter.lower()
        if mark not in self.seen:
            self.seen.add(mark)
            self.history += mark


TCP_TIMEOUT_NS = 3600 * NS
"""Idle timeouts, softflowd's defaults: an open TCP connection, one after a RST, one after
a FIN, and UDP."""
RST_TIMEOUT_NS = 120 * NS
FIN_TIMEOUT_NS = 300 * NS
UDP_TIMEOUT_NS = 300 * NS
MAX_FLOWS = 65536
SWEEP_NS = 10 * NS  # how often (capture time) idle flows are looked for


def idle_timeout(flow: Flow) -> int:
    """How long ``flow`` may stay silent before it is over, in nanoseconds."""
    if flow.proto == UDP:
        return UDP_TIMEOUT_NS
    if "R" in flow.seen or "r" in flow.seen:
        return RST_TIMEOUT_NS
    if "F" in flow.seen or "f" in flow.seen:
        return FIN_TIMEOUT_NS
    return TCP_TIMEOUT_NS


class FlowTable:
    """Accumulates flows packet by packet (the ``add`` of the statistics accumulators).

    A flow ends when it has been idle longer than :func:`idle_timeout` (a later packet of
    the same 5-tuple starts a new flow, as in softflowd and Zeek), or when ``max_flows`` are
    live and it is the least recently active.  Ended flows go to ``emit`` at once, so the
    table holds at most ``max_flows`` flows whatever the capture's length.
    """

    def __init__(self, emit: Callable[[dict[str, object]], None] | None = None,
                 max_flows: int = MAX_FLOWS) -> None:
        self.flows: dict[tuple[object, ...], Flow] = {}
        self._frame: bytes | memoryview = b""
        self.emitted: list[dict[str, object]] = []
        self._emit = emit if emit is not None else self.emitted.append
        self.max_flows = max_flows
        self.peak = 0
        self._next_sweep = 0

    def set_frame(self, frame: bytes | memoryview) -> None:
        """The frame the next :meth:`add` is about (flags and payload are read from it)."""
        self._frame = frame

    def add(self, keys: Keys, ts_ns: int, length: int) -> None:
        if keys.proto not in (TCP, UDP):
            return
        src, dst = (keys.src, keys.sport), (keys.dst, keys.dport)
        pair = (keys.proto, *sorted((src, dst)))
        flags, data = self._segment(keys)
        if ts_ns >= self._next_sweep:
            self._sweep(ts_ns)
        flow = self.flows.pop(pair, None)  # re-inserted below: the dict stays in LRU order
        if flow is not None and ts_ns - flow.last_ns > idle_timeout(flow):
            self._emit(_record(flow))
            flow = None
        if flow is None:
            if len(self.flows) >= self.max_flows:
                self._emit(_record(self.flows.pop(next(iter(self.flows)))))
            synack = keys.proto == TCP and flags & (_SYN | _ACK) == _SYN | _ACK
            orig, resp = (dst, src) if synack else (src, dst)
            flow = Flow(orig, resp, keys.family, keys.proto, ts_ns)
        self.flows[pair] = flow
        self.peak = max(self.peak, len(self.flows))
        flow.last_ns = ts_ns
        from_orig = src == flow.orig
        if from_orig:
            flow.orig_pkts += 1
            flow.orig_bytes += data
        else:
            flow.resp_pkts += 1
            flow.resp_bytes += data
        if keys.proto == TCP:
            _tcp_history(flow, flags, data, from_orig)
        elif data:
            flow.event("D", from_orig)

    def _segment(self, keys: Keys) -> tuple[int, int]:
        """(TCP flags, payload length) of the current frame; (0, 0) if not in it."""
        f, pos, end = self._frame, keys.l4, keys.l4_end
        if pos < 0:
            return 0, 0
        if keys.proto == UDP:
            return 0, max(end - pos - 8, 0)
        header = (_OFF(f, pos)[0] >> 4) * 4
        return _FLAGS(f, pos)[0], max(end - pos - header, 0)

    def _sweep(self, now: int) -> None:
        """End every flow idle past its timeout (least recently active first)."""
        for pair in list(self.flows):
            flow = self.flows[pair]
            if now - flow.last_ns <= idle_timeout(flow):
                if now - flow.last_ns <= RST_TIMEOUT_NS:
                    break  # LRU order: every later flow is more recent than the shortest timeout
                continue
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
    """A stable id: 'C' and 17 base32 characters of a hash of the 5-tuple and start time."""
    digest = hashlib.sha256(repr((flow.orig, flow.resp, flow.proto, flow.first_ns)).encode())
    return "C" + base64.b32encode(digest.digest()).decode()[:17].lower()


def _record(flow: Flow) -> dict[str, object]:
    af = socket.AF_INET if flow.family == IPV4 else socket.AF_INET6
    return {
        "ts": flow.first_ns / 1e9, "uid": _uid(flow),
        "id.orig_h": socket.inet_ntop(af, flow.orig[0]), "id.orig_p": flow.orig[1],
        "id.resp_h": socket.inet_ntop(af, flow.resp[0]), "id.resp_p": flow.resp[1],
        "proto": "tcp" if flow.proto == TCP else "udp",
        "duration": (flow.last_ns - flow.first_ns) / 1e9,
        "orig_bytes": flow.orig_bytes, "resp_bytes": flow.resp_bytes,
        "conn_state": conn_state(flow), "history": flow.history,
        "orig_pkts": flow.orig_pkts, "resp_pkts": flow.resp_pkts,
    }


_TYPES = ("time", "string", "addr", "port", "addr", "port", "enum", "interval", "count",
          "count", "string", "string", "count", "count")


def tsv_header() -> str:
    """Zeek's ASCII log header: separator, empty and unset markers, #fields and #types."""
    return "\n".join(["#separator \\x09", "#set_separator\t,", "#empty_field\t(empty)",
                      "#unset_field\t-", "#path\tconn", "#fields\t" + "\t".join(FIELDS),
                      "#types\t" + "\t".join(_TYPES)])


def tsv_row(r: dict[str, object]) -> str:
    row = []
    for name in FIELDS:
        value = r[name]
        if name in ("ts", "duration"):
            row.append(f"{float(value):.6f}")  # type: ignore[arg-type]
        else:
            row.append(str(value) if value != "" else "(empty)")
    return "\t".join(row)
