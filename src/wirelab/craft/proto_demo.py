"""``wirelab proto demo``: the curriculum's sender and receiver, on two hosts of a lab.

The curriculum runs both in one script, in two threads, over 127.0.0.1, and waits two
seconds hoping the sniffer is ready.  Here the receiver runs in ``server`` and the sender in
``client``, as separate processes on separate network stacks, and the sender starts only
once the receiver has said its sockets are listening.  Two datagrams are sent: one whose
length field Scapy computes, and one with a length that is deliberately wrong.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from wirelab.errors import LabError, NetworkError

CASES = (
    ("length computed by the LenField",
     ["--version", "2", "--type", "1", "--payload", "This is my custom data"]),
    ("length given, and wrong", ["--version", "2", "--type", "2", "--payload", "short",
                                 "--length", "99"]),
)
READY_S = 20.0


def _wirelab(*args: str) -> list[str]:
    return [sys.executable, "-m", "wirelab", *args]


def _wait_ready(proc: subprocess.Popen[str]) -> str:
    """Read the receiver's stderr until it says it listens (or it fails)."""
    assert proc.stderr is not None
    seen = ""
    deadline = time.monotonic() + READY_S
    fd = proc.stderr.fileno()
    while "listening on" not in seen:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        chunk = os.read(fd, 4096).decode(errors="replace") if ready else ""
        if not chunk:
            raise NetworkError(f"the receiver did not start: {seen.strip() or 'timeout'}")
        seen += chunk
    return seen


def run_demo(lab_name: str | None, emit: Callable[[str], None]) -> list[dict[str, Any]]:
    """Run receiver and sender in a lab (a temporary one unless ``lab_name``)."""
    from wirelab.lab import Lab
    from wirelab.lab.lab import unique_name

    if lab_name:
        lab = Lab.attach(lab_name)
    else:
        lab = Lab("default", unique_name("demo"), services=False)
        emit(f"building a temporary lab {lab.name} (removed at the end)")
        lab.up()
    receiver: subprocess.Popen[str] | None = None
    try:
        server, client = lab.host("server"), lab.host("client")
        receiver = server.popen(
            _wirelab("proto", "recv", "--json", "-c", str(len(CASES)), "--timeout", "30"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
            text=True)
        emit(f"[server {server.ip}] " + _wait_ready(receiver).strip())
        for title, args in CASES:
            sent = client.run(_wirelab("proto", "send", server.ip, *args))
            if sent.returncode != 0:
                raise NetworkError(f"proto send failed: {sent.stderr.strip()}")
            emit(f"[client {client.ip}] {title}:")
            for line in sent.stdout.splitlines():
                emit(f"[client {client.ip}] {line}")
        out, err = receiver.communicate(timeout=30)
        if receiver.returncode != 0:
            raise NetworkError(f"the receiver saw nothing: {err.strip()}")
        items: list[dict[str, Any]] = json.loads(out)
        from wirelab.craft.proto import Received

        for item in items:
            fields = {k: v for k, v in item.items() if k != "length_ok"}
            for line in Received(**fields).lines():
                emit(f"[server {server.ip}] {line}")
        return items
    except subprocess.TimeoutExpired:
        raise LabError("the receiver did not finish in time") from None
    finally:
        if receiver is not None and receiver.poll() is None:
            receiver.kill()  # by its PID (the Popen we started), never by name
            receiver.communicate()
        if not lab_name:
            lab.down()
