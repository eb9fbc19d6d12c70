"""A program that crashes before sending anything."""

from __future__ import annotations

import sys

print("about to send...", flush=True)
sys.exit(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
