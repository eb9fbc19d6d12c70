"""1.4 as the curriculum has it: checksum 0, trusting the kernel to fill it (it does not on a
raw IPPROTO_UDP socket), so the datagram goes out with "no checksum"."""

from __future__ import annotations

import os
import socket
import struct

server = os.environ.get("WIRELAB_SERVER", "198.18.0.20")
payload = b"hello"
header = struct.pack("!HHHH", 12345, 8000, 8 + len(payload), 0)
with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP) as s:
    s.sendto(header + payload, (server, 0))
