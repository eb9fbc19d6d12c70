"""Helpers shared by the Module 2 lab tests: run wirelab in a host, read captures."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from wirelab.lab.lab import Host

from ..helpers import read_until


def wirelab(*args: str) -> list[str]:
    return [sys.executable, "-m", "wirelab", *args]


def run_wirelab(host: Host, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return host.run(wirelab(*args), timeout=timeout)


def start_wirelab(host: Host, *args: str) -> subprocess.Popen[str]:
    """Start a wirelab command that says "listening on" on stderr when ready; wait for it."""
    proc = host.popen(wirelab(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                      stdin=subprocess.DEVNULL, text=True)
    read_until(proc, b"listening on", timeout=30)
    return proc


def finish(proc: subprocess.Popen[str], timeout: float = 60) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"did not finish in {timeout} s: {err}") from None
    return proc.returncode, out, err


def iptables(host: Host, *args: str) -> str:
    done = host.run(["iptables", "-w", *args])
    assert done.returncode == 0, done.stderr
    return str(done.stdout)


@contextmanager
def firewall_rule(host: Host, chain: str, *spec: str) -> Iterator[None]:
    """A rule added for the test and removed after it, even on failure."""
    iptables(host, "-A", chain, *spec)
    try:
        yield
    finally:
        iptables(host, "-D", chain, *spec)


def rule_packets(host: Host, chain: str, target: str = "DROP") -> int:
    """The packet counter of the (single) ``target`` rule in ``chain``."""
    out = iptables(host, "-L", chain, "-v", "-x", "-n")
    counts = [int(line.split()[0]) for line in out.splitlines()[2:]
              if len(line.split()) > 2 and line.split()[2] == target]
    assert len(counts) == 1, out
    return counts[0]


@contextmanager
def capture(lab: Any, host: str, path: Path, bpf: str | None = None) -> Iterator[Any]:
    """``lab.capture`` that lets tcpdump drain before it is stopped.

    tcpdump (libpcap's TPACKET_V3 ring, 1 s block timeout) hands over a partly filled block
    only when the block times out, and stops at SIGINT without reading what is still in the
    ring: stopped right after the traffic, it loses the last second of packets.
    """
    with lab.capture(host, path, bpf=bpf) as cap:
        yield cap
        time.sleep(TCPDUMP_DRAIN_S)


TCPDUMP_DRAIN_S = 1.5


def load_json(text: str) -> Any:
    return json.loads(text)
