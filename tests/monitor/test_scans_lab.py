"""``wirelab flows --detect-scans`` on real scans in the lab: nmap -sS and wirelab scan from the
client, while remote downloads a file over HTTP from the same server; the server's capture
must name the client (and only the client) as a vertical scanner of the server."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from wirelab.cli.flows import flows
from wirelab.lab.lab import Host, Lab

SERVER = "198.18.0.20"
CLIENT = "198.18.0.10"
REMOTE = "198.18.1.10"
OPEN = {22, 53, 80}  # the lab server's listeners below 200 (443 and 8080 are above)


def _run(host: Host, argv: list[str]) -> str:
    done = host.run(argv, timeout=120)
    assert done.returncode == 0, f"{argv}: {done.stderr}"
    out: str = done.stdout
    return out


def _detect(pcap: Path) -> list[dict]:
    result = CliRunner().invoke(flows, [str(pcap), "--detect-scans", "--json"])
    assert result.exit_code == 0, result.output
    scans: list[dict] = json.loads(result.output)["scans"]
    return scans


def _records(pcap: Path) -> list[dict]:
    result = CliRunner().invoke(flows, [str(pcap), "--json"])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines()]


@pytest.mark.lab
@pytest.mark.parametrize("scanner", ["nmap", "wirelab"])
def test_a_syn_scan_is_detected_and_a_download_is_not(shared_lab: Lab, tmp_path: Path,
                                                      scanner: str) -> None:
    client, remote = shared_lab.host("client"), shared_lab.host("remote")
    pcap = tmp_path / "server.pcap"
    argv = {"nmap": ["nmap", "-sS", "-Pn", "-n", "-p", "1-200", SERVER],
            "wirelab": [sys.executable, "-m", "wirelab", "scan", SERVER, "-p", "1-200"]}
    with shared_lab.capture("server", pcap, bpf="tcp") as cap:
        size = _run(remote, ["curl", "-s", "-o", "/dev/null", "-w", "%{size_download}",
                             f"http://{SERVER}/bytes/200000"])
        report = _run(client, argv[scanner][:])
        cap.stop()
    assert int(size) == 200000 and "80/tcp" in report
    [scan] = _detect(pcap)
    assert (scan["source"], scan["kind"], scan["target_host"]) == (CLIENT, "vertical", SERVER)
    assert scan["distinct"] == 200  # every port probed
    # closed ports answer RST: REJ; open ones SYN-ACK, then the scanner's RST: RSTO (ShR)
    assert scan["states"]["REJ"] == 200 - len(OPEN) and scan["states"]["RSTO"] >= len(OPEN)
    records = _records(pcap)
    [download] = [r for r in records if r["id.orig_h"] == REMOTE]
    assert (download["id.resp_p"], download["service"], download["conn_state"]) == \
        (80, "http", "SF")
    assert download["resp_bytes"] > 200000  # the body and the response head
    probes = [r for r in records if r["id.orig_h"] == CLIENT]
    assert {r["id.resp_p"] for r in probes if r["conn_state"] == "RSTO"} == OPEN
    assert all(r["history"] in ("Sr", "ShR") for r in probes)


@pytest.mark.lab
def test_a_ping_sweep_is_a_horizontal_scan(shared_lab: Lab, tmp_path: Path) -> None:
    client = shared_lab.host("client")
    pcap = tmp_path / "client.pcap"
    targets = [SERVER, "198.18.0.1", REMOTE]  # server, router, remote (through the router)
    with shared_lab.capture("client", pcap, bpf="icmp") as cap:
        for target in targets:
            _run(client, ["ping", "-c", "2", "-i", "0.2", "-W", "2", target])
        cap.stop()
    assert _detect(pcap) == []  # three hosts: far below Zeek's 25
    result = CliRunner().invoke(flows, [str(pcap), "--detect-scans", "--json", "--hosts", "3"])
    [scan] = json.loads(result.output)["scans"]
    assert (scan["source"], scan["kind"], scan["target_port"], scan["distinct"]) == \
        (CLIENT, "horizontal", "8/icmp", 3)
    pings = _records(pcap)
    assert sorted(r["id.resp_h"] for r in pings) == sorted(targets)
    assert all((r["orig_pkts"], r["resp_pkts"], r["id.orig_p"], r["id.resp_p"]) ==
               (2, 2, 8, 0) for r in pings)
