"""Protocol hierarchy, streaming: ``tshark -q -z io,phs``.

Each frame adds one frame and its length to every node on its path (``eth``, ``eth/vlan``,
``eth/vlan/ip``, ``eth/vlan/ip/udp``, ``eth/vlan/ip/udp/dns``), with tshark's protocol names.
tshark's path is the list of protocols in the frame's dissection tree, in order; for the
link, network and transport layers we take the same steps it does.  A fragment of a datagram
still incomplete is ``data`` under its IP node, as in tshark; the transport node is counted on
the frame that completes the datagram.

Below tcp/udp tshark goes wherever its port tables (328 UDP and 574 TCP registrations in
4.0) and heuristic dissectors take the payload, and a dissector may still reject the bytes
and leave them to ``data``.  We imitate a part of that, checked against tshark 4.0, and stop
at the transport node where we do not:

- ``dns``: UDP with port 53 on either side and at least a 12-byte header (RFC 1035 4.1.1);
  a shorter payload is tshark's ``_ws.malformed`` under udp.  The message is not decoded
  (speed): tshark's ``dns/_ws.malformed`` for a broken body is not reproduced.
- ``http``: TCP port 80 or 8080, HTTP/1.x messages framed by Content-Length or chunked
  (RFC 9112 sections 6 and 7.1: sizes, extensions, trailer fields), with tshark's
  reassembly: a segment that does not complete a message is bare ``tcp``; the frame
  that completes one is ``http``, then the body's media dissector
  (``data-text-lines`` for text/html, text/plain, text/css; ``json``; ``xml``; ``data`` for
  application/octet-stream; ``media`` for types tshark has no dissector for; nothing for a
  body without a Content-Type -- tshark's tree has a data item there, its phs does not), then
  ``tcp.segments`` when the message took more than one segment.  Responses to HEAD and
  1xx/204/304 have no body; a response to HEAD is framed by its Content-Length like any
  other (so is it by tshark 4.0 in one pass: the next response then counts as body).  On
  other ports (not in ``_OTHERS``) a connection is HTTP from a segment that starts like a
  request or status line on, as tshark's HTTP heuristic decides (Python's http.server on
  port 8000...).  Several messages in one segment give ``http/.../http/...``.
  A response without Content-Length or chunking runs to the close: tshark dissects it on
  the server's FIN, as ``tcp.segments/http/<media>``, and so do we.  An empty body has no
  media node.  Not imitated (the path stops at tcp for the rest of that direction):
  retransmitted or out-of-order segments, payloads that do not start like HTTP, and media
  types with their own dissector (png, gif...: we say ``media``).
- ``icmp/data``: an ICMP error quoting a UDP datagram with payload (a port unreachable
  as Linux sends it); echo payloads have no node (tshark's phs shows none either).
- ``data``: TCP/UDP payload on any other port (not a RST's: tshark calls that the reset
  cause and dissects nothing under tcp), except the ports in ``_OTHERS`` where tshark
  runs a dissector of its own (ssh, tls, ntp, dhcp, vxlan, mdns, rx...): there we stop at the
  transport node.  Caveat: tshark's heuristic dissectors sometimes claim random bytes on an
  arbitrary port (rx, rtcp, quake3 on seeded random payloads): such frames are ``data`` here.
"""

from __future__ import annotations

import struct

from wirelab.monitor.keys import FRAGMENT, TCP, UDP, Keys

_TRANSPORT = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmpv6"}
TRANSPORT = frozenset({"tcp", "udp", "icmp", "icmpv6", "arp", "data"})
"""Nodes below which the hierarchy of earlier versions stopped (tests cut there)."""

_HTTP_PORTS = frozenset({80, 8080})
_DNS_PORT = 53
_OTHERS = {
    TCP: frozenset({20, 21, 22, 23, 25, 53, 110, 111, 119, 135, 139, 143, 179, 389, 443, 445,
                    465, 514, 587, 631, 636, 873, 993, 995, 1433, 1723, 1883, 2049, 3128, 3306,
                    3389, 5060, 5353, 5432, 5672, 5900, 6000, 6001, 6379, 6653, 7000, 8883,
                    9200}),
    UDP: frozenset({67, 68, 69, 123, 137, 138, 161, 162, 500, 514, 520, 1812, 1813, 1900,
                    2152, 3478, 4500, 4789, 5060, 5353, 5355, 6081, 8472}),
}
"""Ports where tshark 4.0 has a dissector we do not imitate (from ``tshark -G decodes``,
the common ones and those of :func:`wirelab.samples.mixed_frames`)."""

_MEDIA = {b"text/html": "data-text-lines", b"text/plain": "data-text-lines",
          b"text/css": "data-text-lines", b"application/json": "json",
          b"application/xml": "xml", b"text/xml": "xml", b"application/octet-stream": "data"}
_METHODS = (b"GET ", b"POST ", b"HEAD ", b"PUT ", b"DELETE ", b"OPTIONS ", b"PATCH ",
            b"CONNECT ", b"TRACE ")
_STARTS = (b"HTTP/1.", *_METHODS)
_ICMP_ERRORS = frozenset({3, 4, 5, 11, 12})  # unreachable, quench, redirect, time, parameter
_OFF_FLAGS = struct.Struct("!12xH")  # TCP data offset and flags (RFC 9293 section 3.1)
_SEQ = struct.Struct("!4xI").unpack_from
_MAX_HEAD = 65536
_HEX = b"0123456789abcdefABCDEF"
_CHUNKED, _TO_CLOSE = -1, -2
"""Body lengths of a chunked body and of one that runs to the connection's close."""
_MAX_STREAMS = 65536


class _HttpSide:
    """One direction of a TCP connection on an HTTP port: where its next message stands."""

    __slots__ = ("next_seq", "head", "left", "media", "segments", "lost", "chunked", "line",
                 "trailer", "to_close", "body")

    def __init__(self) -> None:
        self.next_seq: int | None = None
        self.head = b""  # header bytes of a message whose header is not complete yet
        self.left = 0  # body bytes still to come of the current message (or chunk, + CRLF)
        self.media: str | None = None
        self.segments = 0  # segments of the current message so far
        self.lost = False  # we stopped following this direction (see the module docs)
        self.chunked = False  # in a chunked body (RFC 9112 section 7.1)
        self.line = b""  # the start of a chunk-size or trailer line cut by the segment's end
        self.trailer = False  # past the last chunk: trailer fields until an empty line
        self.to_close = False  # in a response body that ends when the server closes
        self.body = 0  # bytes so far of a chunked body or of one that runs to the close

    @property
    def pending(self) -> bool:
        """Whether a message is under way (its header, body or chunks not all here)."""
        return bool(self.left or self.head or self.chunked or self.to_close)


class Hierarchy:
    """Frames and bytes per protocol path, in the order paths were first seen."""

    def __init__(self) -> None:
        self.paths: dict[tuple[str, ...], list[int]] = {}
        """Frames and bytes per whole path (a frame counts in one); nodes are summed from
        these in :attr:`nodes`, so a frame costs one dict lookup whatever its depth."""
        self._http: dict[tuple[object, ...], _HttpSide] = {}

    def add_frame(self, link: tuple[str, ...], keys: Keys | None, length: int,
                  data: bytes | memoryview = b"") -> None:
        path = link
        if keys is not None:
            if keys.payload == FRAGMENT:
                path += ("data",)
            else:
                name = _TRANSPORT.get(keys.payload)
                if name is not None and (keys.proto or keys.payload not in (6, 17)):
                    path += (name,)
                    if keys.proto:
                        path += self._app(keys, data)
                    elif keys.payload == 1 and keys.other >= 0:
                        path += _icmp_quote(data, keys.other, keys.l4_end)
        counts = self.paths.get(path)
        if counts is None:
            counts = self.paths[path] = [0, 0]
        counts[0] += 1
        counts[1] += length

    @property
    def nodes(self) -> dict[tuple[str, ...], list[int]]:
        """Frames and bytes of every node (each prefix of a path), in first-seen order."""
        nodes: dict[tuple[str, ...], list[int]] = {}
        for path, (frames, size) in self.paths.items():  # first-seen order of whole paths
            for depth in range(1, len(path) + 1):
                node = nodes.get(path[:depth])
                if node is None:
                    node = nodes[path[:depth]] = [0, 0]
                node[0] += frames
                node[1] += size
        return nodes

    def _app(self, keys: Keys, f: bytes | memoryview) -> tuple[str, ...]:
        """The nodes below tcp/udp for this frame (empty where we stop, see module docs)."""
        proto, sport, dport = keys.proto, keys.sport, keys.dport
        pos, end = keys.l4, keys.l4_end
        if pos < 0:  # a datagram reassembled from fragments: its header was in the first
            size = keys.reassembled - 8
        elif proto == UDP:
            pos += 8
            size = end - pos
        else:
            off_flags = _OFF_FLAGS.unpack_from(f, pos)[0]
            if off_flags & 0x04:
                return ()  # tshark shows a RST's payload as its "reset cause", no dissector
            if off_flags & 0x02 and self._http:  # a SYN: a new connection on these ports
                self._http.pop(self._side_key(keys), None)
            start = pos + (off_flags >> 12) * 4
            if start >= end:
                if off_flags & 0x01 and self._http:  # a FIN may end a body: see _closed
                    return self._http_frame(keys, f, pos, start, start, fin=True)
                return ()
            fin = bool(off_flags & 0x01)
            if sport in _HTTP_PORTS or dport in _HTTP_PORTS:
                return self._http_frame(keys, f, pos, start, end, fin)
            if sport in _OTHERS[TCP] or dport in _OTHERS[TCP]:
                return ()
            if self._http and (self._side_key(keys) in self._http
                               or self._side_key(keys, True) in self._http):
                return self._http_frame(keys, f, pos, start, end, fin)  # an HTTP conversation
            if bytes(f[start:start + 8]).startswith(_STARTS):
                return self._http_frame(keys, f, pos, start, end, fin)  # tshark's heuristic
            return ("data",)
        if size <= 0:
            return ()
        if proto == UDP and _DNS_PORT in (sport, dport):
            return ("dns",) if size >= 12 else ("_ws.malformed",)
        if sport in _OTHERS[proto] or dport in _OTHERS[proto]:
            return ()
        return ("data",)

    @staticmethod
    def _side_key(keys: Keys, reverse: bool = False) -> tuple[object, ...]:
        if reverse:
            return (keys.family, keys.dst, keys.dport, keys.src, keys.sport)
        return (keys.family, keys.src, keys.sport, keys.dst, keys.dport)

    def _http_frame(self, keys: Keys, f: bytes | memoryview, tcp: int, pos: int,
                    end: int, fin: bool = False) -> tuple[str, ...]:
        key = self._side_key(keys)
        side = self._http.get(key)
        if side is None:
            if pos == end:  # a bare FIN of a connection we are not following
                return ()
            if len(self._http) >= _MAX_STREAMS:
                del self._http[next(iter(self._http))]
            side = self._http[key] = _HttpSide()
        seq = _SEQ(f, tcp)[0]
        if side.lost or (side.next_seq is not None and seq != side.next_seq):
            side.lost = True  # a retransmission or a gap: tshark's analysis is not imitated
            return ()
        side.next_seq = (seq + end - pos + fin) & 0xFFFFFFFF
        out = _feed(side, bytes(f[pos:end])) if end > pos else ()
        if out is None:
            side.lost = True
            return ()
        if fin:
            out += _closed(side)
        return out

    def rows(self) -> list[dict[str, object]]:
        """Depth-first, children in first-seen order (tshark's order)."""
        return rows(self.nodes)


def _icmp_quote(f: bytes | memoryview, pos: int, end: int) -> tuple[str, ...]:
    """``data`` under an ICMP error that quotes a UDP datagram with payload (RFC 792: the
    quote is the IP header and at least 8 bytes; Linux quotes up to 576 bytes), as tshark's
    phs shows it; nothing otherwise (quotes of other protocols are not imitated)."""
    if end - pos < 28 or f[pos] not in _ICMP_ERRORS:
        return ()
    quoted = pos + 8
    if f[quoted] >> 4 != 4 or f[quoted + 9] != UDP:
        return ()
    return ("data",) if end > quoted + (f[quoted] & 15) * 4 + 8 else ()


def _feed(side: _HttpSide, payload: bytes) -> tuple[str, ...] | None:
    """Frame the segment ``payload`` into messages; the frame's nodes, or None if lost."""
    side.segments += 1
    out: tuple[str, ...] = ()
    while payload:
        if side.to_close:  # every byte up to the FIN is body
            side.body += len(payload)
            break
        if side.chunked:
            done, payload = _chunks(side, payload)
            if done is None:
                return None
            if not done:
                break
        else:
            if not side.left:  # a message starts, or its header continues
                if not side.head and not payload.startswith(_STARTS):
                    return None
                head = side.head + payload
                cut = head.find(b"\r\n\r\n")
                if cut < 0:
                    if len(head) > _MAX_HEAD:
                        return None
                    side.head = head
                    break
                side.head, payload = b"", head[cut + 4:]
                framing = _framing(head[:cut])
                if framing is None:
                    return None
                side.left, side.media = framing
                if side.left == _CHUNKED:  # the chunks follow
                    side.left, side.chunked, side.body = 0, True, 0
                    continue
                if side.left == _TO_CLOSE:
                    side.left, side.to_close, side.body = 0, True, len(payload)
                    break
            take = min(side.left, len(payload))
            side.left -= take
            payload = payload[take:]
            if side.left:
                break
        out += ("http",) + ((side.media,) if side.media else ())
        if side.segments > 1:
            out += ("tcp.segments",)
        side.segments = 1  # a next message would start in this segment
    if out and side.pending:
        return None  # a message complete, the next one cut: not checked against tshark
    if not side.pending:
        side.segments = 0
    return out


def _closed(side: _HttpSide) -> tuple[str, ...]:
    """The nodes a FIN adds: a response whose body runs to the close (no Content-Length, not
    chunked; RFC 9112 section 6.3) is complete now.  tshark dissects it on the FIN frame,
    under ``tcp.segments`` even when it came in one segment, with no media node when the
    body is empty."""
    if not side.to_close:
        return ()
    side.to_close, side.segments = False, 0
    return ("tcp.segments", "http") + ((side.media,) if side.media and side.body else ())


def _chunks(side: _HttpSide, payload: bytes) -> tuple[bool | None, bytes]:
    """Read a chunked body (RFC 9112 section 7.1) from ``payload``: (whether the message
    ended here, None if the chunks do not parse; the bytes after its end).

    A chunk is a hex size (extensions after ``;`` ignored), CRLF, that many bytes, CRLF; a
    chunk of size 0 ends the body, then trailer fields, then an empty line.  tshark
    reassembles such a body as one message, on the frame with its last line.
    """
    while True:
        if side.left:  # inside a chunk's data and its CRLF
            take = min(side.left, len(payload))
            side.left -= take
            payload = payload[take:]
            if side.left:
                return False, b""
        data = side.line + payload
        cut = data.find(b"\r\n")
        if cut < 0:
            if len(data) > _MAX_HEAD:
                return None, b""
            side.line = data
            return False, b""
        line, payload, side.line = data[:cut], data[cut + 2:], b""
        if side.trailer:
            if not line:  # the empty line after the trailer: the message is complete
                side.trailer = side.chunked = False
                if not side.body:
                    side.media = None  # no chunk had data: no media node (tshark)
                return True, payload
            continue
        size = line.split(b";", 1)[0].strip()
        if not size or size.strip(_HEX):
            return None, b""
        if int(size, 16) == 0:
            side.trailer = True
        else:
            side.left = int(size, 16) + 2
            side.body += side.left - 2


def _framing(head: bytes) -> tuple[int, str | None] | None:
    """(body length, media node) of a message with this header; the length is _CHUNKED or
    _TO_CLOSE for those bodies.  None if the header does not parse."""
    lines = head.split(b"\r\n")
    start = lines[0]
    fields: dict[bytes, bytes] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep:
            return None
        fields[name.strip().lower()] = value.strip()
    chunked = False
    if b"transfer-encoding" in fields:
        # chunked must be the last coding (RFC 9112 6.1); else a response runs to the close
        codings = fields[b"transfer-encoding"].lower().split(b",")
        if codings[-1].strip() != b"chunked":
            return (_TO_CLOSE, None) if start.startswith(b"HTTP/1.") else None
        chunked = True
    if start.startswith(b"HTTP/1."):
        parts = start.split(b" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            return None
        status = int(parts[1])
        if 100 <= status < 200 or status in (204, 304):
            return 0, None
    ctype = fields.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
    media = _MEDIA.get(ctype, "media") if ctype else None
    if chunked:  # Transfer-Encoding overrides Content-Length (RFC 9112 6.3)
        return _CHUNKED, media
    if start.startswith(b"HTTP/1.") and b"content-length" not in fields:
        return _TO_CLOSE, media
    length_text = fields.get(b"content-length", b"0")
    if not length_text.isdigit():
        return None
    length = int(length_text)
    return (length, media) if length else (0, None)


def rows(nodes: dict[tuple[str, ...], list[int]]) -> list[dict[str, object]]:
    """Depth-first, children in first-seen order (tshark's order)."""
    children: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
    for path in nodes:
        children.setdefault(path[:-1], []).append(path)
    out: list[dict[str, object]] = []

    def walk(parent: tuple[str, ...]) -> None:
        for path in children.get(parent, []):
            frames, size = nodes[path]
            out.append({"path": "/".join(path), "protocol": path[-1],
                        "depth": len(path) - 1, "frames": frames, "bytes": size})
            walk(path)

    walk(())
    return out


def render(rows: list[dict[str, object]]) -> str:
    """tshark's layout: two spaces per level, frames and bytes."""
    lines = ["Protocol hierarchy"]
    for r in rows:
        name = "  " * int(r["depth"]) + str(r["protocol"])  # type: ignore[call-overload]
        lines.append(f"{name:<40} frames:{r['frames']} bytes:{r['bytes']}")
    return "\n".join(lines)
