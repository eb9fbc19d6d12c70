"""2.4 with a plain UDP socket: version 2, type 1, length = the data that follows."""

from __future__ import annotations

import os
import socket
import struct

data = b"This is my custom data"
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    s.sendto(struct.pack("!BBH", 2, 1, len(data)) + data, (os.environ["WIRELAB_SERVER"], 12345))
