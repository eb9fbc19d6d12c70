"""``wirelab stats -i IFACE``: live numbers equal tshark's on a file of the same frames.

In a lab, four ``wirelab stats -i eth -c N`` (conv, endpoints, phs, io) and a tcpdump
``-c N`` listen on the server's interface with one filter; once all are armed the client
sends a known burst (ping, UDP to a closed port, a DNS query, an HTTP fetch with curl) of
more than N frames.  Each capture then holds the same first N frames: the frames each
``wirelab stats`` wrote (``-w``) are byte for byte tcpdump's.  tshark's -z tables are
compared with the live JSON number by number twice: on tcpdump's file (an independent
capture: frames and bytes exact; times within 5 ms, since each capture socket is stamped
apart by the kernel, tens of microseconds here) and on the frames ``-w`` wrote (everything
exact, times too).
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wirelab.lab.lab import Host, Lab
from wirelab.wire.capture import open_capture

from ..helpers import reaped
from .test_stats_tshark import (
    assert_conv_equal,
    assert_endpoints_equal,
    assert_io_equal,
    assert_phs_equal,
)

pytestmark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")

CLIENT, SERVER = "198.18.0.10", "198.18.0.20"
FILTER = f"host {CLIENT}"
FRAMES = 24
"""Frames each capture keeps: fewer than the burst surely makes (ping 8, UDP 5 and at least
one ICMP port unreachable, DNS 2, an HTTP fetch at least 10)."""
ARGS = {"conv": ["conv"], "endpoints": ["endpoints"], "phs": ["phs"],
        "io": ["io", "--interval", "0.5"]}

_BURST = f"""
import socket
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    for i in range(5):
        s.sendto(b"probe %d" % i, ("{SERVER}", 9999))
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    s.settimeout(3)
    # a DNS query for server.lab, type A (RFC 1035 section 4.1)
    s.sendto(bytes.fromhex("123401000001000000000000") + b"\\x06server\\x03lab\\x00"
             + b"\\x00\\x01\\x00\\x01", ("{SERVER}", 53))
    s.recv(512)
"""


def _wait_armed(proc: subprocess.Popen[str], timeout: float = 20.0) -> None:
    """Until the command says ``capturing on`` on stderr (its ring and filter are in place)."""
    assert proc.stderr is not None
    ready, _, _ = select.select([proc.stderr], [], [], timeout)
    line = proc.stderr.readline() if ready else ""
    assert "capturing on" in line, f"wirelab stats did not start: {line!r}"


def _live_stats(server: Host, iface: str, out: Path) -> dict[str, subprocess.Popen[str]]:
    procs: dict[str, subprocess.Popen[str]] = {}
    try:
        for name, args in ARGS.items():
            procs[name] = server.popen(
                [sys.executable, "-m", "wirelab", "stats", "-i", iface, "-f", FILTER, "-c",
                 str(FRAMES), "--duration", "60", "-w", str(out / f"{name}.pcap"), *args,
                 "--json"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                text=True)
        for proc in procs.values():
            _wait_armed(proc)
    except BaseException:
        _stop(procs)
        raise
    return procs


def _stop(procs: dict[str, subprocess.Popen[str]]) -> None:
    for proc in procs.values():
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


@pytest.mark.lab
def test_live_stats_equal_tshark_on_the_same_frames(lab: Lab, tmp_path: Path) -> None:
    server, client = lab.host("server"), lab.host("client")
    iface = server.interfaces[0].name
    for host in (server, client):  # an ARP exchange at the start of the burst, not midway
        host.run(["ip", "neigh", "flush", "all"], check=True)
    pcap = tmp_path / "server.pcap"
    procs = _live_stats(server, iface, tmp_path)
    try:
        with lab.capture("server", pcap, iface=iface, bpf=FILTER, count=FRAMES) as capture:
            client.run(["ping", "-c", "4", "-i", "0.2", SERVER], check=True)
            client.run([sys.executable, "-c", _BURST], check=True)
            client.run(["curl", "-s", "-o", "/dev/null", f"http://{SERVER}/"], check=True)
            assert capture.wait(timeout=20) == FRAMES
        results = {}
        for name, proc in procs.items():
            out, err = proc.communicate(timeout=30)
            assert proc.returncode == 0, err
            assert f"{FRAMES} frames counted" in err
            results[name] = json.loads(out)
    finally:
        _stop(procs)
    assert results["conv"]["interface"] == iface
    frames = _frames(pcap)
    assert len(frames) == FRAMES
    for name in ARGS:
        assert _frames(tmp_path / f"{name}.pcap") == frames, name  # the same frames
    # against tcpdump's capture: every count exact, times within 5 ms
    assert assert_conv_equal(pcap, results["conv"], time_slack=0.005) == 4  # ip; udp x2; tcp
    assert assert_endpoints_equal(pcap, results["endpoints"]) == 8
    # the whole tree: udp/dns, udp/data, tcp/http as far as the first frames go
    assert assert_phs_equal(pcap, results["phs"], cut=False) >= 7
    io_rows = results["io"]["io"]
    assert sum(r["frames"] for r in io_rows) == FRAMES
    assert sum(r["bytes"] for r in io_rows) == sum(length for _, length in frames)
    # against the frames each command counted and wrote, stamps included: all exact
    assert assert_conv_equal(tmp_path / "conv.pcap", results["conv"]) == 4
    assert assert_io_equal(tmp_path / "io.pcap", "0.5", results["io"]) >= 2


def _frames(path: Path) -> list[tuple[bytes, int]]:
    with open_capture(str(path)) as packets:
        return [(p.data, p.orig_len) for p in packets]


def test_ctrl_c_prints_what_was_counted() -> None:
    """``wirelab stats -i lo`` with no -c/--duration: SIGINT ends it, the table is printed."""
    if os.geteuid() != 0 or shutil.which("tcpdump") is None:
        pytest.skip("a live capture on lo needs CAP_NET_RAW (root) and tcpdump for -f")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "wirelab", "stats", "-i", "lo", "-f",
                             f"udp dst port {port}", "conv", "udp", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with reaped(proc):
        _wait_armed(proc)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for _ in range(6):
                s.sendto(b"counted", ("127.0.0.1", port))
        time.sleep(0.3)  # a ring block is handed over within 50 ms
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert "6 frames counted" in err
    (conv,) = json.loads(out)["udp"]
    assert conv["frames_ab"] == 6 and conv["b"] == f"127.0.0.1:{port}"
