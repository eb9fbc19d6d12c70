"""Scapy, loaded the explicit way, and the layer-3 socket the crafting commands share.

``from scapy.all import *`` does two things at once: it defines hundreds of names and it
loads the platform layer (``scapy.arch``) that sets ``conf.L3socket`` and ``conf.L2listen``
and reads this namespace's routes and interfaces.  We import the layers we use by name, so
the platform layer must be loaded on purpose; this module does it once.

Which layer-3 socket: Scapy's Linux default (``L3PacketSocket``) writes whole Ethernet frames
to an AF_PACKET socket, after its own ARP lookup.  Such frames leave *below* the host's IP
layer: netfilter never sees them, so neither a firewall rule nor a shaper built on netfilter
(the lab's userspace delay/loss where the kernel has no netem) applies to them, while it
applies to every other program's traffic.  We send instead through a raw IPv4 socket with
IP_HDRINCL (Scapy's ``L3RawSocket``): the bytes are still entirely Scapy's, but the kernel
routes them, resolves the next hop with its own ARP cache and passes them through netfilter
like any locally generated packet.  Replies are read from an AF_PACKET socket, to which we
attach a kernel filter (Scapy's ``L3RawSocket`` ignores its ``filter`` argument).
"""

from __future__ import annotations

import fcntl
import socket
import struct
import time
from typing import Any

from wirelab.errors import NetworkError, ToolMissingError

SIOCGIFMTU = 0x8921


def scapy_conf() -> Any:
    """Scapy's ``conf`` with the Linux sockets and the IPv4 routing table loaded."""
    import scapy.arch  # noqa: F401  (sets conf.L3socket / conf.L2listen for Linux)
    import scapy.layers.inet  # noqa: F401  (reads /proc/net/route into conf.route)
    from scapy.config import conf
    from scapy.supersocket import L3RawSocket

    conf.verb = 0
    conf.L3socket = L3RawSocket  # send() and sr() go through the kernel's IP layer too
    return conf


def l3_socket(bpf: str | None = None) -> Any:
    """An ``L3RawSocket`` whose receiving side carries the kernel filter ``bpf``.

    The filter is an optimisation (callers match replies themselves), so without tcpdump to
    compile it the socket simply receives everything.
    """
    from wirelab.craft.bpf import attach, compile_filter

    conf = scapy_conf()
    sock = conf.L3socket()
    _grow_buffer(sock.ins)
    if bpf:
        try:
            attach(sock.ins, compile_filter(bpf))
        except ToolMissingError:
            return sock
        _drain(sock.ins)  # frames queued before the filter was attached
    return sock


def send_l3(sock: Any, packet: Any) -> None:
    """Send one Scapy IP packet on ``sock``; a refusal is a one-line NetworkError.

    (Scapy's own ``L3RawSocket.send`` logs a socket error and carries on, which would turn
    "Network is unreachable" or a firewall's EPERM into a silent timeout.)
    """
    data = bytes(packet)
    packet.sent_time = time.time()
    try:
        sock.outs.sendto(data, (packet.dst, 0))
    except OSError as exc:
        raise NetworkError(f"cannot send to {packet.dst}: {exc.strerror}") from None


SO_RCVBUFFORCE = 33
RECEIVE_BUFFER = 8 << 20


def _grow_buffer(raw: socket.socket) -> None:
    """A large receive queue, so that replies survive a moment when we are not scheduled.

    SO_RCVBUFFORCE (CAP_NET_ADMIN) may exceed net.core.rmem_max; without the capability,
    SO_RCVBUF gives what rmem_max allows.
    """
    try:
        raw.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RECEIVE_BUFFER)
    except OSError:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)


def socket_drops(raw: socket.socket) -> int:
    """Frames the kernel dropped on this AF_PACKET socket because its queue was full."""
    from wirelab.craft.sniff_fast import PACKET_STATISTICS, SOL_PACKET, TPACKET_STATS

    data = raw.getsockopt(SOL_PACKET, PACKET_STATISTICS, TPACKET_STATS.size)
    return int(TPACKET_STATS.unpack(data[:TPACKET_STATS.size])[1])


def _drain(raw: socket.socket) -> None:
    while True:
        try:
            raw.recv(65536, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return


def interface_mtu(name: str) -> int:
    """The MTU of interface ``name`` (SIOCGIFMTU), 1500 if it cannot be read."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        request = struct.pack("16si", name.encode()[:15], 0)
        return int(struct.unpack("16si", fcntl.ioctl(probe, SIOCGIFMTU, request))[1])
    except OSError:
        return 1500
    finally:
        probe.close()
