"""The fast path: name the highest protocol of a frame without building header objects.

This is what the live counter (curriculum 2.3) and the monitor run on every packet, so it reads
only the few fields it needs with precompiled Structs and ``unpack_from`` at absolute offsets
and picks the next step by comparing or looking up integers.

Categories, highest first, as the curriculum's counter checks them:

* ``HTTP``: TCP with port 80 or 8080 on either side and a payload that starts like an HTTP/1
  request line (a method and a space) or a status line (``HTTP/1.``);
* ``DNS``: UDP or TCP with port 53 on either side (the port decides; the message is not read);
* ``ICMP``: ICMP over IPv4 *and ICMPv6 over IPv6* -- a ping is a ping whatever the IP
  version, and the counter's categories have no ICMPv6 bucket;
* ``TCP``, ``UDP``: any other segment or datagram, over IPv4 or IPv6;
* ``OTHER_IP``: IPv4 carrying anything else, or a non-first fragment (no transport header);
* ``IPV6``: IPv6 carrying anything else (or a non-first fragment);
* ``ARP``; ``OTHER``: everything else, including any frame whose headers are malformed.

The answer agrees with :func:`wirelab.wire.packet.decode_frame`: a layer counts only if it
would decode (same length and version checks), so a truncated TCP header makes the packet
``OTHER_IP``, a broken IPv4 header makes it ``OTHER``.  One documented difference: TCP options
are not examined here, so a segment whose options are malformed is still ``TCP`` while
``decode_frame`` reports the error.  ``classify`` never raises, whatever it is given.
"""

from __future__ import annotations

import struct
from enum import IntEnum

from wirelab.wire._fields import Buf


class Proto(IntEnum):
    """What :func:`classify` answers; ``label`` is the curriculum counter's name for it."""

    HTTP = 0
    DNS = 1
    ICMP = 2
    TCP = 3
    UDP = 4
    OTHER_IP = 5
    ARP = 6
    IPV6 = 7
    OTHER = 8

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {Proto.HTTP: "HTTP", Proto.DNS: "DNS", Proto.ICMP: "ICMP", Proto.TCP: "TCP",
           Proto.UDP: "UDP", Proto.OTHER_IP: "Other IP", Proto.ARP: "ARP", Proto.IPV6: "IPv6",
           Proto.OTHER: "Other"}

HTTP = Proto.HTTP
DNS = Proto.DNS
ICMP = Proto.ICMP
TCP = Proto.TCP
UDP = Proto.UDP
OTHER_IP = Proto.OTHER_IP
ARP = Proto.ARP
IPV6 = Proto.IPV6
OTHER = Proto.OTHER

HTTP_PORTS = frozenset({80, 8080})
DNS_PORT = 53
HTTP_STARTS = (b"GET ", b"POST ", b"HEAD ", b"PUT ", b"DELETE ", b"OPTIONS ", b"PATCH ",
               b"CONNECT ", b"TRACE ", b"HTTP/1.")
"""Request methods of RFC 9110 section 9 and RFC 5789, and the HTTP/1 status-line start."""

_U16 = struct.Struct("!H").unpack_from
_IP4 = struct.Struct("!B1xH2xHxB").unpack_from  # version/ihl, total_length, flags/frag, proto
_IP6 = struct.Struct("!B3xHB").unpack_from  # version/tc, payload_length, next_header
_PORTS_OFF = struct.Struct("!HH8xB").unpack_from  # sport, dport, data offset
_UDP_HDR = struct.Struct("!HHH").unpack_from  # sport, dport, length
_ARP_LENS = struct.Struct("!4xBB").unpack_from  # hwlen, plen

_VLAN_TPIDS = frozenset({0x8100, 0x88A8, 0x9100})
_IP6_EXT = frozenset({0, 43, 60})  # hop-by-hop, routing, destination options: (len+1)*8
_AH, _FRAG = 51, 44


def _tcp(f: Buf, off: int, end: int, fallback: Proto) -> Proto:
    if end - off < 20:
        return fallback
    sport, dport, offres = _PORTS_OFF(f, off)
    hl = (offres >> 4) << 2
    if hl < 20 or hl > end - off:
        return fallback
    if sport == DNS_PORT or dport == DNS_PORT:
        return DNS
    if sport in HTTP_PORTS or dport in HTTP_PORTS:
        start = off + hl
        if bytes(f[start:min(start + 8, end)]).startswith(HTTP_STARTS):
            return HTTP
    return TCP


def _udp(f: Buf, off: int, end: int, fallback: Proto, partial: int) -> Proto:
    if end - off < 8:
        return fallback
    sport, dport, length = _UDP_HDR(f, off)
    if length < 8 or (length > end - off and not partial):
        return fallback
    if sport == DNS_PORT or dport == DNS_PORT:
        return DNS
    return UDP


def _ipv4(f: Buf, off: int, end: int) -> Proto:
    avail = end - off
    if avail < 20:
        return OTHER
    vihl, tl, ff, proto = _IP4(f, off)
    hl = (vihl & 15) << 2
    if vihl >> 4 != 4 or hl < 20 or hl > avail or tl < hl or tl > avail:
        return OTHER
    if ff & 0x1FFF:
        return OTHER_IP  # non-first fragment
    if proto == 6:
        return _tcp(f, off + hl, off + tl, OTHER_IP)
    if proto == 17:
        return _udp(f, off + hl, off + tl, OTHER_IP, ff & 0x2000)
    if proto == 1:
        return ICMP if tl - hl >= 8 else OTHER_IP
    return OTHER_IP


def _ipv6(f: Buf, off: int, end: int) -> Proto:
    if end - off < 40:
        return OTHER
    vtc, plen, nh = _IP6(f, off)
    if vtc >> 4 != 6 or plen > end - off - 40:
        return OTHER
    pos = off + 40
    end = pos + plen
    partial = 0
    later = False
    while nh in _IP6_EXT or nh == _AH or nh == _FRAG:
        if nh == _FRAG:
            if end - pos < 8:
                return OTHER
            frag = _U16(f, pos + 2)[0]
            if frag & 0xFFF8:
                later = True  # a non-first fragment; the rest of the chain must still parse
            partial = frag & 1
            nh = f[pos]
            pos += 8
            continue
        if end - pos < 2:
            return OTHER
        size = (f[pos + 1] + 2) * 4 if nh == _AH else (f[pos + 1] + 1) * 8
        if end - pos < size:
            return OTHER
        nh = f[pos]
        pos += size
    if later:
        return IPV6
    if nh == 6:
        return _tcp(f, pos, end, IPV6)
    if nh == 17:
        return _udp(f, pos, end, IPV6, partial)
    if nh == 58:
        return ICMP if end - pos >= 8 else IPV6
    return IPV6


def _arp(f: Buf, off: int, end: int) -> Proto:
    if end - off < 8:
        return OTHER
    hwlen, plen = _ARP_LENS(f, off)
    return ARP if end - off - 8 >= 2 * (hwlen + plen) else OTHER


def _by_type(f: Buf, etype: int, off: int, end: int) -> Proto:
    if etype == 0x0800:
        return _ipv4(f, off, end)
    if etype == 0x86DD:
        return _ipv6(f, off, end)
    if etype == 0x0806:
        return _arp(f, off, end)
    return OTHER


def _ethernet(f: Buf) -> Proto:
    end = len(f)
    if end < 14:
        return OTHER
    etype = _U16(f, 12)[0]
    off = 14
    while etype in _VLAN_TPIDS:
        if end - off < 4:
            return OTHER
        etype = _U16(f, off + 2)[0]
        off += 4
    if etype == 0x0800:
        return _ipv4(f, off, end)
    return _by_type(f, etype, off, end)


def _other_link(f: Buf, linktype: int) -> Proto:
    end = len(f)
    if linktype == 113:  # Linux cooked capture: the EtherType is at offset 14
        return _by_type(f, _U16(f, 14)[0], 16, end) if end >= 16 else OTHER
    if linktype == 101:  # raw IP: the version nibble tells
        if end < 1:
            return OTHER
        version = f[0] >> 4
        return _ipv4(f, 0, end) if version == 4 else _ipv6(f, 0, end) if version == 6 else OTHER
    if linktype == 228:
        return _ipv4(f, 0, end)
    if linktype == 229:
        return _ipv6(f, 0, end)
    return OTHER


def classify(frame: Buf, linktype: int = 1) -> Proto:
    """The highest protocol of ``frame`` (a pcap ``linktype``); never raises."""
    try:
        if linktype != 1:
            return _other_link(frame, linktype)
        # Ethernet, inline: this is the path nearly every packet takes
        end = len(frame)
        if end < 14:
            return OTHER
        etype = _U16(frame, 12)[0]
        if etype == 0x0800:
            return _ipv4(frame, 14, end)
        return _ethernet(frame)
    except (TypeError, ValueError, IndexError, BufferError, struct.error):
        return OTHER  # not a buffer at all (the checks above keep every read in bounds)
