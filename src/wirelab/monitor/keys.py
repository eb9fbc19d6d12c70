"""Addresses and ports of a frame read with struct at absolute offsets, no header objects.

What tshark's conversation and endpoint taps see for a frame: the outermost IPv4 or IPv6
header's addresses, and the TCP or UDP ports of the segment it carries.  A fragmented
datagram (RFC 791 section 3.2, RFC 8200 section 4.5) has its transport header read only once
all of its fragments arrived, and is counted on the frame that completed it -- which is where
tshark, reassembling by default, dissects the transport layer.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from wirelab.wire._fields import Buf

IPV4, IPV6 = 4, 6
TCP, UDP = 6, 17
FRAGMENT = -1
"""``Keys.payload`` of a fragment whose datagram is still incomplete (no transport here)."""

_U16 = struct.Struct("!H").unpack_from
_IP4 = struct.Struct("!BxHHHxB2x4s4s").unpack_from  # vihl, tl, id, ff, proto, src, dst
_IP6 = struct.Struct("!B3xHB1x16s16s").unpack_from  # vtc, plen, nh, src, dst
_PORTS = struct.Struct("!HH").unpack_from
_FRAG6 = struct.Struct("!BxHI").unpack_from  # next header, offset/M, identification
_VLAN_TPIDS = frozenset({0x8100, 0x88A8, 0x9100})
_IP6_EXT = frozenset({0, 43, 60})  # hop-by-hop, routing, destination options
_MAX_PENDING = 4096
"""Datagrams awaiting fragments we keep at most; the oldest is dropped beyond (bounded memory)."""


class Keys(NamedTuple):
    """What one frame contributes: ``proto`` 0 when no TCP/UDP header is counted here."""

    family: int  # IPV4 or IPV6
    src: bytes
    dst: bytes
    proto: int  # TCP, UDP or 0
    sport: int
    dport: int
    payload: int
    """The IP protocol number dissected in this frame, or FRAGMENT."""
    tapped: bool = True
    """Whether tshark's ip/ipv6 conversation and endpoint taps count this frame (see
    ``KeyReader._fragment``)."""
    l4: int = -1
    """Offset of the TCP/UDP header in this frame; -1 when it is not here (a reassembled
    datagram's header was in its first fragment)."""
    l4_end: int = 0
    """End of the IP payload in this frame."""
    reassembled: int = 0
    """Length of the transport segment of a datagram reassembled in this frame (``l4`` is
    then -1), else 0."""
    other: int = -1
    """Offset of the IP payload when it is neither TCP nor UDP (ICMP...), with ``l4_end``
    its end; else -1."""


_new = tuple.__new__
_ETH_IP, _ETH_IPV6 = ("eth", "ip"), ("eth", "ipv6")


class _Pending:
    __slots__ = ("have", "total", "ports")

    def __init__(self) -> None:
        self.have = 0
        self.total: int | None = None
        self.ports: tuple[int, int] | None = None


class KeyReader:
    """Reads :class:`Keys` from frames in capture order, tracking fragmented datagrams."""

    def __init__(self) -> None:
        self._pending: dict[tuple[object, ...], _Pending] = {}

    def read(self, f: Buf, linktype: int) -> Keys | None:
        """The keys of ``f``, or None for a frame without an IP header we can read."""
        return self.read_frame(f, linktype)[1]

    def read_frame(self, f: Buf, linktype: int) -> tuple[tuple[str, ...], Keys | None]:
        """The link-layer protocol names (tshark's: eth, vlan, arp, ...) and the keys."""
        try:
            if linktype == 1 and len(f) >= 14:  # the usual case, without the calls below
                etype = _U16(f, 12)[0]
                if etype == 0x0800:
                    return _ETH_IP, self._ipv4(f, 14)
                if etype == 0x86DD:
                    return _ETH_IPV6, self._ipv6(f, 14)
            start = _network_start(f, linktype)
            if start is None:
                return (), None
            link, etype, off = start
            if etype == 0x0800:
                return link + ("ip",), self._ipv4(f, off)
            if etype == 0x86DD:
                return link + ("ipv6",), self._ipv6(f, off)
            if etype == 0x0806:
                return link + ("arp",), None
            return link, None
        except (IndexError, struct.error):
            return (), None

    def _ipv4(self, f: Buf, off: int) -> Keys | None:
        vihl, tl, ident, ff, proto, src, dst = _IP4(f, off)
        hl = (vihl & 15) << 2
        if vihl >> 4 != 4 or hl < 20 or tl < hl or off + tl > len(f):
            return None
        end = off + tl
        frag_off = (ff & 0x1FFF) << 3
        more = ff & 0x2000
        if not frag_off and not more:
            pos = off + hl
            if proto == TCP and end - pos >= 20 or proto == UDP and end - pos >= 8:
                sport, dport = _PORTS(f, pos)
                return _new(Keys, (IPV4, src, dst, proto, sport, dport, proto, True, pos, end,
                                   0, -1))
            return _transport(f, IPV4, src, dst, proto, pos, end)
        key = (IPV4, src, dst, ident, proto)
        return self._fragment(f, key, Keys(IPV4, src, dst, 0, 0, 0, proto), proto, frag_off,
                              bool(more), off + hl, end, whole=False)

    def _ipv6(self, f: Buf, off: int) -> Keys | None:
        vtc, plen, nh, src, dst = _IP6(f, off)
        if vtc >> 4 != 6:
            return None
        pos = off + 40
        end = min(pos + plen, len(f))
        while nh in _IP6_EXT or nh == 44:
            if nh == 44:
                nxt, offm, ident = _FRAG6(f, pos)
                frag_off, more = offm & 0xFFF8, offm & 1
                key = (IPV6, src, dst, ident)
                return self._fragment(f, key, Keys(IPV6, src, dst, 0, 0, 0, nxt), nxt, frag_off,
                                      bool(more), pos + 8, end, whole=True)
            nh, size = f[pos], (f[pos + 1] + 1) * 8
            pos += size
        return _transport(f, IPV6, src, dst, nh, pos, end)

    def _fragment(self, f: Buf, key: tuple[object, ...], bare: Keys, proto: int,
                  frag_off: int, more: bool, pos: int, end: int, whole: bool) -> Keys:
        """Count a fragment's bytes; the frame completing a datagram carries its ports.

        ``whole``: the network layer too counts only the completing frame.  tshark's IPv6
        dissector taps a fragmented datagram once, after reassembly; its IPv4 dissector taps
        every fragment.
        """
        if proto not in (TCP, UDP) and not whole:
            return bare._replace(payload=FRAGMENT)
        entry = self._pending.get(key)
        if entry is None:
            if len(self._pending) >= _MAX_PENDING:
                del self._pending[next(iter(self._pending))]
            entry = self._pending[key] = _Pending()
        entry.have += end - pos
        if frag_off == 0 and end - pos >= 4:
            entry.ports = _PORTS(f, pos)
        if not more:
            entry.total = frag_off + end - pos
        if entry.total is None or entry.have < entry.total:
            return bare._replace(payload=FRAGMENT, tapped=not whole)
        del self._pending[key]
        if proto not in (TCP, UDP) or entry.ports is None:
            return bare
        return Keys(bare.family, bare.src, bare.dst, proto, *entry.ports, proto,
                    reassembled=entry.total)


def _transport(f: Buf, family: int, src: bytes, dst: bytes, proto: int, pos: int,
               end: int) -> Keys:
    if proto == TCP and end - pos >= 20 or proto == UDP and end - pos >= 8:
        sport, dport = _PORTS(f, pos)
        # tuple.__new__: a NamedTuple's own __new__ is a Python function (the hot path)
        return _new(Keys, (family, src, dst, proto, sport, dport, proto, True, pos, end, 0, -1))
    return _new(Keys, (family, src, dst, 0, 0, 0, proto, True, -1, end, 0, pos))


def _network_start(f: Buf, linktype: int) -> tuple[tuple[str, ...], int, int] | None:
    """(link protocol names, EtherType, offset) of the network header."""
    if linktype == 1:
        if len(f) < 14:
            return None
        link: tuple[str, ...] = ("eth",)
        etype, off = _U16(f, 12)[0], 14
        while etype in _VLAN_TPIDS:
            link += ("vlan",)
            etype, off = _U16(f, off + 2)[0], off + 4
        return link, etype, off
    if linktype == 113:  # Linux cooked capture (SLL)
        return (("sll",), _U16(f, 14)[0], 16) if len(f) >= 16 else None
    if linktype in (101, 228, 229) and f:
        version = f[0] >> 4
        return ("raw",), (0x0800 if version == 4 else 0x86DD if version == 6 else 0), 0
    return None
