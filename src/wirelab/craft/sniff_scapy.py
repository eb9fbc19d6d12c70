"""The curriculum's engine: Scapy's ``sniff(prn=..., store=False)`` (curriculum 2.3).

Kept as the curriculum wrote it in spirit (a callback per packet, ``haslayer`` tests from
the highest layer down), with its defects fixed (see :mod:`wirelab.craft.sniff`) and one
correction to a comment: ``HTTPRequest`` needs no extra package.  The old ``scapy_http``
add-on was merged into Scapy long ago; ``scapy.layers.http`` ships with it and is loaded by
importing it (or ``load_layer("http")`` in the Scapy shell).  It binds HTTP to TCP ports 80
and 8080 and tells requests from responses by their first line.

Categories follow :func:`wirelab.wire.classify.classify` so both engines count alike.  Scapy
answers ``haslayer`` over the whole packet, including the datagram quoted inside an ICMP
error; to count an ICMP error as ICMP (as the highest layer *of the packet* is ICMP), we look
at the layer that the IP header actually carries.  Known difference: Scapy recognises an HTTP
request only when its first line is complete, the fast classifier from the method alone.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

# Importing the HTTP layer is what binds it to TCP ports 80 and 8080 for dissection (the
# curriculum's "requires scapy_http" is out of date: Scapy ships it).  This module is only
# imported when the Scapy engine is chosen, so the cost is paid only then.
import scapy.layers.http  # noqa: F401
import scapy.layers.inet6  # noqa: F401

from wirelab.craft.privilege import require_raw_socket
from wirelab.craft.scapy_env import scapy_conf
from wirelab.craft.sniff import SniffOptions, Tally
from wirelab.craft.sniff_fast import PACKET_STATISTICS, SOL_PACKET, TPACKET_STATS
from wirelab.wire.classify import DNS_PORT, Proto
from wirelab.wire.pcap import PcapWriter


def _transport(layer: Any, fallback: Proto) -> Proto:
    """Classify the layer an IP header carries (``fallback`` for anything else)."""
    from scapy.layers.http import HTTPRequest, HTTPResponse
    from scapy.layers.inet import ICMP, TCP, UDP
    from scapy.layers.inet6 import _ICMPv6

    if isinstance(layer, TCP | UDP):
        if DNS_PORT in (layer.sport, layer.dport):
            return Proto.DNS
        if isinstance(layer, TCP):
            is_http = layer.haslayer(HTTPRequest) or layer.haslayer(HTTPResponse)
            return Proto.HTTP if is_http else Proto.TCP
        return Proto.UDP
    if isinstance(layer, ICMP | _ICMPv6):
        return Proto.ICMP
    return fallback


def classify_packet(packet: Any) -> Proto:
    """The highest protocol of a Scapy packet, highest layer first."""
    from scapy.layers.inet import IP
    from scapy.layers.inet6 import (
        IPv6,
        IPv6ExtHdrDestOpt,
        IPv6ExtHdrFragment,
        IPv6ExtHdrHopByHop,
        IPv6ExtHdrRouting,
    )
    from scapy.layers.ipsec import AH
    from scapy.layers.l2 import ARP

    extensions = (IPv6ExtHdrHopByHop, IPv6ExtHdrRouting, IPv6ExtHdrDestOpt,
                  IPv6ExtHdrFragment, AH)

    if packet.haslayer(ARP):
        return Proto.ARP
    if packet.haslayer(IP):
        ip = packet.getlayer(IP)
        if ip.frag:
            return Proto.OTHER_IP  # a later fragment has no transport header
        return _transport(ip.payload, Proto.OTHER_IP)
    if packet.haslayer(IPv6):
        layer = packet.getlayer(IPv6).payload
        while isinstance(layer, extensions):
            if isinstance(layer, IPv6ExtHdrFragment) and layer.offset:
                return Proto.IPV6
            layer = layer.payload
        return _transport(layer, Proto.IPV6)
    return Proto.OTHER


def _open_sockets(conf: Any, options: SniffOptions) -> dict[Any, str]:
    """One Scapy listening socket per interface (Scapy binds each socket to one)."""
    names = ([options.interface] if options.interface
             else [name for _, name in socket.if_nameindex()])
    sockets = {}
    for name in names:
        bpf = options.bpf
        if name == "lo":
            # Loopback shows each frame leaving and arriving; keep one copy, as libpcap does.
            bpf = f"({bpf}) and inbound" if bpf else "inbound"
        sockets[conf.L2listen(iface=name, filter=bpf)] = name
    return sockets


def run_scapy(options: SniffOptions, tally: Tally,
              on_ready: Callable[[], None] | None = None) -> Tally:
    """Count with Scapy's ``sniff`` until the timeout, the count, or Ctrl-C."""
    require_raw_socket("sniff")
    conf = scapy_conf()
    from scapy.sendrecv import sniff

    writer = PcapWriter(options.write, nanosecond=True) if options.write else None
    counts = tally.counts

    def process_packet(packet: Any) -> None:
        counts[classify_packet(packet)] += 1
        if writer is not None:
            data = packet.original if packet.original is not None else bytes(packet)
            writer.write(data, float(packet.time))

    sockets = _open_sockets(conf, options)
    try:
        sniff(opened_socket=sockets, prn=process_packet, store=False,
              timeout=options.timeout, count=options.count, started_callback=on_ready)
    finally:
        packets = drops = 0
        for sock in sockets:
            # Scapy's socket has no ring: the kernel answers struct tpacket_stats (2 x u32).
            raw = sock.ins.getsockopt(SOL_PACKET, PACKET_STATISTICS, TPACKET_STATS.size)
            got, lost = TPACKET_STATS.unpack(raw[:TPACKET_STATS.size])
            packets, drops = packets + got, drops + lost
            sock.close()
        tally.kernel_packets, tally.kernel_drops = packets, drops
        if writer is not None:
            writer.close()
    return tally
