"""Conversations, streaming: the numbers of ``tshark -z conv,ip|ipv6|tcp|udp``.

A conversation is an unordered pair of endpoints (addresses, plus ports for TCP and UDP).
As in tshark, endpoint A is the source of its first packet; "A->B" counts the frames and frame
bytes (the length on the wire, ``frame.len``) A sent; the start is relative to the capture's
first frame.  :mod:`wirelab.observe.conversations` lists the same TCP/UDP pairs with stream
numbers and handshake details, from decoded packets held in memory; this one keeps one small
record per pair and reads headers on the fast path, so it runs on captures of any length.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from wirelab.monitor.keys import IPV4, IPV6, TCP, UDP, Keys

KINDS = ("ip", "ipv6", "tcp", "udp")
_PROTO = {"tcp": TCP, "udp": UDP}
_FAMILY = {"ip": IPV4, "ipv6": IPV6}

Endpoint = tuple[bytes, int]  # address bytes, port (0 for ip/ipv6)


def endpoints_of(kind: str, keys: Keys) -> tuple[Endpoint, Endpoint] | None:
    """The (source, destination) endpoints a frame counts for in a ``kind`` table, or None.

    ``ip``/``ipv6`` tables key on addresses alone, ``tcp``/``udp`` on address and port; a
    frame tshark's tap does not count (``keys.tapped`` false) counts for no table.
    """
    if not keys.tapped:
        return None
    if kind in _FAMILY:
        if keys.family != _FAMILY[kind]:
            return None
        return (keys.src, 0), (keys.dst, 0)
    if keys.proto != _PROTO[kind]:
        return None
    return (keys.src, keys.sport), (keys.dst, keys.dport)


@dataclass(slots=True)
class Conversation:
    """One pair's counters; times in integer nanoseconds since the epoch."""

    a: Endpoint
    b: Endpoint
    first_ns: int
    last_ns: int = 0
    frames_ab: int = 0
    bytes_ab: int = 0
    frames_ba: int = 0
    bytes_ba: int = 0


def format_endpoint(family: int, ep: Endpoint, with_port: bool) -> str:
    """``198.18.0.1:53`` / ``2001:db8::1:53`` (tshark's spelling), or the bare address."""
    addr = socket.inet_ntop(socket.AF_INET if family == IPV4 else socket.AF_INET6, ep[0])
    return f"{addr}:{ep[1]}" if with_port else addr


class ConversationTable:
    """Accumulates the conversations of one kind (``ip``, ``ipv6``, ``tcp`` or ``udp``)."""

    def __init__(self, kind: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown conversation kind {kind!r}")
        self.kind = kind
        self.convs: dict[tuple[bytes, int, bytes, int], Conversation] = {}
        self._families: dict[bytes, int] = {}

    def add(self, keys: Keys, ts_ns: int, length: int) -> None:
        """Count one frame whose headers gave ``keys``.

        The hot path of ``wirelab stats conv``: the test of :func:`endpoints_of` inlined,
        the pair's counters updated in place.
        """
        if not keys.tapped:
            return
        kind = self.kind
        if kind in _FAMILY:
            if keys.family != _FAMILY[kind]:
                return
            src, sport, dst, dport = keys.src, 0, keys.dst, 0
        else:
            if keys.proto != _PROTO[kind]:
                return
            src, sport, dst, dport = keys.src, keys.sport, keys.dst, keys.dport
        # one flat key per unordered pair: fewer tuples to build and hash than ((a, p), (b, q))
        if src < dst or src == dst and sport <= dport:
            pair = (src, sport, dst, dport)
        else:
            pair = (dst, dport, src, sport)
        conv = self.convs.get(pair)
        if conv is None:
            conv = self.convs[pair] = Conversation((src, sport), (dst, dport), ts_ns)
            self._families[src] = keys.family
        conv.last_ns = ts_ns
        if src == conv.a[0] and sport == conv.a[1]:
            conv.frames_ab += 1
            conv.bytes_ab += length
        else:
            conv.frames_ba += 1
            conv.bytes_ba += length

    def rows(self, origin_ns: int) -> list[dict[str, object]]:
        """One dict per conversation, most frames first (tshark's order for ties aside)."""
        ports = self.kind in _PROTO
        names: dict[bytes, str] = {}  # inet_ntop once per address, not twice per row
        families = self._families

        def name(ep: Endpoint, family: int) -> str:
            addr = names.get(ep[0])
            if addr is None:
                af = socket.AF_INET if family == IPV4 else socket.AF_INET6
                addr = names[ep[0]] = socket.inet_ntop(af, ep[0])
            return f"{addr}:{ep[1]}" if ports else addr

        out = []
        for conv in sorted(self.convs.values(), key=lambda c: -(c.frames_ab + c.frames_ba)):
            family = families[conv.a[0]]
            out.append({
                "a": name(conv.a, family), "b": name(conv.b, family),
                "frames_ab": conv.frames_ab, "bytes_ab": conv.bytes_ab,
                "frames_ba": conv.frames_ba, "bytes_ba": conv.bytes_ba,
                "frames": conv.frames_ab + conv.frames_ba,
                "bytes": conv.bytes_ab + conv.bytes_ba,
                "rel_start": (conv.first_ns - origin_ns) / 1e9,
                "duration": (conv.last_ns - conv.first_ns) / 1e9,
            })
        return out


def render(kind: str, rows: list[dict[str, object]]) -> str:
    """A fixed-width table in the spirit of tshark's, one row per conversation."""
    head = (f"{'A':<40} {'B':<40} {'A->B fr':>8} {'A->B bytes':>11} {'B->A fr':>8} "
            f"{'B->A bytes':>11} {'frames':>7} {'bytes':>10} {'rel start':>12} {'duration':>10}")
    lines = [f"{kind.upper()} conversations: {len(rows)}", head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['a']!s:<40} {r['b']!s:<40} {r['frames_ab']:>8} {r['bytes_ab']:>11} "
            f"{r['frames_ba']:>8} {r['bytes_ba']:>11} {r['frames']:>7} {r['bytes']:>10} "
            f"{r['rel_start']:>12.6f} {r['duration']:>10.4f}")
    return "\n".join(lines)
