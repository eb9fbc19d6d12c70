"""Fixtures shared by the recon tests."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest


@pytest.fixture
def loopback_ports() -> Iterator[tuple[int, int]]:
    """(open, closed) on 127.0.0.1: a port with a listener, and a port that was just bound
    and freed, so nothing listens there and the kernel answers a SYN with RST."""
    with socket.socket() as listener, socket.socket() as probe:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
        probe.close()
        yield listener.getsockname()[1], closed
