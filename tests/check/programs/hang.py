"""A program that never ends (waits for a reply that never comes)."""

from __future__ import annotations

import time

while True:
    time.sleep(1)
