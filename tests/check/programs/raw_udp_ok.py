"""1.4 done right: the UDP checksum computed over the RFC 768 pseudo-header by hand."""

from __future__ import annotations

import os
import socket
import struct


def ones_complement_sum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


server = os.environ["WIRELAB_SERVER"]
payload = b"packed by hand"
length = 8 + len(payload)
with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP) as s:
    s.connect((server, 0))
    src = s.getsockname()[0]  # the address the kernel will put in the IP header
    pseudo = socket.inet_aton(src) + socket.inet_aton(server) + struct.pack("!BBH", 0, 17, length)
    header = struct.pack("!HHHH", 12345, 8000, length, 0)
    checksum = 0xFFFF - ones_complement_sum(pseudo + header + payload) or 0xFFFF
    s.send(struct.pack("!HHHH", 12345, 8000, length, checksum) + payload)
