"""The model behind ``wirelab top``: traffic over sliding windows, kept apart from any display.

Like iftop, rates are averages over several sliding windows (2, 10 and 40 seconds by default):
a burst shows at once in the 2 s column and fades out of the 40 s one.  Like ntopng, the
traffic is cut four ways -- hosts (top talkers), conversations (host pairs), server ports and
protocols -- plus the flows themselves, where TCP shows two health signs:

- the **initial RTT**: from the SYN to the ACK that completes the handshake (SYN -> SYN-ACK ->
  ACK), what tshark calls ``tcp.analysis.initial_rtt``.  Seen from the client it is one
  network round trip plus the server's answer time; from the server, the round trip to the
  client; from a tap in between, both halves of the path.  As tshark, it runs from the
  *latest* SYN (``ts_mru_syn``): when a SYN or SYN-ACK is lost and the SYN goes again a
  second later, the RTT is the last attempt's, not a second or more.
- **retransmissions** and **out-of-order** segments, as tshark tells them apart
  (packet-tcp.c, tcp_analyze_sequence_number): a segment carrying data (or a SYN or FIN)
  that starts before the highest sequence number already seen that way, unless it is a
  keep-alive (one byte or none, one below it), is *out of order* when it comes less than the
  initial RTT (tshark's ts_first_rtt: latest SYN to the first segment with ACK and without
  SYN, either way; 3 ms until there is one) after the segment that last advanced that
  highest number and does not end exactly there, and a *retransmission* otherwise
  (``tcp.analysis.retransmission``, which includes tshark's fast retransmissions).  Sequence
  numbers are compared modulo 2**32 (RFC 9293 section 3.4).

Bytes are frame lengths on the wire (what tshark's conversation and endpoint tables add up).
Time is the packets' own (capture) time, so a capture file replays exactly as it was live.

Accounting is in buckets of ``bucket_s`` seconds (0.5 by default); a window of W seconds adds
the buckets that overlap the last W seconds (so it may reach up to one bucket further back)
and divides by W, or by the time elapsed since the first packet when that is shorter, so the
first seconds are not understated.
Memory: the buckets of the longest window, each holding counters for the keys active in it,
cumulative totals for at most ``max_keys`` keys per table, and at most ``max_flows`` flows.
"""

from __future__ import annotations

import heapq
import socket
import struct
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from wirelab.monitor.keys import FRAGMENT, IPV4, TCP, UDP, KeyReader, Keys

NS = 1_000_000_000
DEFAULT_WINDOWS = (2.0, 10.0, 40.0)
"""iftop's three averaging periods."""
MAX_KEYS = 65536
MAX_FLOWS = 65536
OOO_NS = 3_000_000
"""tshark's out-of-order threshold before the initial RTT is known: 3 ms."""
FAST_RETRANSMISSION_NS = 20_000_000
"""tshark: a retransmission within 20 ms of two or more duplicate ACKs is a fast one."""
FLOW_IDLE_NS = 120 * NS
"""A flow silent this long is forgotten (its bytes stay in the host/port/protocol totals)."""
_SEQ_ACK = struct.Struct("!4xII").unpack_from
_WINDOW = struct.Struct("!14xH").unpack_from
_FLAGS = struct.Struct("!13xB").unpack_from
_OFF = struct.Struct("!12xB").unpack_from
_FIN, _SYN, _RST, _ACK = 0x01, 0x02, 0x04, 0x10
_PROTO_NAMES = {1: "icmp", 2: "igmp", 6: "tcp", 17: "udp", 47: "gre", 50: "esp", 58: "icmpv6",
                132: "sctp"}
TABLES = ("hosts", "conversations", "ports", "protocols", "flows")


@dataclass
class _Dir:
    """One direction of a TCP flow: the sequence space seen so far."""

    next_seq: int | None = None  # highest seq + len (+1 for SYN/FIN) seen
    next_ns: int = 0  # when next_seq last advanced
    last_ack: int | None = None
    last_ack_ns: int = 0
    window: int | None = None
    dupacks: int = 0
    retransmissions: int = 0
    out_of_order: int = 0


@dataclass
class FlowState:
    """One flow (TCP/UDP 5-tuple, or a host pair for other protocols) as top follows it."""

    proto: int
    orig: tuple[bytes, int]
    resp: tuple[bytes, int]
    family: int
    first_ns: int
    last_ns: int = 0
    packets: int = 0
    bytes: int = 0
    syn_ns: int | None = None  # the latest SYN (tshark's ts_mru_syn)
    synack_ns: int | None = None
    rtt_ns: int | None = None  # the handshake's, shown as rtt_ms
    first_rtt_ns: int = 0  # tshark's ts_first_rtt: the out-of-order threshold
    fwd: _Dir | None = None
    rev: _Dir | None = None


class _Bucket:
    __slots__ = ("start", "hosts_tx", "hosts_rx", "conv", "ports", "protos", "flows",
                 "packets", "bytes")

    def __init__(self, start: int) -> None:
        self.start = start
        self.hosts_tx: Counter[bytes] = Counter()
        self.hosts_rx: Counter[bytes] = Counter()
        self.conv: Counter[tuple[bytes, bytes]] = Counter()  # directional (src, dst)
        self.ports: Counter[tuple[int, int]] = Counter()
        self.protos: Counter[str] = Counter()
        self.flows: Counter[tuple[object, ...]] = Counter()
        self.packets = 0
        self.bytes = 0


@dataclass
class _Sums:
    """Bytes per key over one window (conversations keyed by the sorted host pair)."""

    hosts: Counter[bytes]
    conv: Counter[tuple[bytes, bytes]]
    ports: Counter[tuple[int, int]]
    protos: Counter[str]
    flows: Counter[tuple[object, ...]]
    bytes: int

    def table(self, name: str) -> Counter[Any]:
        counter: Counter[Any] = getattr(self, name)
        return counter


class TopModel:
    """Feed frames with :meth:`add_frame`; read the tables with :meth:`snapshot`."""

    def __init__(self, windows: Iterable[float] = DEFAULT_WINDOWS, bucket_s: float = 0.5,
                 max_keys: int = MAX_KEYS, max_flows: int = MAX_FLOWS) -> None:
        self.windows = tuple(sorted(set(windows)))
        if not self.windows or self.windows[0] <= 0:
            raise ValueError("windows must be positive numbers of seconds")
        self.bucket_ns = int(bucket_s * NS)
        self.max_keys = max_keys
        self.max_flows = max_flows
        self._span = int(self.windows[-1] * NS)
        self._buckets: OrderedDict[int, _Bucket] = OrderedDict()
        self.flows: OrderedDict[tuple[object, ...], FlowState] = OrderedDict()
        self._reader = KeyReader()
        self.first_ns: int | None = None
        self.last_ns = 0
        self.packets = 0
        self.bytes = 0
        self.untracked = 0  # frames whose key did not fit in a full cumulative table
        self.totals: dict[str, Counter[Any]] = {
            "hosts_tx": Counter(), "hosts_rx": Counter(), "conv": Counter(),
            "ports": Counter(), "protos": Counter(), "protos_pkts": Counter()}

    # --- input ---------------------------------------------------------------------------

    def start(self, now_ns: int) -> None:
        """Say when watching began (a live capture), so the first rates divide by the time
        watched, not by the time since the first packet."""
        self.first_ns = now_ns

    def add_frame(self, ts_ns: int, linktype: int, data: bytes | memoryview,
                  length: int) -> None:
        """Count one frame (``length`` on the wire) captured at ``ts_ns``."""
        link, keys = self._reader.read_frame(data, linktype)
        if self.first_ns is None:
            self.first_ns = ts_ns
        self.last_ns = max(self.last_ns, ts_ns)
        self.packets += 1
        self.bytes += length
        bucket = self._bucket(ts_ns)
        bucket.packets += 1
        bucket.bytes += length
        if keys is None:
            name = link[-1] if link else "other"
            self._count_proto(bucket, name if name in ("arp", "ipv6", "ip") else "other",
                              length)
            return
        self._count_proto(bucket, _proto_name(keys), length)
        self._count(bucket.hosts_tx, "hosts_tx", keys.src, length)
        self._count(bucket.hosts_rx, "hosts_rx", keys.dst, length)
        self._count(bucket.conv, "conv", (keys.src, keys.dst), length)
        if keys.payload == FRAGMENT:
            return  # no flow until the datagram is complete (its ports are in the first)
        flow = self._flow(keys, ts_ns, data)
        flow.packets += 1
        flow.bytes += length
        key = _flow_key(keys)
        bucket.flows[key] += length
        if flow.proto in (TCP, UDP):
            self._count(bucket.ports, "ports", (flow.proto, flow.resp[1]), length)

    def _count_proto(self, bucket: _Bucket, name: str, length: int) -> None:
        bucket.protos[name] += length
        self.totals["protos"][name] += length
        self.totals["protos_pkts"][name] += 1

    def _count(self, window: Counter[Any], total: str, key: object, length: int) -> None:
        window[key] += length
        table = self.totals[total]
        if key in table or len(table) < self.max_keys:
            table[key] += length
        else:
            self.untracked += 1

    def _bucket(self, ts_ns: int) -> _Bucket:
        start = ts_ns - ts_ns % self.bucket_ns
        bucket = self._buckets.get(start)
        if bucket is None:
            bucket = self._buckets[start] = _Bucket(start)
            if len(self._buckets) > 1 and start < next(reversed(self._buckets)):
                # a frame older than the newest bucket (clock step, merged captures)
                self._buckets = OrderedDict(sorted(self._buckets.items()))
            newest = next(reversed(self._buckets))
            while self._buckets and next(iter(self._buckets)) <= newest - self._span:
                self._buckets.popitem(last=False)
        return bucket

    def _flow(self, keys: Keys, ts_ns: int, data: bytes | memoryview) -> FlowState:
        key = _flow_key(keys)
        flow = self.flows.pop(key, None)
        flags = _FLAGS(data, keys.l4)[0] if keys.proto == TCP and keys.l4 >= 0 else 0
        if flow is not None and ts_ns - flow.last_ns > FLOW_IDLE_NS:
            flow = None
        if flow is None:
            if len(self.flows) >= self.max_flows:
                self.flows.popitem(last=False)
            src, dst = (keys.src, keys.sport), (keys.dst, keys.dport)
            synack = flags & (_SYN | _ACK) == _SYN | _ACK
            syn = flags & (_SYN | _ACK) == _SYN
            if synack or not syn and keys.proto in (TCP, UDP) and keys.sport < 1024 <= keys.dport:
                src, dst = dst, src  # a SYN-ACK's sender, or a well-known port, is the server
            flow = FlowState(keys.proto or keys.payload, src, dst, keys.family, ts_ns)
        self.flows[key] = flow
        flow.last_ns = ts_ns
        if keys.proto == TCP and keys.l4 >= 0:
            _tcp(flow, keys, data, flags, ts_ns)
        return flow

    # --- output ----------------------------------------------------------------------------

    def snapshot(self, sort: str | None = None, limit: int = 10,
                 now_ns: int | None = None) -> dict[str, object]:
        """The tables at ``now_ns`` (default: the newest packet's time), ``limit`` rows each,
        sorted by ``sort``: a window's name (``"2s"``) or ``"total"`` (default: the middle
        window, iftop's 10 s)."""
        now = self.last_ns if now_ns is None else now_ns
        names = [window_name(w) for w in self.windows]
        sort = sort or names[len(names) // 2]
        if sort not in names + ["total"]:
            raise ValueError(f"sort by one of {', '.join(names)}, total")
        sums = {name: self._window_sums(now, w) for name, w in zip(names, self.windows,
                                                                     strict=True)}
        elapsed = (now - self.first_ns) / NS if self.first_ns is not None else 0.0
        per_s = {name: 1 / min(w, max(elapsed, self.bucket_ns / NS))
                 for name, w in zip(names, self.windows, strict=True)}

        def rates(table: str, key: object) -> dict[str, float]:
            return {n: sums[n].table(table).get(key, 0) * per_s[n] for n in names}

        t = self.totals
        totals: dict[str, Callable[[Any], int]] = {
            "hosts": lambda h: t["hosts_tx"][h] + t["hosts_rx"][h],
            "conv": lambda p: t["conv"][p] + (t["conv"][(p[1], p[0])] if p[0] != p[1] else 0),
            "ports": lambda k: t["ports"][k], "protos": lambda k: t["protos"][k],
            "flows": lambda k: self.flows[k].bytes}

        def rows(table: str, keys: Iterable[Any],
                 make: Callable[[Any], dict[str, object]]) -> list[dict[str, object]]:
            """The ``limit`` largest by the sort column; rows are built for those only, so a
            redraw costs one pass over the keys whatever their number."""
            score = totals[table] if sort == "total" else sums[sort].table(table).get
            best = heapq.nlargest(limit, keys, key=lambda k: score(k) or 0)
            return [make(k) for k in best]

        hosts = set(t["hosts_tx"]) | set(t["hosts_rx"]) | set(sums[names[-1]].hosts)

        def host_row(h: bytes) -> dict[str, object]:
            return {"host": _addr(h), "tx_bytes": t["hosts_tx"][h], "rx_bytes": t["hosts_rx"][h],
                    "total_bytes": t["hosts_tx"][h] + t["hosts_rx"][h],
                    "rate": rates("hosts", h)}

        pairs = {(a, b) if a <= b else (b, a) for a, b in t["conv"]}

        def conv_row(p: tuple[bytes, bytes]) -> dict[str, object]:
            a, b = p
            return {"a": _addr(a), "b": _addr(b), "a_to_b_bytes": t["conv"][(a, b)],
                    "b_to_a_bytes": t["conv"][(b, a)],
                    "total_bytes": t["conv"][(a, b)] + (t["conv"][(b, a)] if a != b else 0),
                    "rate": rates("conv", p)}

        def port_row(k: tuple[int, int]) -> dict[str, object]:
            return {"port": f"{k[1]}/{_PROTO_NAMES[k[0]]}", "total_bytes": t["ports"][k],
                    "rate": rates("ports", k)}

        def proto_row(name: str) -> dict[str, object]:
            return {"protocol": name, "total_bytes": t["protos"][name],
                    "packets": t["protos_pkts"][name], "rate": rates("protos", name)}

        return {
            "time": now / NS, "elapsed": elapsed, "windows": names, "sort": sort,
            "packets": self.packets, "bytes": self.bytes,
            "rate": {n: sums[n].bytes * per_s[n] for n in names},
            "hosts": rows("hosts", hosts, host_row),
            "conversations": rows("conv", pairs, conv_row),
            "ports": rows("ports", t["ports"], port_row),
            "protocols": rows("protos", t["protos"], proto_row),
            "flows": rows("flows", self.flows,
                          lambda k: self._flow_row(k, lambda key: rates("flows", key))),
        }

    def _window_sums(self, now: int, window: float) -> _Sums:
        """Counters summed over the buckets that started within ``window`` of ``now``."""
        since = now - int(window * NS)
        hosts: Counter[bytes] = Counter()
        conv: Counter[tuple[bytes, bytes]] = Counter()
        ports: Counter[tuple[int, int]] = Counter()
        protos: Counter[str] = Counter()
        flows: Counter[tuple[object, ...]] = Counter()
        total = 0
        for start, b in self._buckets.items():
            if start + self.bucket_ns <= since or start > now:
                continue
            hosts.update(b.hosts_tx)
            hosts.update(b.hosts_rx)
            for (src, dst), n in b.conv.items():
                conv[(src, dst) if src <= dst else (dst, src)] += n
            ports.update(b.ports)
            protos.update(b.protos)
            flows.update(b.flows)
            total += b.bytes
        return _Sums(hosts, conv, ports, protos, flows, total)

    def _flow_row(self, key: tuple[object, ...],
                  rates: Callable[[object], dict[str, float]]) -> dict[str, object]:
        f = self.flows[key]
        name = _PROTO_NAMES.get(f.proto, str(f.proto))
        ports = f.proto in (TCP, UDP)
        row: dict[str, object] = {
            "proto": name,
            "orig": _endpoint(f.orig, ports), "resp": _endpoint(f.resp, ports),
            "packets": f.packets, "total_bytes": f.bytes, "rate": rates(key),
            "rtt_ms": f.rtt_ns / 1e6 if f.rtt_ns is not None else None,
            "retransmissions": None, "out_of_order": None,
        }
        if f.proto == TCP:
            sides = [d for d in (f.fwd, f.rev) if d is not None]
            row["retransmissions"] = sum(d.retransmissions for d in sides)
            row["out_of_order"] = sum(d.out_of_order for d in sides)
        return row


def window_name(seconds: float) -> str:
    return f"{seconds:g}s"


def _proto_name(keys: Keys) -> str:
    if keys.payload == FRAGMENT:
        return "ip fragment" if keys.family == IPV4 else "ipv6 fragment"
    return _PROTO_NAMES.get(keys.payload, f"ip proto {keys.payload}")


def _flow_key(keys: Keys) -> tuple[object, ...]:
    a, b = (keys.src, keys.sport), (keys.dst, keys.dport)
    return (keys.proto or keys.payload, *((a, b) if a <= b else (b, a)))


def _addr(raw: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw)


def _endpoint(end: tuple[bytes, int], ports: bool) -> str:
    host = _addr(end[0])
    if not ports:
        return host
    return f"[{host}]:{end[1]}" if ":" in host else f"{host}:{end[1]}"


def _tcp(flow: FlowState, keys: Keys, data: bytes | memoryview, flags: int, ts_ns: int) -> None:
    """Retransmissions and handshake timing of one TCP segment (see the module doc)."""
    forward = (keys.src, keys.sport) == flow.orig
    side = flow.fwd if forward else flow.rev
    if side is None:
        side = _Dir()
        if forward:
            flow.fwd = side
        else:
            flow.rev = side
    seq, ack = _SEQ_ACK(data, keys.l4)
    length = max(keys.l4_end - keys.l4 - (_OFF(data, keys.l4)[0] >> 4) * 4, 0)
    seg_len = length + (1 if flags & _SYN else 0) + (1 if flags & _FIN else 0)
    end = (seq + seg_len) & 0xFFFFFFFF
    if side.next_seq is not None:
        behind = (side.next_seq - seq) & 0xFFFFFFFF
        if seg_len and 0 < behind < 1 << 31:
            _classify(flow, side, flow.rev if forward else flow.fwd, seq, end, behind,
                      seg_len, flags, ts_ns)
    _track_acks(side, seq, ack, length, flags, _WINDOW(data, keys.l4)[0], ts_ns)
    if side.next_seq is None or 0 < ((end - side.next_seq) & 0xFFFFFFFF) < 1 << 31:
        side.next_seq, side.next_ns = end, ts_ns
    # The handshake's timing, after the segment is classified, as tshark's dissect_tcp does
    # it after tcp_analyze_sequence_number.  Both times run from the *latest* SYN
    # (ts_mru_syn): after a lost SYN or SYN-ACK the SYN goes again a second later, and the
    # RTT is that last attempt's, not a second more.  tshark's ts_first_rtt, the
    # out-of-order threshold, ends at the first segment with ACK and without SYN either way
    # (a RST refusing the SYN too; a zero one is measured again); the RTT shown ends at the
    # client's ACK after a SYN-ACK, so a refused connection has none.
    if flags & (_SYN | _ACK) == _SYN:
        flow.syn_ns = ts_ns
    elif flow.syn_ns is not None:
        if flags & (_SYN | _ACK) == _SYN | _ACK and flow.synack_ns is None:
            flow.synack_ns = ts_ns
        elif flags & (_SYN | _ACK) == _ACK:
            if not flow.first_rtt_ns:
                flow.first_rtt_ns = ts_ns - flow.syn_ns
            if forward and flow.synack_ns is not None and flow.rtt_ns is None:
                flow.rtt_ns = ts_ns - flow.syn_ns


def _classify(flow: FlowState, side: _Dir, other: _Dir | None, seq: int, end: int,
              behind: int, seg_len: int, flags: int, ts_ns: int) -> None:
    """A segment starting below the highest sequence number seen: keep-alive, fast
    retransmission, out of order or retransmission, in tshark's order of tests."""
    if seg_len <= 1 and behind == 1 and not flags & (_SYN | _FIN):
        return  # keep-alive
    if other is not None and other.dupacks >= 2 and other.last_ack == seq \
            and ts_ns - other.last_ack_ns < FAST_RETRANSMISSION_NS:
        side.retransmissions += 1  # a fast retransmission, after duplicate ACKs
        return
    threshold = flow.first_rtt_ns or OOO_NS
    if ts_ns - side.next_ns < threshold and side.next_seq != end:
        side.out_of_order += 1
    else:
        side.retransmissions += 1


def _track_acks(side: _Dir, seq: int, ack: int, length: int, flags: int, window: int,
                ts_ns: int) -> None:
    """Duplicate ACKs as tshark counts them: no data, the same window (not zero), the same
    ACK number, at the next sequence number, no SYN, FIN or RST."""
    if not flags & _ACK:
        return
    if length == 0 and window and window == side.window and seq == side.next_seq \
            and ack == side.last_ack and not flags & (_SYN | _FIN | _RST):
        side.dupacks += 1
    elif ack != side.last_ack:
        side.dupacks = 0
    side.last_ack, side.last_ack_ns, side.window = ack, ts_ns, window
