"""Observation: captures turned into conversations, ladder diagrams and followed streams.

Curriculum 1.3 asks the learner to watch each exercise on the wire: the handshake, the data,
the teardown, and "Follow > TCP Stream".  This package does that from a pcap or pcapng file,
with Wireshark's definitions, so ``wirelab check`` and the lessons can build on it.

The library API (everything below is importable from ``wirelab.observe``)::

    from wirelab.observe import load, conversations, build_ladder, follow

    packets = load("capture.pcap")            # Capture: a list of Observed (TCP/UDP/ICMP)
    for conv in conversations(packets):        # list[Conversation], tcp then udp, by stream
        print(conv.proto, conv.stream, conv.a, conv.b, conv.state, conv.marks)

    ladder = build_ladder(packets, stream=0)   # or udp_stream=N, where="tcp and port 80"
    print(ladder.render_text())                # terminal; ascii=True, color=True
    svg = ladder.render_svg()                  # one <svg> element, styled inline
    page = ladder.render_html("title")         # a self-contained HTML page
    for arrow in ladder.arrows:                # Arrow: number, time, src/dst column,
        arrow.label, arrow.detail, arrow.phase, arrow.marks, arrow.seq, arrow.ack

    client_bytes, server_bytes, segments = follow(packets, stream=0)   # FollowedStream

Modules, one concept each:

* :mod:`.packets` -- :class:`Observed` (one IP packet: frame number, time, addresses,
  ports, :class:`TcpInfo` / UDP length / :class:`IcmpInfo`), :func:`load`,
  :func:`from_captured`.  Reads with :func:`wirelab.wire.capture.open_capture`, decodes
  with :func:`wirelab.wire.packet.decode_frame`.
* :mod:`.streams` -- :func:`number_streams`: tshark's ``tcp.stream`` / ``udp.stream``
  numbers (order of first appearance of the address/port pair; a new TCP stream when a SYN
  reuses the ports with another initial sequence number).
* :mod:`.analysis` -- per TCP stream, Wireshark's relative seq/ack, calculated window and
  analysis marks (:class:`Mark`: retransmission, fast/spurious retransmission, out-of-order,
  zero window, zero window probe, lost segment, duplicate ACK, keep-alive, ...).
* :mod:`.conversations` -- :func:`conversations`, like ``tshark -z conv,tcp``.
* :mod:`.flow` -- :func:`build_ladder`, :class:`Ladder`, :class:`Arrow`, :class:`Phase`
  (handshake / data / teardown), :func:`tcp_phases`.
* :mod:`.render_text`, :mod:`.render_svg` -- the ladder as text, SVG and HTML.
* :mod:`.follow` -- :func:`follow` / :func:`reassemble` and the sans-IO :class:`Reassembler`:
  bytes by sequence number, retransmissions and overlaps once, reordering undone,
  wraparound handled, holes reported as gaps; :mod:`.dump` shows them as ASCII or hex.
* :mod:`.dissect` (``wirelab dissect``, not part of this API) -- tshark-style packet lines.
* :mod:`.filter` -- :func:`parse_filter`: ``tcp``, ``udp``, ``icmp``, ``[src|dst] host A``,
  ``[src|dst] port N``, ``stream N`` with ``and`` / ``or`` / ``not`` / parentheses.

Errors are :class:`wirelab.errors.WirelabError` subclasses with one-line messages: a file
that is not a capture (``CaptureFormatError``), a stream number that does not exist
(:class:`NoSuchStreamError`, :class:`NoPacketsError`), a filter that does not parse
(:class:`FilterError`).
"""

from __future__ import annotations

from wirelab.observe.analysis import Mark, SegmentAnalysis, StreamAnalyzer, analyse_stream
from wirelab.observe.conversations import Conversation, conversations
from wirelab.observe.filter import Filter, FilterError, parse_filter
from wirelab.observe.flow import Arrow, Ladder, NoPacketsError, Phase, build_ladder, tcp_phases
from wirelab.observe.follow import (
    Chunk,
    FollowedStream,
    Gap,
    NoSuchStreamError,
    Reassembler,
    Side,
    follow,
    reassemble,
)
from wirelab.observe.packets import Capture, IcmpInfo, Observed, TcpInfo, from_captured, load
from wirelab.observe.streams import Streams, number_streams

__all__ = [
    "Arrow", "Capture", "Chunk", "Conversation", "Filter", "FilterError", "FollowedStream",
    "Gap", "IcmpInfo", "Ladder", "Mark", "NoPacketsError", "NoSuchStreamError", "Observed",
    "Phase", "Reassembler", "SegmentAnalysis", "Side", "StreamAnalyzer", "Streams", "TcpInfo",
    "analyse_stream", "build_ladder", "conversations", "follow", "from_captured", "load",
    "number_streams", "parse_filter", "reassemble", "tcp_phases",
]
