"""An HTTP client whose request lines end in a bare LF (RFC 9112 section 2.1 wants CRLF)."""

from __future__ import annotations

import os
import socket

server = os.environ.get("WIRELAB_SERVER", "198.18.0.20")
with socket.create_connection((server, 80), timeout=5) as s:
    s.sendall(b"GET /get HTTP/1.1\nHost: server\nConnection: close\n\n")
    while s.recv(4096):
        pass
