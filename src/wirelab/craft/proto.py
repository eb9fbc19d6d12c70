"""Send and receive the custom protocol of curriculum 2.4 with Scapy.

The receiver is the curriculum's: Scapy's ``sniff`` with a kernel filter on UDP port 12345,
dissecting through the ``bind_layers`` binding.  Two things are added.  The filter keeps
only ``inbound`` frames, so that a datagram sent over loopback (seen once leaving and once
arriving) is reported once.  And while it listens, the receiver binds an ordinary UDP
socket to the port: without one the kernel answers every datagram with an ICMP port
unreachable (RFC 1122 section 4.1.3.1), which is noise in a capture of the exercise.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from wirelab.craft.ping import resolve
from wirelab.craft.privilege import require_raw_socket
from wirelab.craft.scapy_env import l3_socket, scapy_conf, send_l3
from wirelab.errors import EncodeError

CUSTOM_PORT = 12345


@dataclass
class Received:
    """One custom-protocol datagram as the receiver saw it."""

    src: str
    sport: int
    dst: str
    dport: int
    iface: str
    version: int
    type: int
    length: int
    payload_len: int
    payload: str

    @property
    def length_ok(self) -> bool:
        return self.length == self.payload_len

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "length_ok": self.length_ok}

    def lines(self) -> list[str]:
        verdict = "matches" if self.length_ok else "MISMATCH"
        return [
            f"custom packet from {self.src}:{self.sport} to {self.dst}:{self.dport} "
            f"(on {self.iface})",
            f"  version: {self.version}",
            f"  type:    {self.type}",
            f"  length:  {self.length} (payload is {self.payload_len} bytes: {verdict})",
            f"  payload: {self.payload!r}",
        ]


def _check_range(name: str, value: int | None, top: int) -> None:
    if value is not None and not 0 <= value <= top:
        raise EncodeError(f"--{name} must be between 0 and {top}")


def send_custom(host: str, payload: bytes, version: int = 1, type_: int = 0,
                length: int | None = None, sport: int | None = None) -> Any:
    """Send one datagram; return the packet as built (for --show and the summary)."""
    _check_range("version", version, 0xFF)
    _check_range("type", type_, 0xFF)
    _check_range("length", length, 0xFFFF)
    _check_range("sport", sport, 0xFFFF)
    require_raw_socket("proto send")
    scapy_conf()
    from scapy.layers.inet import IP

    from wirelab.craft.custom import build

    dst = resolve(host)
    # One source port, drawn once: Scapy's UDP default would be 53, which reads as DNS.
    port = sport if sport is not None else random.randint(49152, 65535)
    packet = build(dst, payload, version=version, type_=type_, length=length, sport=port)
    sock = l3_socket()
    try:
        send_l3(sock, packet)
    finally:
        sock.close()
    return IP(bytes(packet))  # re-dissected, so the summary shows the computed length


def _interfaces(iface: str | None) -> list[str]:
    if iface is not None:
        return [iface]
    return [name for _, name in socket.if_nameindex()]


def receive_custom(timeout: float, count: int, iface: str | None,
                   emit: Callable[[Received], None],
                   on_ready: Callable[[], None] | None = None) -> list[Received]:
    """Sniff for custom datagrams until ``count`` arrived (0: no limit) or ``timeout``.

    ``on_ready`` is called once Scapy's sockets and their filters are in place.
    """
    require_raw_socket("proto recv")
    scapy_conf()
    from scapy.layers.inet import IP, UDP
    from scapy.sendrecv import sniff

    from wirelab.craft.custom import Custom

    seen: list[Received] = []

    def on_packet(packet: Any) -> None:
        # The curriculum's callback, with the header read through the bound layer.
        if Custom not in packet or IP not in packet:
            return
        header = packet[Custom]
        data = bytes(header.payload)
        item = Received(src=packet[IP].src, sport=packet[UDP].sport, dst=packet[IP].dst,
                        dport=packet[UDP].dport, iface=str(getattr(packet, "sniffed_on", "")),
                        version=header.version, type=header.type, length=header.length,
                        payload_len=len(data), payload=data.decode("utf-8", "replace"))
        seen.append(item)
        emit(item)

    sink = _bind_sink()
    try:
        sniff(iface=_interfaces(iface), filter=f"udp port {CUSTOM_PORT} and inbound",
              prn=on_packet, store=False, timeout=timeout, count=count,
              started_callback=on_ready)
    finally:
        if sink is not None:
            sink.close()
    return seen


def _bind_sink() -> socket.socket | None:
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sink.bind(("0.0.0.0", CUSTOM_PORT))
    except OSError:
        sink.close()
        return None  # someone else holds the port: they will absorb the datagrams
    return sink
