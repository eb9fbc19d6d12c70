"""A 1.2 client in the curriculum's shape, aimed at the lab's server: CRLF lines, read to EOF."""

from __future__ import annotations

import os
import socket

server = os.environ["WIRELAB_SERVER"]
with socket.create_connection((server, 80), timeout=5) as s:
    s.sendall(b"GET /get HTTP/1.1\r\nHost: server\r\nConnection: close\r\n\r\n")
    response = b""
    while chunk := s.recv(4096):
        response += chunk
print(response.split(b"\r\n", 1)[0].decode())
