"""TCP sequence analysis: relative numbers and Wireshark's expert marks, per stream.

The definitions are Wireshark's (``tcp_analyze_sequence_number`` in ``packet-tcp.c``, the
"TCP Analysis" section of its User's Guide), so that a mark here means the same as the
``tcp.analysis.*`` field tshark prints for the same frame.  Per direction we keep the next
expected sequence number (the highest ``seq + len`` seen, SYN and FIN counting one), the last
acknowledgment and window sent, and when they were seen.  Then, in Wireshark's order:

* **zero window probe**: 1 byte at exactly the next expected sequence number while the other
  side advertises a zero window;
* **zero window**: a window of 0 on a segment without SYN, FIN or RST (RFC 9293 3.8.6.1);
* **previous segment not captured** (lost segment): starts beyond the next expected number;
* **keep-alive**: 0 or 1 byte starting one before the next expected number (RFC 1122 4.2.3.6);
* **window update**: no data, same seq and ack as before, a new non-zero window;
* **duplicate ACK**: no data, same seq, ack and window as before;
* **ACKed unseen segment**: acknowledges bytes the capture never showed;
* for a segment with data, SYN or FIN: **spurious retransmission** if the other side has
  already acknowledged all of it; otherwise, if it does not advance the sequence number:
  **fast retransmission** if it starts at the ack of >= 2 duplicate ACKs, within 20 ms of
  the last of them; else **out-of-order** if it comes within the handshake's RTT (3 ms if
  unknown) of the segment that set the next expected number and does not simply end
  there (its SYN or FIN counted); else **retransmission**.

The order and the details are those of tshark 4.0.17, the one the tests cross-check
against on real captures (later versions refined the ACKed-unseen rule and made the
fast-retransmission / out-of-order order a preference).

Relative numbers are Wireshark's too: sequence numbers count from the SYN's (so the SYN is 0
and the first data byte 1), or from one before the first one seen when the SYN is missing.
Arithmetic is modulo 2**32 (RFC 9293 3.4), so a stream that wraps is analysed correctly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntFlag

from wirelab.observe.packets import ACK, FIN, RST, SYN, Observed, TcpInfo

MOD = 1 << 32
UNSET_WINDOW = 0xFFFFFFFF  # Wireshark's initial "no window seen yet"
FAST_RETRANSMISSION_WINDOW_NS = 20_000_000
DEFAULT_OOO_THRESHOLD_NS = 3_000_000


class Mark(IntFlag):
    """Wireshark's TCP analysis flags (``tcp.analysis.*``)."""

    RETRANSMISSION = 0x0001
    FAST_RETRANSMISSION = 0x0002
    SPURIOUS_RETRANSMISSION = 0x0004
    OUT_OF_ORDER = 0x0008
    LOST_SEGMENT = 0x0010
    ACKED_UNSEEN = 0x0020
    KEEP_ALIVE = 0x0040
    KEEP_ALIVE_ACK = 0x0080
    WINDOW_UPDATE = 0x0100
    DUPLICATE_ACK = 0x0200
    ZERO_WINDOW = 0x0400
    ZERO_WINDOW_PROBE = 0x0800
    ZERO_WINDOW_PROBE_ACK = 0x1000
    REUSED_PORTS = 0x2000


# The bracketed prefix Wireshark writes in the Info column for each mark.
MARK_LABELS: dict[Mark, str] = {
    Mark.REUSED_PORTS: "TCP Port numbers reused",
    Mark.RETRANSMISSION: "TCP Retransmission",
    Mark.FAST_RETRANSMISSION: "TCP Fast Retransmission",
    Mark.SPURIOUS_RETRANSMISSION: "TCP Spurious Retransmission",
    Mark.OUT_OF_ORDER: "TCP Out-Of-Order",
    Mark.LOST_SEGMENT: "TCP Previous segment not captured",
    Mark.ACKED_UNSEEN: "TCP ACKed unseen segment",
    Mark.KEEP_ALIVE: "TCP Keep-Alive",
    Mark.KEEP_ALIVE_ACK: "TCP Keep-Alive ACK",
    Mark.WINDOW_UPDATE: "TCP Window Update",
    Mark.DUPLICATE_ACK: "TCP Dup ACK",
    Mark.ZERO_WINDOW: "TCP ZeroWindow",
    Mark.ZERO_WINDOW_PROBE: "TCP ZeroWindowProbe",
    Mark.ZERO_WINDOW_PROBE_ACK: "TCP ZeroWindowProbeAck",
}

# The tshark fields each mark makes present.  Fast and spurious retransmissions are
# retransmissions too: Wireshark adds tcp.analysis.retransmission for them as well.
TSHARK_FIELDS: dict[Mark, tuple[str, ...]] = {
    Mark.RETRANSMISSION: ("tcp.analysis.retransmission",),
    Mark.FAST_RETRANSMISSION: ("tcp.analysis.fast_retransmission",
                               "tcp.analysis.retransmission"),
    Mark.SPURIOUS_RETRANSMISSION: ("tcp.analysis.spurious_retransmission",
                                   "tcp.analysis.retransmission"),
    Mark.OUT_OF_ORDER: ("tcp.analysis.out_of_order",),
    Mark.LOST_SEGMENT: ("tcp.analysis.lost_segment",),
    Mark.ACKED_UNSEEN: ("tcp.analysis.ack_lost_segment",),
    Mark.KEEP_ALIVE: ("tcp.analysis.keep_alive",),
    Mark.KEEP_ALIVE_ACK: ("tcp.analysis.keep_alive_ack",),
    Mark.WINDOW_UPDATE: ("tcp.analysis.window_update",),
    Mark.DUPLICATE_ACK: ("tcp.analysis.duplicate_ack",),
    Mark.ZERO_WINDOW: ("tcp.analysis.zero_window",),
    Mark.ZERO_WINDOW_PROBE: ("tcp.analysis.zero_window_probe",),
    Mark.ZERO_WINDOW_PROBE_ACK: ("tcp.analysis.zero_window_probe_ack",),
    Mark.REUSED_PORTS: ("tcp.analysis.reused_ports",),
}


# IntFlag arithmetic costs microseconds an operation and the analysis does a dozen a
# segment, so it works on plain ints and wraps the result in a Mark once.
_FIN, _SYN, _RST, _ACK = FIN, SYN, RST, ACK
_SYN_FIN = _SYN | _FIN
_SYN_FIN_RST = _SYN | _FIN | _RST
_RETX = int(Mark.RETRANSMISSION)
_FAST = int(Mark.FAST_RETRANSMISSION)
_SPURIOUS = int(Mark.SPURIOUS_RETRANSMISSION)
_OOO = int(Mark.OUT_OF_ORDER)
_LOST = int(Mark.LOST_SEGMENT)
_UNSEEN = int(Mark.ACKED_UNSEEN)
_KA = int(Mark.KEEP_ALIVE)
_KA_ACK = int(Mark.KEEP_ALIVE_ACK)
_WUPD = int(Mark.WINDOW_UPDATE)
_DUP = int(Mark.DUPLICATE_ACK)
_ZW = int(Mark.ZERO_WINDOW)
_ZWP = int(Mark.ZERO_WINDOW_PROBE)
_ZWP_ACK = int(Mark.ZERO_WINDOW_PROBE_ACK)
_REUSED = int(Mark.REUSED_PORTS)
_MARKS = {0: Mark(0), **{int(m): m for m in Mark}}  # the common cases, built once
_LABEL_BITS = [(int(m), text, m is Mark.DUPLICATE_ACK) for m, text in MARK_LABELS.items()]
_FIELD_BITS = [(int(m), names) for m, names in TSHARK_FIELDS.items()]


def gt_seq(a: int, b: int) -> bool:
    """``a`` is after ``b`` in sequence space (RFC 9293 3.4: compare modulo 2**32)."""
    return 0 < (a - b) % MOD < (1 << 31)


def lt_seq(a: int, b: int) -> bool:
    return gt_seq(b, a)


def le_seq(a: int, b: int) -> bool:
    return a % MOD == b % MOD or lt_seq(a, b)


@dataclass(frozen=True, slots=True)
class SegmentAnalysis:
    """What the analysis says about one TCP segment."""

    rel_seq: int
    rel_ack: int | None
    """None when the ACK flag is clear (the field means nothing then)."""
    rel_next_seq: int
    """``tcp.nxtseq``: the relative sequence number after this segment."""
    window: int
    """The calculated window: the field shifted by the window scale when it is known."""
    marks: Mark
    dupack_num: int = 0
    dupack_of: int = 0
    """For a duplicate ACK, the frame number of the ACK it repeats."""

    def labels(self) -> list[str]:
        """The marks as Wireshark's Info prefixes, e.g. ``"TCP Dup ACK 7#1"``."""
        bits = int(self.marks)
        if not bits:
            return []
        return [f"{text} {self.dupack_of}#{self.dupack_num}" if dup else text
                for bit, text, dup in _LABEL_BITS if bits & bit]

    def tshark_fields(self) -> set[str]:
        """The ``tcp.analysis.*`` field names tshark would print for this segment."""
        bits = int(self.marks)
        return {name for bit, names in _FIELD_BITS if bits & bit for name in names}


class _Flow:
    """One direction of a connection, Wireshark's ``tcp_flow_t`` plus its analysis state."""

    def __init__(self) -> None:
        self.base_seq: int | None = None
        self.win_scale = -1  # -1 unknown, -2 not in use, else the shift (RFC 7323 2.3)
        self.window = UNSET_WINDOW
        # As in Wireshark, 0 means "not seen yet" for these three.
        self.nextseq = 0
        self.lastack = 0
        self.maxseqtobeacked = 0
        self.nextseq_ns = 0
        self.lastack_ns = 0
        self.dupacknum = 0
        self.lastnondupack = 0
        self.lastsegmentflags = 0  # Mark bits


class StreamAnalyzer:
    """Feed one TCP stream's segments in capture order; get a :class:`SegmentAnalysis` each."""

    def __init__(self) -> None:
        self._flows: dict[tuple[str, int], _Flow] = {}
        self.mru_syn_ns = 0
        self.first_rtt_ns = 0
        self.client: tuple[str, int] | None = None

    def _pair(self, p: Observed) -> tuple[_Flow, _Flow]:
        fwd_key = (p.src, p.sport or 0)
        rev_key = (p.dst, p.dport or 0)
        fwd = self._flows.setdefault(fwd_key, _Flow())
        rev = self._flows.setdefault(rev_key, _Flow())
        return fwd, rev

    def feed(self, p: Observed, reused_ports: bool = False) -> SegmentAnalysis:
        t = p.tcp
        assert t is not None, "only TCP packets are analysed"
        fwd, rev = self._pair(p)
        flags = t.flags
        if flags & _SYN:
            _window_scaling(t, fwd, rev)
            if not flags & _ACK and self.client is None:
                self.client = (p.src, p.sport or 0)
        window = t.window
        if not flags & _SYN and fwd.win_scale >= 0:
            window <<= fwd.win_scale  # RFC 7323 2.2: never scaled on a SYN
        marks = _REUSED if reused_ports else 0
        marks, dup = _analyse(p.number, p.ts_ns, t, window, fwd, rev, self.first_rtt_ns, marks)
        # Wireshark notes the first RTT after analysing the segment: from the latest SYN to
        # the first segment with ACK and without SYN (the handshake's third packet).
        if flags & (_SYN | _ACK) == _SYN:
            self.mru_syn_ns = p.ts_ns
        elif (flags & (_SYN | _ACK) == _ACK and self.mru_syn_ns
              and not self.first_rtt_ns):
            self.first_rtt_ns = p.ts_ns - self.mru_syn_ns
        base = fwd.base_seq or 0
        nxt = t.seq + t.seglen + (1 if flags & _SYN_FIN else 0)
        rel_ack = None
        if flags & _ACK and rev.base_seq is not None:
            rel_ack = (t.ack - rev.base_seq) % MOD
        return SegmentAnalysis((t.seq - base) % MOD, rel_ack, (nxt - base) % MOD, window,
                               _MARKS[marks] if marks in _MARKS else Mark(marks), *dup)


def _window_scaling(t: TcpInfo, fwd: _Flow, rev: _Flow) -> None:
    """Wireshark's ``verify_tcp_window_scaling``: scaling is on only if both SYNs offer it."""
    if t.wscale is not None:
        fwd.win_scale = min(t.wscale, 14)  # RFC 7323 2.3: larger shifts are taken as 14
    if fwd.win_scale == -1:
        fwd.win_scale = rev.win_scale = -2
    elif t.flags & _ACK and rev.win_scale == -2:
        fwd.win_scale = -2


def _analyse(number: int, ts: int, t: TcpInfo, window: int, fwd: _Flow, rev: _Flow,
             first_rtt_ns: int, marks: int) -> tuple[int, tuple[int, int]]:
    """One step of ``tcp_analyze_sequence_number``; returns the marks and dup-ACK (num, of)."""
    seq, ack, seglen, flags = t.seq, t.ack, t.seglen, t.flags
    if fwd.base_seq is None:
        fwd.base_seq = seq if flags & _SYN else (seq - 1) % MOD
    if rev.base_seq is None and flags & _ACK:
        rev.base_seq = (ack - 1) % MOD
    marks |= _window_marks(seq, ack, seglen, flags, window, fwd, rev)
    dup = (0, 0)
    if marks & _DUP:
        fwd.dupacknum += 1
        dup = (fwd.dupacknum, fwd.lastnondupack)
    if ack != fwd.lastack:
        fwd.lastnondupack = number
        fwd.dupacknum = 0
    marks |= _acked_unseen(ack, flags, rev)
    if (seglen > 0 or flags & _SYN_FIN) and not marks & _KA:
        marks |= _retransmission_kind(ts, seq, seglen, flags, fwd, rev, first_rtt_ns)
    _advance(number, ts, seq, ack, seglen, flags, window, fwd, marks)
    return marks, dup


def _window_marks(seq: int, ack: int, seglen: int, flags: int, window: int, fwd: _Flow,
                  rev: _Flow) -> int:
    """Zero window (probe), lost segment, keep-alive, window update, duplicate ACK."""
    same_place = seq == fwd.nextseq and ack == fwd.lastack and not flags & _SYN_FIN_RST
    if seglen == 1 and seq == fwd.nextseq and rev.window == 0:
        return _ZWP
    marks = 0
    if window == 0 and not flags & _SYN_FIN_RST:
        marks |= _ZW
    if fwd.nextseq and gt_seq(seq, fwd.nextseq) and not flags & _RST:
        marks |= _LOST
    if seglen <= 1 and seq == (fwd.nextseq - 1) % MOD and not flags & _SYN_FIN_RST:
        marks |= _KA
    if seglen == 0 and window and window != fwd.window and same_place:
        marks |= _WUPD
    if seglen == 0 and window and window == fwd.window and same_place \
            and rev.lastsegmentflags & _KA:
        return marks | _KA_ACK
    if seglen == 0 and window == 0 and fwd.window == 0 and same_place \
            and rev.lastsegmentflags & _ZWP:
        return marks | _ZWP_ACK
    if seglen == 0 and window and window == fwd.window and same_place:
        marks |= _DUP
    return marks


def _acked_unseen(ack: int, flags: int, rev: _Flow) -> int:
    """An ACK beyond what the other side was seen to send: its segment is not in the capture.

    The mark is given once: the other side's "max seq to be acked" then jumps to its next
    sequence number.
    """
    if rev.maxseqtobeacked and gt_seq(ack, rev.maxseqtobeacked) and flags & _ACK:
        rev.maxseqtobeacked = rev.nextseq
        return _UNSEEN
    return 0


def _retransmission_kind(ts: int, seq: int, seglen: int, flags: int, fwd: _Flow, rev: _Flow,
                         first_rtt_ns: int) -> int:
    """Spurious, fast, out-of-order or plain retransmission of a segment with data/SYN/FIN."""
    not_advanced = bool(fwd.nextseq) and lt_seq(seq, fwd.nextseq)
    if seglen > 1 and (fwd.nextseq - 1) % MOD == seq:
        not_advanced = False  # new data after a 1-byte zero window probe
    if seglen > 0 and rev.lastack and le_seq(seq + seglen, rev.lastack):
        return _SPURIOUS
    if (not_advanced and rev.dupacknum >= 2 and rev.lastack == seq
            and ts - rev.lastack_ns < FAST_RETRANSMISSION_WINDOW_NS):
        return _FAST
    threshold = first_rtt_ns or DEFAULT_OOO_THRESHOLD_NS
    ends_at_next = fwd.nextseq == (seq + seglen + (1 if flags & _SYN_FIN else 0)) % MOD
    if not_advanced and ts - fwd.nextseq_ns < threshold and not ends_at_next:
        return _OOO
    return _RETX if not_advanced else 0


def _advance(number: int, ts: int, seq: int, ack: int, seglen: int, flags: int, window: int,
             fwd: _Flow, marks: int) -> None:
    """Move the direction's state past this segment (the end of Wireshark's function)."""
    nextseq = (seq + seglen + (1 if flags & _SYN_FIN else 0)) % MOD
    probe = bool(marks & _ZWP)
    if (gt_seq(nextseq, fwd.nextseq) or not fwd.nextseq) and not probe:
        fwd.nextseq = nextseq
        fwd.nextseq_ns = ts
    if (seq == fwd.maxseqtobeacked or not fwd.maxseqtobeacked) and not probe:
        fwd.maxseqtobeacked = fwd.nextseq
    fwd.window = window
    fwd.lastack = ack
    fwd.lastack_ns = ts
    fwd.lastsegmentflags = marks


def analyse_stream(packets: Sequence[Observed],
                   reused: frozenset[int] | set[int] = frozenset()) -> dict[int, SegmentAnalysis]:
    """Analyse one TCP stream's packets (capture order); returns frame number -> analysis."""
    analyzer = StreamAnalyzer()
    return {p.number: analyzer.feed(p, p.number in reused) for p in packets if p.tcp is not None}
