"""``wirelab proto`` between two lab hosts, checked against tshark and Scapy on a capture."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ..helpers import tshark_fields
from .labutil import capture, finish, run_wirelab, start_wirelab, wirelab

pytestmark = pytest.mark.lab

RIGHT = ("--version", "2", "--type", "1", "--payload", "This is my custom data")
WRONG = ("--version", "3", "--type", "9", "--payload", "short", "--length", "99")


def test_recv_sees_fields_and_length_check(shared_lab, tmp_path: Path) -> None:
    client, server = shared_lab.host("client"), shared_lab.host("server")
    pcap = tmp_path / "custom.pcap"
    with capture(shared_lab, "server", pcap, bpf="udp port 12345"):
        receiver = start_wirelab(server, "proto", "recv", "--json", "-c", "2", "--timeout",
                                 "20")
        for args in (RIGHT, WRONG):
            sent = run_wirelab(client, "proto", "send", "server", *args)
            assert sent.returncode == 0, sent.stderr
        code, out, err = finish(receiver)
    assert code == 0, err
    got = json.loads(out)
    assert [(g["version"], g["type"], g["length"], g["payload"], g["length_ok"])
            for g in got] == [(2, 1, 22, "This is my custom data", True),
                              (3, 9, 99, "short", False)]
    assert {g["src"] for g in got} == {client.ip}
    assert {g["dport"] for g in got} == {12345}

    # tshark knows nothing of the protocol: the UDP payload bytes must be the header as sent.
    rows = tshark_fields(pcap, "ip.src", "udp.srcport", "udp.payload")
    assert [(r[0], int(r[1])) for r in rows] == [(g["src"], g["sport"]) for g in got]
    payloads = [bytes.fromhex(r[2]) for r in rows]
    assert payloads[0] == bytes.fromhex("02010016") + b"This is my custom data"
    assert payloads[1] == bytes.fromhex("03090063") + b"short"

    # Scapy reading the capture with the bound layer dissects the same fields.
    from scapy.utils import rdpcap

    from wirelab.craft.custom import Custom

    dissected = [p[Custom] for p in rdpcap(str(pcap))]
    assert [(c.version, c.type, c.length, c.length_ok()) for c in dissected] == [
        (g["version"], g["type"], g["length"], g["length_ok"]) for g in got]


def test_reply_from_port_12345_dissects_too(shared_lab, tmp_path: Path) -> None:
    """The sport binding: a datagram *from* port 12345 is read as the custom layer."""
    client = shared_lab.host("client")
    pcap = tmp_path / "reply.pcap"
    with capture(shared_lab, "server", pcap, bpf="udp"):
        sent = run_wirelab(client, "proto", "send", "server", "--sport", "12345", *RIGHT)
        assert sent.returncode == 0, sent.stderr
    from scapy.layers.inet import UDP
    from scapy.utils import rdpcap

    from wirelab.craft.custom import Custom

    packets = [p for p in rdpcap(str(pcap)) if UDP in p and p[UDP].sport == 12345]
    assert packets and all(Custom in p and p[Custom].length == 22 for p in packets)


def test_demo_in_an_existing_lab(shared_lab) -> None:
    done = shared_lab.host("client").run(wirelab("proto", "demo", "--lab", shared_lab.name))
    assert done.returncode == 0, done.stderr
    assert "length:  22 (payload is 22 bytes: matches)" in done.stdout
    assert "length:  99 (payload is 5 bytes: MISMATCH)" in done.stdout


def test_demo_builds_and_removes_its_own_lab() -> None:
    import re
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "wirelab", "proto", "demo"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "MISMATCH" in done.stdout and "matches" in done.stdout
    match = re.search(r"building a temporary lab (\S+) ", done.stdout)
    assert match, done.stdout
    # Other labs may come and go meanwhile (tests run in parallel): look for this one only.
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert f"wl-{match.group(1)}." not in left
