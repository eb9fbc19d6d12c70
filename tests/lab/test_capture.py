"""Captures inside lab hosts: pcap files that tshark reads the same way."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from wirelab.lab.lab import Lab
from wirelab.wire.pcap import PcapReader

pytestmark = pytest.mark.lab


def test_capture_count_and_filter(shared_lab: Lab, tmp_path: Path) -> None:
    path = tmp_path / "http.pcap"
    with shared_lab.capture("client", path, bpf="tcp port 80", count=3) as cap:
        shared_lab.host("client").run(["curl", "-s", "-o", "/dev/null", "http://server/get"])
        assert cap.wait(timeout=10) == 3
    packets = list(PcapReader(str(path)))
    assert len(packets) == 3
    # the handshake: SYN, SYN-ACK, ACK, as the kernel sent them
    flags = [p.data[14 + 20 + 13] for p in packets]
    assert flags == [0x02, 0x12, 0x10]


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_tshark_reads_our_capture(shared_lab: Lab, tmp_path: Path) -> None:
    path = tmp_path / "ping.pcap"
    with shared_lab.capture("router", path, iface="eth1", bpf="icmp") as cap:
        shared_lab.host("client").run(["ping", "-c", "2", "-i", "0.2", "-n", "198.18.1.10"])
        assert cap.wait(timeout=0.5) == 4
    out = subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-e", "ip.src", "-e",
                          "ip.dst", "-e", "ip.ttl", "-e", "icmp.type"],
                         capture_output=True, text=True, check=True).stdout
    rows = [line.split("\t") for line in out.strip().splitlines()]
    # On the router's far side the request has lost one TTL (64 -> 63).
    assert rows[0] == ["198.18.0.10", "198.18.1.10", "63", "8"]
    assert rows[1] == ["198.18.1.10", "198.18.0.10", "64", "0"]


def test_capture_duration(shared_lab: Lab, tmp_path: Path) -> None:
    import time

    cap = shared_lab.capture("server", tmp_path / "quiet.pcap", bpf="icmp", duration=0.5)
    started = time.monotonic()
    cap.start()
    assert cap.wait() == 0
    assert 0.4 <= time.monotonic() - started < 5


def test_capture_on_a_missing_interface_fails_in_one_line(shared_lab: Lab,
                                                          tmp_path: Path) -> None:
    from wirelab.errors import LabError

    with pytest.raises(LabError, match="did not start"):
        shared_lab.capture("client", tmp_path / "x.pcap", iface="eth7").start()
