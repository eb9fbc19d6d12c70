"""A counter that listens but counts nothing: prints zeros when interrupted (Ctrl-C)."""

from __future__ import annotations

import time

counts = {"HTTP": 0, "DNS": 0, "ICMP": 0, "TCP": 0, "UDP": 0, "Other IP": 0}
print("Starting packet sniffer...", flush=True)
try:
    time.sleep(60)
except KeyboardInterrupt:
    pass
print(counts)
