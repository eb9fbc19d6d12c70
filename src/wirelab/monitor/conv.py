"""Conversations, streaming: the numbers of ``tshark -z conv,ip|ipv6|tcp|udp``.

A conversation is an unordered pair of endpoints (addresses, plus ports for TCP and UDP).
As in tshark, endpoint A is the source of its first packet; "A->B" counts the frames and frame
bytes (the length on the wire, ``frame.len``) A sent; the start is relative to the capture's
first frame.  :mod:`wirelab.observe.conversations` lists the same TCP/UDP pairs with stream
numbers and handshake details, from decoded packets held in memory; this one keeps a few
counters per pair and reads headers on the fast path, so it runs on captures of any length.
"""

from __future__ import annotations

import operator
import socket
import struct
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar, cast

from wirelab.monitor.keys import IPV4, IPV6, TCP, UDP, Keys

KINDS = ("ip", "ipv6", "tcp", "udp")
FIELDS = ("a", "b", "frames_ab", "bytes_ab", "frames_ba", "bytes_ba", "frames", "bytes",
          "rel_start", "duration")
"""A conversation row's names: endpoints A and B (A sent the first frame), frames and bytes
each way and in all, start (seconds after the capture's first frame) and duration."""
_PROTO = {"tcp": TCP, "udp": UDP}
_FAMILY = {"ip": IPV4, "ipv6": IPV6}

Endpoint = tuple[bytes, int]  # address bytes, port (0 for ip/ipv6)
KeysOf = Callable[[bytes, int], "Keys | None"]  # KeyReader.read: (frame, linktype) -> keys
_ETH_IP4 = struct.Struct("!14xBxH8x4s4s").unpack_from  # version/IHL, total length, addresses
T = TypeVar("T")


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


def printed_duration(rel_start: float, duration: float) -> float:
    """The duration as tshark computes it before printing it with 4 decimals.

    tshark subtracts two relative times, each made a double as seconds + nanoseconds / 1e9
    (``nstime_to_sec``): 7.467028 - 7.465578 is 0.0014500000000001734 that way, printed
    0.0015, while the exact 1.45 ms (our ``duration``, 1,450,000 ns / 1e9: the double
    nearest 0.00145, a hair below it) prints 0.0014.  The table printed here uses tshark's
    arithmetic, so its figures are tshark's; ``--json`` keeps the exact duration.  The
    nanoseconds are recovered exactly from the two floats for captures shorter than ~100
    days (2**53 ns).
    """
    start_ns = round(rel_start * 1e9)
    return _seconds(start_ns + round(duration * 1e9)) - _seconds(start_ns)


def _seconds(ns: int) -> float:
    if ns < 0:
        return -_seconds(-ns)
    whole, frac = divmod(ns, 1_000_000_000)
    return whole + frac / 1e9


def format_endpoint(family: int, ep: Endpoint, with_port: bool) -> str:
    """``198.18.0.1:53`` / ``2001:db8::1:53`` (tshark's spelling), or the bare address."""
    addr = socket.inet_ntop(socket.AF_INET if family == IPV4 else socket.AF_INET6, ep[0])
    return f"{addr}:{ep[1]}" if with_port else addr


class ConversationTable:
    """Accumulates the conversations of one kind (``ip``, ``ipv6``, ``tcp`` or ``udp``).

    The counters live in typed arrays indexed by conversation number, not in one object per
    conversation.  Why: a Python int is an object, and a counter that changes gets a new one;
    one object per conversation, reallocated at every frame among the batch's short-lived
    packets, pins memory pages the allocator cannot give back, and the peak grew with the
    capture's length (+6 MB from 360,000 to 1.08M frames with the same 96,879
    conversations).  A C ``int64`` in an array is updated in place: once every conversation
    is known, memory stays where it is, however long the capture.
    """

    def __init__(self, kind: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown conversation kind {kind!r}")
        self.kind = kind
        self._ports = kind in _PROTO
        self._want = _PROTO[kind] if self._ports else _FAMILY[kind]
        self._index: dict[tuple[object, ...], int] = {}
        self._pairs: list[tuple[object, ...]] = []  # the index's keys, by number
        self._a_low = bytearray()  # 1: endpoint A (the first sender) is the pair's lower one
        self._family = bytearray()
        self._first_ns = array("q")
        self._last_ns = array("q")
        self._frames_ab = array("q")
        self._bytes_ab = array("q")
        self._frames_ba = array("q")
        self._bytes_ba = array("q")

    def __len__(self) -> int:
        return len(self._pairs)

    def add(self, keys: Keys, ts_ns: int, length: int) -> None:
        """Count one frame whose headers gave ``keys``.

        The general path (see :meth:`feed` for the fast one): the test of
        :func:`endpoints_of` inlined, one flat key per unordered pair (lower endpoint
        first), the counters updated in place.  ``ip``/``ipv6`` tables key on the two
        addresses alone.
        """
        family, src, dst, proto, sport, dport, _, tapped, _, _, _, _ = keys
        if not tapped:
            return
        if self._ports:
            if proto != self._want:
                return
            low = src < dst or src == dst and sport <= dport
            pair: tuple[object, ...] = (
                (src, sport, dst, dport) if low else (dst, dport, src, sport))
        else:
            if family != self._want:
                return
            low = src <= dst
            pair = (src, dst) if low else (dst, src)
        self._count(pair, low, family, ts_ns, length)

    def feed(self, batch: Iterable[tuple[int, int, bytes, int]], read: KeysOf) -> None:
        """Count a source's batch of ``(ts_ns, linktype, frame, length)`` packets.

        The fast path of ``conv ip``: an Ethernet frame carrying IPv4 has its two addresses
        read here with one ``struct`` call, after the checks :class:`~.keys.KeyReader`
        makes (version 4, header and total length consistent, the datagram inside the
        frame); every IPv4 frame is tapped, fragments too, so nothing else is needed.  Any
        other frame (VLAN tags, IPv6 and its fragments, other link types) and every frame
        of the other tables goes through ``read`` (a KeyReader's) and :meth:`add`.
        """
        count, add, ip4, fast = self._count, self.add, _ETH_IP4, self.kind == "ip"
        for ts_ns, linktype, frame, length in batch:
            if fast and linktype == 1 and len(frame) >= 34 and frame[12] == 8 and frame[13] == 0:
                vihl, total, src, dst = ip4(frame)
                if vihl >> 4 == 4 and 20 <= (vihl & 15) * 4 <= total <= len(frame) - 14:
                    low = src <= dst
                    count((src, dst) if low else (dst, src), low, IPV4, ts_ns, length)
                continue
            keys = read(frame, linktype)
            if keys is not None:
                add(keys, ts_ns, length)

    def _count(self, pair: tuple[object, ...], low: bool, family: int, ts_ns: int,
               length: int) -> None:
        """Add a frame to the conversation ``pair`` (sent by its lower end if ``low``)."""
        i = self._index.get(pair)
        if i is None:
            i = self._index[pair] = self._new(pair, family, low, ts_ns)
        self._last_ns[i] = ts_ns
        if low == self._a_low[i]:
            self._frames_ab[i] += 1
            self._bytes_ab[i] += length
        else:
            self._frames_ba[i] += 1
            self._bytes_ba[i] += length

    def _new(self, pair: tuple[object, ...], family: int, low: bool, ts_ns: int) -> int:
        """Number a new conversation; ``low``: its first frame came from the lower end."""
        self._pairs.append(pair)  # the key itself: one tuple a conversation, not two
        self._a_low.append(low)
        self._family.append(family)
        self._first_ns.append(ts_ns)
        for counters in (self._last_ns, self._frames_ab, self._bytes_ab, self._frames_ba,
                         self._bytes_ba):
            counters.append(0)
        return len(self._pairs) - 1

    def rows(self, origin_ns: int) -> Iterator[dict[str, object]]:
        """One dict per conversation (keys :data:`FIELDS`), most frames first (tshark's
        order for ties aside).

        Made one at a time as they are read: a table of 100,000 conversations written out
        as JSON or text never exists as 100,000 dicts at once.
        """
        for values in self.values(origin_ns):
            yield dict(zip(FIELDS, values, strict=True))

    def values(self, origin_ns: int) -> Iterator[tuple[str | int | float, ...]]:
        """The rows as tuples in the order of :data:`FIELDS` (no dict a row: the JSON writer
        formats them straight into text)."""
        ports = self._ports
        names: dict[bytes, str] = {}  # inet_ntop once per address, not twice per row

        def name(addr: bytes, port: int, family: int) -> str:
            text = names.get(addr)
            if text is None:
                af = socket.AF_INET if family == IPV4 else socket.AF_INET6
                text = names[addr] = socket.inet_ntop(af, addr)
            return f"{text}:{port}" if ports else text

        frames_ab, frames_ba = self._frames_ab, self._frames_ba
        order = sorted(range(len(self)), key=lambda i: -(frames_ab[i] + frames_ba[i]))
        columns = (self._pairs, self._a_low, self._family, self._first_ns, self._last_ns,
                   frames_ab, self._bytes_ab, frames_ba, self._bytes_ba)
        for start in range(0, len(order), _GATHER):  # a slice at a time: memory stays put
            part = order[start:start + _GATHER]
            for pair, a_low, family, first, last, fab, bab, fba, bba in zip(
                    *(_pick(column, part) for column in columns), strict=True):
                if ports:
                    lo, lo_port, hi, hi_port = cast("tuple[bytes, int, bytes, int]", pair)
                else:
                    (lo, hi), lo_port, hi_port = cast("tuple[bytes, bytes]", pair), 0, 0
                a, b = name(lo, lo_port, family), name(hi, hi_port, family)
                yield ((a, b) if a_low else (b, a)) + (
                    fab, bab, fba, bba, fab + fba, bab + bba, (first - origin_ns) / 1e9,
                    (last - first) / 1e9)


_GATHER = 4096
"""Rows whose columns are gathered at once: an array's values become Python ints only a
slice at a time."""


def _pick(column: Sequence[T], order: list[int]) -> tuple[T, ...]:
    """``column``'s items in ``order``, gathered in C (one itemgetter call, no loop)."""
    if len(order) == 1:
        return (column[order[0]],)
    return operator.itemgetter(*order)(column) if order else ()


def render(kind: str, count: int, rows: Iterable[dict[str, object]]) -> Iterator[str]:
    """The lines of a fixed-width table in the spirit of tshark's, one per conversation."""
    head = (f"{'A':<40} {'B':<40} {'A->B fr':>8} {'A->B bytes':>11} {'B->A fr':>8} "
            f"{'B->A bytes':>11} {'frames':>7} {'bytes':>10} {'rel start':>12} {'duration':>10}")
    yield from (f"{kind.upper()} conversations: {count}", head, "-" * len(head))
    for r in rows:
        yield (
            f"{r['a']!s:<40} {r['b']!s:<40} {r['frames_ab']:>8} {r['bytes_ab']:>11} "
            f"{r['frames_ba']:>8} {r['bytes_ba']:>11} {r['frames']:>7} {r['bytes']:>10} "
            f"{r['rel_start']:>12.6f} "
            f"{printed_duration(r['rel_start'], r['duration']):>10.4f}")  # type: ignore[arg-type]
