"""The curriculum's 1.1 client as written: it sends to 127.0.0.1, which never leaves the host."""

from __future__ import annotations

import socket

with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    s.sendto(b"Hello, World!", ("127.0.0.1", 8000))
