"""Ladder (sequence) diagrams of a capture, in the spirit of Wireshark's Flow Graph.

A :class:`Ladder` has one column per endpoint (``address:port`` for TCP and UDP, the bare
address for ICMP, so two programs on 127.0.0.1 still get a column each) and one
:class:`Arrow` per packet, in capture order, carrying what tshark's Info column would say:
the flags on the arrow (``[SYN, ACK]``), relative seq/ack, window and length beside it, and
Wireshark's analysis marks (``[TCP Retransmission]``, ``[TCP Out-Of-Order]``,
``[TCP ZeroWindow]`` ...).

Each TCP arrow also carries the phase of its connection (curriculum 1.3):

* **handshake**: from the SYN to the ACK that completes the three-way handshake (RFC 9293
  3.5), or to the first segment with data if that ACK carries data or is missing;
* **data**: the segments that carry data, and the bare ACKs that follow the last of them
  before anyone closes -- so a FIN sent while the other side is still sending (a
  half-close, RFC 9293 3.6) stays in the data phase;
* **teardown**: from the first FIN or RST at or after the last segment with data (a FIN that
  carries the last data opens it), to the end.

A capture that starts after the SYN has no handshake phase; one that stops before any FIN or
RST has no teardown phase.  Phases never go back, so a renderer can mark each one once.

Rendering lives in :mod:`~wirelab.observe.render_text` and
:mod:`~wirelab.observe.render_svg`; the :class:`Ladder` methods call them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum

from wirelab.errors import ExitCode, WirelabError
from wirelab.observe.analysis import Mark, SegmentAnalysis, analyse_stream
from wirelab.observe.filter import Filter, parse_filter
from wirelab.observe.follow import no_stream_message
from wirelab.observe.packets import FIN, NS, RST, SYN, Observed, origin_ns
from wirelab.observe.streams import Streams, number_streams
from wirelab.wire.icmp import ICMPType, UnreachableCode
from wirelab.wire.icmpv6 import ICMPv6Type
from wirelab.wire.ipv4 import IPProto

# Marks that Wireshark's "Bad TCP" colouring rule leaves out: they are not trouble.
BENIGN = Mark.WINDOW_UPDATE | Mark.KEEP_ALIVE | Mark.KEEP_ALIVE_ACK
_TROUBLE = ~int(BENIGN)


class Phase(StrEnum):
    HANDSHAKE = "handshake"
    DATA = "data"
    TEARDOWN = "teardown"


class NoPacketsError(WirelabError):
    """The selection (stream number, filter) matches no packet."""

    exit_code = ExitCode.BAD_INPUT


@dataclass(frozen=True, slots=True)
class Arrow:
    """One packet as an arrow from column ``src`` to column ``dst``."""

    number: int
    time: float
    """Seconds since the capture's first frame (tshark's ``frame.time_relative``)."""
    src: int
    dst: int
    proto: str
    stream: int | None
    label: str
    detail: str
    phase: Phase | None = None
    marks: tuple[str, ...] = ()
    alert: bool = False
    """True if a mark says something went wrong (retransmission, zero window, ...)."""
    seq: int | None = None
    ack: int | None = None
    length: int | None = None

    @property
    def info(self) -> str:
        """Marks, label and detail on one line, like tshark's Info column."""
        marks = "".join(f"[{m}] " for m in self.marks)
        return f"{marks}{self.label} {self.detail}".strip()


@dataclass
class Ladder:
    """Endpoints (columns) and arrows (rows) of a sequence diagram."""

    endpoints: list[str]
    arrows: list[Arrow]
    title: str = ""
    streams: list[tuple[str, int]] = field(default_factory=list)
    """The (protocol, stream number) pairs shown, in order of first appearance."""

    def phase_starts(self) -> dict[int, str]:
        """Arrow index -> separator label, where a stream enters a new phase."""
        many = sum(1 for proto, _ in self.streams if proto == "tcp") > 1
        current: dict[int | None, Phase | None] = {}
        out: dict[int, str] = {}
        for i, arrow in enumerate(self.arrows):
            if arrow.phase is None or current.get(arrow.stream) == arrow.phase:
                continue
            current[arrow.stream] = arrow.phase
            out[i] = f"{arrow.phase} (tcp stream {arrow.stream})" if many else str(arrow.phase)
        return out

    def render_text(self, *, ascii: bool = False, color: bool = False) -> str:
        from wirelab.observe.render_text import render_text
        return render_text(self, ascii=ascii, color=color)

    def render_svg(self, *, id_prefix: str = "wl") -> str:
        from wirelab.observe.render_svg import render_svg
        return render_svg(self, id_prefix=id_prefix)

    def render_html(self, title: str | None = None) -> str:
        from wirelab.observe.render_svg import render_html
        return render_html(self, title)

    def to_dict(self) -> dict[str, object]:
        return {"title": self.title, "endpoints": self.endpoints,
                "streams": [{"proto": p, "stream": s} for p, s in self.streams],
                "phases": {str(i): label for i, label in self.phase_starts().items()},
                "arrows": [asdict(a) | {"info": a.info} for a in self.arrows]}


# --- phases ------------------------------------------------------------------------------


def tcp_phases(packets: Sequence[Observed]) -> dict[int, Phase]:
    """Frame number -> phase for the packets of one TCP connection (capture order)."""
    tcp = [p for p in packets if p.tcp is not None]
    last_data = max((i for i, p in enumerate(tcp) if p.tcp and p.tcp.seglen), default=-1)
    out: dict[int, Phase] = {}
    phase: Phase | None = None
    for i, p in enumerate(tcp):
        assert p.tcp is not None
        flags = p.tcp.flags
        if phase is None:
            phase = Phase.HANDSHAKE if flags & SYN else Phase.DATA
        closing = flags & (FIN | RST) and i >= last_data
        if closing:
            phase = Phase.TEARDOWN
        elif phase is Phase.HANDSHAKE and not flags & SYN:
            if p.tcp.seglen == 0:
                out[p.number] = Phase.HANDSHAKE  # the third packet of the handshake
                phase = Phase.DATA
                continue
            phase = Phase.DATA
        out[p.number] = phase
    return out


# --- labels ------------------------------------------------------------------------------

_ICMP_NAMES: dict[int, str] = {ICMPType.ECHO_REQUEST: "Echo (ping) request", ICMPType.ECHO_REPLY:
               "Echo (ping) reply", ICMPType.DEST_UNREACHABLE: "Destination unreachable",
               ICMPType.TIME_EXCEEDED: "Time-to-live exceeded", ICMPType.REDIRECT: "Redirect"}
_ICMPV6_NAMES: dict[int, str] = {ICMPv6Type.ECHO_REQUEST: "Echo (ping) request",
                 ICMPv6Type.ECHO_REPLY: "Echo (ping) reply",
                 ICMPv6Type.DEST_UNREACHABLE: "Destination unreachable",
                 ICMPv6Type.TIME_EXCEEDED: "Time exceeded",
                 ICMPv6Type.NEIGHBOR_SOLICITATION: "Neighbor Solicitation",
                 ICMPv6Type.NEIGHBOR_ADVERTISEMENT: "Neighbor Advertisement"}


def _tcp_text(p: Observed, a: SegmentAnalysis) -> tuple[str, str]:
    t = p.tcp
    assert t is not None
    parts = [f"Seq={a.rel_seq}"]
    if a.rel_ack is not None:
        parts.append(f"Ack={a.rel_ack}")
    parts += [f"Win={a.window}", f"Len={t.seglen}"]
    if t.mss is not None:
        parts.append(f"MSS={t.mss}")
    if t.sack_permitted:
        parts.append("SACK_PERM")
    if t.wscale is not None:
        parts.append(f"WS={1 << min(t.wscale, 14)}")
    return f"[{t.flag_names()}]", " ".join(parts)


def _icmp_text(p: Observed) -> tuple[str, str]:
    icmp = p.icmp
    assert icmp is not None
    names = _ICMP_NAMES if icmp.version == 4 else _ICMPV6_NAMES
    label = names.get(icmp.type, f"type {icmp.type}")
    if icmp.version == 4 and icmp.type == ICMPType.DEST_UNREACHABLE:
        try:
            label += f" ({UnreachableCode(icmp.code).name.lower().replace('_', ' ')})"
        except ValueError:
            label += f" (code {icmp.code})"
    if icmp.id is not None:
        detail = f"id=0x{icmp.id:04x} seq={icmp.seq}"
    else:
        detail = f"type={icmp.type} code={icmp.code}"
    if p.ttl is not None:
        detail += f" ttl={p.ttl}" if icmp.version == 4 else f" hlim={p.ttl}"
    return label, detail


# --- building ----------------------------------------------------------------------------


def build_ladder(packets: Sequence[Observed], stream: int | None = None, *,
                 udp_stream: int | None = None, where: str | Filter | None = None,
                 title: str = "") -> Ladder:
    """The ladder of ``packets``: one TCP stream, one UDP stream, or all packets, then filtered.

    ``stream`` and ``udp_stream`` are tshark's ``tcp.stream`` and ``udp.stream`` numbers;
    ``where`` a :mod:`~wirelab.observe.filter` expression.  Raises :class:`NoPacketsError`
    if nothing is left to draw.
    """
    streams = number_streams(packets)
    chosen = _select(packets, streams, stream, udp_stream)
    if where is not None:
        flt = parse_filter(where) if isinstance(where, str) else where
        chosen = [p for p in chosen if flt(p, streams.stream_of(p))]
    if not chosen:
        if where is not None:
            raise NoPacketsError(f"no packet matches the filter {where!r}")
        raise NoPacketsError("the capture has no TCP, UDP or ICMP packet")
    analysis, phases = _tcp_context(packets, chosen, streams)
    zero = origin_ns(packets)
    endpoints: list[str] = []
    column: dict[str, int] = {}
    for p in chosen:
        for name in _endpoints(p):
            if name not in column:
                column[name] = len(endpoints)
                endpoints.append(name)
    arrows = [_arrow(p, zero, column, streams, analysis, phases) for p in chosen]
    shown: list[tuple[str, int]] = []
    for p in chosen:
        number = streams.stream_of(p)
        if number is not None and (p.proto_name.lower(), number) not in shown:
            shown.append((p.proto_name.lower(), number))
    return Ladder(endpoints, arrows, title, shown)


def _select(packets: Sequence[Observed], streams: Streams, stream: int | None,
            udp_stream: int | None) -> list[Observed]:
    if stream is not None:
        chosen = streams.tcp_packets(packets, stream)
        if not chosen:
            raise NoPacketsError(no_stream_message("TCP", stream, streams.tcp_count))
        return chosen
    if udp_stream is not None:
        chosen = streams.udp_packets(packets, udp_stream)
        if not chosen:
            raise NoPacketsError(no_stream_message("UDP", udp_stream, streams.udp_count))
        return chosen
    return list(packets)


def _tcp_context(packets: Sequence[Observed], chosen: Sequence[Observed],
                 streams: Streams) -> tuple[dict[int, SegmentAnalysis], dict[int, Phase]]:
    """Analysis and phases of every TCP stream that has a packet among ``chosen``.

    Each stream is analysed whole, even if the filter keeps only part of it, so that a mark
    or a relative number does not depend on what is shown.
    """
    wanted = {streams.tcp[p.number] for p in chosen if p.number in streams.tcp}
    groups: dict[int, list[Observed]] = {s: [] for s in wanted}
    for p in packets:
        s = streams.tcp.get(p.number)
        if s in groups:
            groups[s].append(p)
    analysis: dict[int, SegmentAnalysis] = {}
    phases: dict[int, Phase] = {}
    for mine in groups.values():
        analysis.update(analyse_stream(mine, streams.reused_ports))
        phases.update(tcp_phases(mine))
    return analysis, phases


def _endpoints(p: Observed) -> tuple[str, str]:
    return p.src_endpoint, p.dst_endpoint


def _arrow(p: Observed, zero: int, column: dict[str, int], streams: Streams,
           analysis: dict[int, SegmentAnalysis], phases: dict[int, Phase]) -> Arrow:
    src, dst = (column[e] for e in _endpoints(p))
    phase: Phase | None = None
    marks: tuple[str, ...] = ()
    alert = False
    seq = ack = length = None
    if p.tcp is not None:
        a = analysis[p.number]
        label, detail = _tcp_text(p, a)
        phase, marks, alert = phases.get(p.number), tuple(a.labels()), bool(int(a.marks) & _TROUBLE)
        seq, ack, length = a.rel_seq, a.rel_ack, p.tcp.seglen
    elif p.proto == IPProto.UDP:
        label, detail, length = "UDP", f"Len={p.udp_len}", p.udp_len
    else:
        label, detail = _icmp_text(p)
    return Arrow(p.number, (p.ts_ns - zero) / NS, src, dst, p.proto_name, streams.stream_of(p),
                 label, detail, phase, marks, alert, seq, ack, length)
