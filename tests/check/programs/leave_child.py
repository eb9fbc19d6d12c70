"""Sends the 1.1 datagram, but leaves a child process running behind it (a forgotten server)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
print(child.pid, flush=True)
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    s.sendto(b"Hello, World!", (os.environ["WIRELAB_SERVER"], 8000))
