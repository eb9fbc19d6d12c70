"""``wirelab handshake`` against the server's real kernel TCP stack (curriculum 2.2)."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from ..helpers import reaped, tshark_fields
from .labutil import capture, firewall_rule, iptables, run_wirelab, wirelab

pytestmark = pytest.mark.lab


def established(server, client_ip: str, sport: int) -> bool:  # type: ignore[no-untyped-def]
    """Whether the server's kernel holds an ESTABLISHED connection from client_ip:sport."""
    out = server.run(["ss", "-Htn", "state", "established", "dst", f"{client_ip}:{sport}"])
    assert out.returncode == 0, out.stderr
    return bool(out.stdout.strip())


def guard_rules(client) -> list[str]:  # type: ignore[no-untyped-def]
    return [r for r in iptables(client, "-S", "OUTPUT").splitlines() if "wirelab handshake" in r]


def test_server_kernel_sees_established_and_no_rst_leaves(shared_lab, tmp_path: Path) -> None:
    client, server = shared_lab.host("client"), shared_lab.host("server")
    pcap = tmp_path / "handshake.pcap"
    with capture(shared_lab, "server", pcap, bpf="tcp port 80"):
        done = run_wirelab(client, "handshake", "server", "80", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["state"] == "ESTABLISHED"
    sport = int(result["client"].rsplit(":", 1)[1])
    assert established(server, client.ip, sport)
    assert guard_rules(client) == []  # the RST guard is gone
    rows = tshark_fields(pcap, "ip.src", "tcp.srcport", "tcp.flags.str", "tcp.seq", "tcp.ack",
                         display=f"tcp.port == {sport}")
    flags = [(src, r_flags.replace("\u00b7", "")) for src, _, r_flags, _, _ in rows]
    # Exactly three segments: SYN, SYN-ACK, ACK, with relative seq/ack 0/-, 0/1, 1/1
    # (tshark computes the relative numbers itself), and no RST from the client.
    assert flags == [(client.ip, "S"), (server.ip, "AS"), (client.ip, "A")]
    assert [(r[3], r[4]) for r in rows] == [("0", "0"), ("0", "1"), ("1", "1")]
    assert all(r[1] == str(sport) for r in rows if r[0] == client.ip)  # one source port


def test_ladder_numbers_printed(shared_lab) -> None:
    done = run_wirelab(shared_lab.host("client"), "handshake", "server", "80", "--sport",
                       "40123")
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if " ms |" in line]
    assert "SYN seq=0 win=" in lines[0] and lines[0].rstrip().endswith(">|")
    assert "SYN, ACK seq=0 ack=1" in lines[1] and "|<" in lines[1]
    assert "ACK seq=1 ack=1" in lines[2]
    assert "iptables rule" in done.stdout  # the output says how the kernel's RST is held back
    assert "client 198.18.0.10:40123" in done.stdout
    assert established(shared_lab.host("server"), shared_lab.host("client").ip, 40123)


def test_get_returns_the_origin_json_and_close_ends_it(shared_lab) -> None:
    client, server = shared_lab.host("client"), shared_lab.host("server")
    done = run_wirelab(client, "handshake", "server", "80", "--get", "/get", "--close",
                       "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    sport = int(result["client"].rsplit(":", 1)[1])
    response = result["response"]
    assert response["status"] == 200
    body = json.loads(response["body"])
    assert body["method"] == "GET" and body["path"] == "/get"
    assert body["client"] == {"address": client.ip, "port": sport}
    assert result["state"] == "TIME-WAIT"
    flags = [s["flags"] for s in result["segments"]]
    assert "FIN, ACK" in flags[-3:] or "FIN, PSH, ACK" in flags
    assert result["segments"][-1]["outgoing"] and result["segments"][-1]["flags"] == "ACK"
    time.sleep(0.2)
    assert not established(server, client.ip, sport)
    assert guard_rules(client) == []


def test_closed_port_reports_rst(shared_lab) -> None:
    done = run_wirelab(shared_lab.host("client"), "handshake", "server", "81")
    assert done.returncode == 6
    assert "port 81 on server is closed" in done.stderr and "RST" in done.stderr
    assert "RST, ACK seq=0 ack=1" in done.stdout  # the server's answer, on the ladder
    assert guard_rules(shared_lab.host("client")) == []


def test_filtered_port_reports_timeout(shared_lab) -> None:
    client, server = shared_lab.host("client"), shared_lab.host("server")
    with firewall_rule(server, "INPUT", "-p", "tcp", "--dport", "8080", "-j", "DROP"):
        done = run_wirelab(client, "handshake", "server", "8080", "--timeout", "0.5")
    assert done.returncode == 6
    assert "filtered" in done.stderr and "no answer to 3 SYNs" in done.stderr
    assert guard_rules(client) == []


def test_sigterm_removes_the_guard(shared_lab) -> None:
    client, server = shared_lab.host("client"), shared_lab.host("server")
    with firewall_rule(server, "INPUT", "-p", "tcp", "--dport", "443", "-j", "DROP"):
        proc = client.popen(wirelab("handshake", "server", "443", "--timeout", "20"),
                            stdout=-1, stderr=-1, text=True)
        with reaped(proc):
            deadline = time.monotonic() + 20
            while not guard_rules(client) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert len(guard_rules(client)) == 1
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert guard_rules(client) == []
