"""2.4 with the header's length left at its default 0 (a plain ShortField is not computed)."""

from __future__ import annotations

import os
import socket
import struct

server = os.environ.get("WIRELAB_SERVER", "198.18.0.20")
data = b"This is my custom data"
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    s.sendto(struct.pack("!BBH", 2, 1, 0) + data, (server, 12345))
