"""A UDP client that sends to port 8001 instead of 8000."""

from __future__ import annotations

import os
import socket

server = os.environ.get("WIRELAB_SERVER", "198.18.0.20")
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    s.sendto(b"Hello, World!", (server, 8001))
