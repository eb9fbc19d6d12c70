"""A counter that ignores Ctrl-C (SIGINT) and never prints its counts."""

from __future__ import annotations

import signal
import time

signal.signal(signal.SIGINT, signal.SIG_IGN)
print("Starting packet sniffer...", flush=True)
while True:
    time.sleep(1)
