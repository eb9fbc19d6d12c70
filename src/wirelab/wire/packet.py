"""Whole frames: decode every layer wirelab knows, from the link layer up.

``decode_frame(data, linktype)`` walks link (Ethernet with 802.1Q tags, Linux cooked
capture, or none for raw IP) -> ARP / IPv4 / IPv6 -> ICMP / ICMPv6 / UDP / TCP -> DNS on port
53 over UDP, the curriculum's custom header on UDP port 12345.  Each step is chosen by a dict
lookup on the type, protocol or port field (dpkt's and Scapy's ``bind_layers`` idea), and every
decoder reads the one shared buffer at an absolute offset, so nothing is copied and error
offsets count from the start of the frame.

What is not decoded, and why:

* the payload of a non-first IP fragment: it has no transport header (RFC 791 section 2.3,
  RFC 8200 section 4.5); the IP layer is the highest;
* the application data of a first fragment: the datagram is incomplete (the transport header
  is decoded, with ``partial`` set and its checksum unverifiable);
* DNS over TCP: a segment need not hold a whole message.

A malformed layer stops decoding: ``Packet.error`` holds the DecodeError and ``Packet.layers``
the layers before it, so a dissector can show the packet up to the fault.  With
``strict=True`` the error is raised instead.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from enum import IntEnum
from typing import Any, TypeVar

from wirelab.errors import BadFieldError, DecodeError, TrailingDataError
from wirelab.wire._fields import Buf, Header, truncated
from wirelab.wire.arp import ARP
from wirelab.wire.custom import CUSTOM_PORT, Custom
from wirelab.wire.dns import DNSMessage
from wirelab.wire.ethernet import Ethernet, EtherType, LinuxSLL
from wirelab.wire.icmp import ICMP
from wirelab.wire.icmpv6 import ICMPv6
from wirelab.wire.ipv4 import FLAG_MF, IPProto, IPv4
from wirelab.wire.ipv6 import FragmentHeader, IPv6
from wirelab.wire.tcp import TCP
from wirelab.wire.udp import UDP

DNS_PORT = 53


class LinkType(IntEnum):
    """pcap link-layer header types (https://www.tcpdump.org/linktypes.html) that we decode."""

    ETHERNET = 1
    RAW = 101
    LINUX_SLL = 113
    IPV4 = 228
    IPV6 = 229


H = TypeVar("H")
Layer = Any  # a Header subclass or a DNSMessage
_Stage = Callable[[Buf, int, int, list[Layer]], None]
_TransportDecoder = Callable[[Buf, int, int, bool], "UDP | TCP | ICMP | ICMPv6"]


class Packet:
    """The layers of one decoded frame, outermost first, and the error that stopped decoding."""

    __slots__ = ("layers", "error", "data", "linktype")

    def __init__(self, layers: list[Layer], error: DecodeError | None = None, data: Buf = b"",
                 linktype: int = LinkType.ETHERNET) -> None:
        self.layers = layers
        self.error = error
        self.data = data
        self.linktype = linktype

    def get(self, cls: type[H]) -> H | None:
        """The first layer that is an instance of ``cls``, or None."""
        for layer in self.layers:
            if isinstance(layer, cls):
                return layer
        return None

    def __contains__(self, cls: type) -> bool:
        return any(isinstance(layer, cls) for layer in self.layers)

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    @property
    def highest(self) -> Layer | None:
        """The innermost layer decoded (None if not even the link layer decoded)."""
        return self.layers[-1] if self.layers else None

    @property
    def ok(self) -> bool:
        return self.error is None

    def __repr__(self) -> str:
        names = "/".join(type(layer).__name__ for layer in self.layers)
        err = f", error={self.error}" if self.error is not None else ""
        return f"<Packet {names or '-'}{err}>"


# --- the stages, innermost first ---------------------------------------------------------
# Each stage decodes one layer at an absolute offset, appends it and hands the payload's
# bounds to the next stage, chosen by a dict lookup.  The stages are built by a factory so that
# decode_frame(app=False) gets the same chain with no application table above UDP; closures
# read their tables as fast as globals.

_AppStage = Callable[[Buf, UDP, list[Layer]], None]


def _dns(buf: Buf, udp: UDP, layers: list[Layer]) -> None:
    # DNSMessage reads to the end of its buffer: cut the frame at the UDP datagram's end so
    # that its offsets stay absolute (slicing a bytes object at its own length is free).
    layers.append(DNSMessage.decode(buf[:udp._pend], udp._pstart))


def _custom(buf: Buf, udp: UDP, layers: list[Layer]) -> None:
    start, end = udp._pstart, udp._pend
    # Bound to port 12345 both ways, but *from* 12345 only when the length field agrees with
    # the payload: the curriculum's 1.4 datagram also leaves from source port 12345 and its
    # text is no custom header (a heuristic, as Wireshark's dissectors use).  To 12345 the
    # header is always decoded, so that a wrong length can be seen and reported.
    if udp.dport != CUSTOM_PORT and (
            end - start < 4 or int.from_bytes(buf[start + 2:start + 4], "big") != end - start - 4):
        return
    layers.append(Custom.decode(buf, start, end))


UDP_APPS: dict[int, _AppStage] = {DNS_PORT: _dns, CUSTOM_PORT: _custom}
"""UDP port -> application decoder (the destination port is looked up first)."""


def _make_stages(udp_apps: dict[int, _AppStage], snapped: bool = False) -> dict[int, _Stage]:
    """The decoding chain for each link type, with ``udp_apps`` above UDP.

    ``snapped``: the frame was cut by the capture's snaplen, so an IP length beyond the bytes
    present is expected; the IP header is kept and the layers above it are marked partial.
    """
    ip4_decode: Callable[[Buf, int, int], IPv4] = IPv4.decode
    ip6_decode: Callable[[Buf, int, int], IPv6] = IPv6.decode
    if snapped:
        ip4_decode = functools.partial(IPv4.decode, partial=True)
        ip6_decode = functools.partial(IPv6.decode, partial=True)
    eth_decode = Ethernet.decode

    # IP protocol -> the transport decoder, called as decode(buf, offset, end, partial)
    by_proto4: dict[int, _TransportDecoder] = {IPProto.TCP: TCP.decode, IPProto.UDP: UDP.decode,
                                               IPProto.ICMP: ICMP.decode}
    by_proto6: dict[int, _TransportDecoder] = {IPProto.TCP: TCP.decode, IPProto.UDP: UDP.decode,
                                               IPProto.ICMPV6: ICMPv6.decode}

    def transport(buf: Buf, decoder: _TransportDecoder, off: int, end: int,
                  layers: list[Layer], partial: bool) -> None:
        seg = decoder(buf, off, end, partial)
        layers.append(seg)
        if udp_apps and type(seg) is UDP and not seg.partial:
            app = udp_apps.get(seg.dport) or udp_apps.get(seg.sport)
            if app is not None:
                app(buf, seg, layers)

    def ipv4(buf: Buf, off: int, end: int, layers: list[Layer]) -> None:
        ip = ip4_decode(buf, off, end)
        layers.append(ip)
        if ip.frag_offset:
            return  # a non-first fragment: no transport header here
        decoder = by_proto4.get(ip.proto)
        if decoder is not None:
            transport(buf, decoder, ip._pstart, ip._pend, layers,
                      bool(ip.flags & FLAG_MF) or ip.partial)

    def ipv6(buf: Buf, off: int, end: int, layers: list[Layer]) -> None:
        ip = ip6_decode(buf, off, end)
        layers.append(ip)
        partial = ip.partial
        exts = ip.ext_headers
        if exts:
            for ext in exts:
                if isinstance(ext, FragmentHeader):
                    if ext.frag_offset:
                        return  # a non-first fragment
                    partial = partial or bool(ext.m)
            proto = exts[-1].next_header
        else:
            proto = ip.next_header
        decoder = by_proto6.get(proto)
        if decoder is not None:
            transport(buf, decoder, ip._pstart, ip._pend, layers, partial)

    def arp(buf: Buf, off: int, end: int, layers: list[Layer]) -> None:
        layers.append(ARP.decode(buf, off, end))

    by_ethertype: dict[int, _Stage] = {EtherType.IPV4: ipv4, EtherType.IPV6: ipv6,
                                       EtherType.ARP: arp}

    def ethernet(buf: Buf, off: int, end: int, layers: list[Layer]) -> None:
        eth = eth_decode(buf, off, end)
        layers.append(eth)
        nxt = by_ethertype.get(eth.vlan[-1].type if eth.vlan else eth.type)
        if nxt is not None:
            nxt(buf, eth._pstart, end, layers)

    def sll(buf: Buf, off: int, end: int, layers: list[Layer]) -> None:
        link = LinuxSLL.decode(buf, off, end)
        layers.append(link)
        nxt = by_ethertype.get(link.protocol)
        if nxt is not None:
            nxt(buf, link._pstart, end, layers)

    def raw_ip(buf: Buf, off: int, end: int, layers: list[Layer]) -> None:
        """LINKTYPE_RAW: an IPv4 or IPv6 packet, told apart by its version nibble."""
        if end - off < 1:
            raise truncated("IP", "version", off, 1, end - off)
        version = buf[off] >> 4
        if version == 4:
            ipv4(buf, off, end, layers)
        elif version == 6:
            ipv6(buf, off, end, layers)
        else:
            raise BadFieldError("IP", "version", off, f"{version} is neither 4 nor 6")

    return {LinkType.ETHERNET: ethernet, LinkType.LINUX_SLL: sll, LinkType.RAW: raw_ip,
            LinkType.IPV4: ipv4, LinkType.IPV6: ipv6}


_STAGES = _make_stages(UDP_APPS)
_STAGES_NO_APP = _make_stages({})
_STAGES_SNAPPED = _make_stages(UDP_APPS, snapped=True)
_RAW_LINKTYPES = frozenset({LinkType.RAW, LinkType.IPV4, LinkType.IPV6})


def decode_frame(data: Buf, linktype: int = LinkType.ETHERNET, strict: bool = False, *,
                 app: bool = True, snapped: bool = False) -> Packet:
    """Decode every layer of one captured frame.

    Never raises for malformed bytes unless ``strict``: the error is kept in ``Packet.error``
    with the layers decoded before it.  With a raw-IP link type there is no link padding, so
    bytes after the IP datagram are a :class:`TrailingDataError` (all layers are still kept).
    ``app=False`` stops at the transport layer (no DNS, no custom header).
    ``snapped=True`` is for a frame cut by the capture's snaplen (caplen < orig_len): IP
    lengths beyond the bytes present are accepted and the upper layers marked partial.
    """
    layers: list[Layer] = []
    stages = _STAGES_SNAPPED if snapped else (_STAGES if app else _STAGES_NO_APP)
    stage = stages.get(linktype)
    try:
        if stage is None:
            raise BadFieldError("frame", "linktype", None, f"link type {linktype} is not decoded")
        stage(data, 0, len(data), layers)
        if linktype in _RAW_LINKTYPES and layers[0]._pend < len(data):
            first: Header = layers[0]
            raise TrailingDataError(first.layer, "payload", first._pend,
                                    f"{len(data) - first._pend} bytes after the IP datagram")
    except DecodeError as exc:
        if strict:
            raise
        return Packet(layers, exc, data, linktype)
    return Packet(layers, None, data, linktype)


def wire_payload_length(ip: IPv4 | IPv6, layer: Header) -> int:
    """The length on the wire of ``layer``'s payload, as the IP header tells it.

    It is tshark's ``tcp.len``: more than the bytes present when the capture cut the frame
    (caplen < len), the same otherwise.
    """
    if isinstance(ip, IPv4):
        end = ip.offset + (ip.total_length or ip.header_length + len(ip.payload))
    else:
        end = ip.offset + 40 + (ip.payload_length or 0)
    return max(end - layer.payload_offset, 0)
