"""SYN and connect scans against a lab host with firewall rules for every state, compared
port by port with Debian's nmap run from the same lab host on the same ports."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from wirelab.lab.lab import Host, Lab

from .labutil import add_input_rules, run_ok

SERVER = "198.18.0.20"
# open: 22, 80, 443, 8080 (the lab's listeners); closed: 23, 9999 (nothing listens);
# 81 DROP -> filtered; 82 REJECT admin-prohibited -> filtered; 83 REJECT tcp-reset -> closed.
RULES = [
    ["-p", "tcp", "--dport", "81", "-j", "DROP"],
    ["-p", "tcp", "--dport", "82", "-j", "REJECT", "--reject-with", "icmp-admin-prohibited"],
    ["-p", "tcp", "--dport", "83", "-j", "REJECT", "--reject-with", "tcp-reset"],
]
PORTS = "22,23,80,81,82,83,443,8080,9999"
EXPECTED = {22: "open", 23: "closed", 80: "open", 81: "filtered", 82: "filtered",
            83: "closed", 443: "open", 8080: "open", 9999: "closed"}
NMAP_FLAG = {"syn": "-sS", "connect": "-sT"}


@pytest.fixture(scope="module")
def firewalled(shared_lab: Lab) -> Lab:
    add_input_rules(shared_lab.host("server"), RULES)
    return shared_lab


def nmap_states(client: Host, scan_type: str) -> dict[int, str]:
    done = run_ok(client, ["nmap", NMAP_FLAG[scan_type], "-Pn", "-n", "--reason",
                           "-p", PORTS, "-oX", "-", SERVER])
    root = ET.fromstring(done.stdout)
    return {int(p.get("portid", "0")): p.find("state").get("state", "")  # type: ignore[union-attr]
            for p in root.iter("port")}


def wirelab_scan(client: Host, scan_type: str) -> dict[str, object]:
    done = run_ok(client, [sys.executable, "-m", "wirelab", "scan", SERVER, "-p", PORTS,
                           "--type", scan_type, "--json"])
    result: dict[str, object] = json.loads(done.stdout)
    return result


def scan_ports(client: Host, scan_type: str) -> list[dict[str, Any]]:
    """The port rows of our scan from ``client``."""
    ports = wirelab_scan(client, scan_type)["ports"]
    assert isinstance(ports, list)
    return ports


@pytest.mark.lab
@pytest.mark.parametrize("scan_type", ["syn", "connect"])
def test_states_match_nmap(firewalled: Lab, scan_type: str) -> None:
    client = firewalled.host("client")
    states = {p["port"]: p["state"] for p in scan_ports(client, scan_type)}
    assert states == nmap_states(client, scan_type)
    assert states == EXPECTED  # and both are what the firewall rules say


def scan_reasons(lab: Lab, scan_type: str) -> tuple[dict[int, str], list[dict[str, Any]]]:
    """Our scan from the client: the reason of each port (nmap's ``--reason`` words), and
    the port rows themselves."""
    ports = scan_ports(lab.host("client"), scan_type)
    return {p["port"]: p["reason"] for p in ports}, ports


@pytest.mark.lab
def test_syn_reasons(firewalled: Lab) -> None:
    reasons, ports = scan_reasons(firewalled, "syn")
    assert reasons[22] == "syn-ack"
    assert reasons[23] == "reset"
    assert reasons[81] == "no-response"
    assert reasons[82] == "admin-prohibited"
    assert reasons[83] == "reset"
    ttls = {p["port"]: p.get("ttl") for p in ports}
    assert ttls[22] == ttls[23] == ttls[82] == 64  # the answers' IP TTL (Linux's default)
    assert ttls[81] is None  # no answer, no TTL


@pytest.mark.lab
def test_connect_reasons(firewalled: Lab) -> None:
    reasons, _ = scan_reasons(firewalled, "connect")
    assert reasons[80] == "syn-ack"
    assert reasons[83] == "conn-refused"
    assert reasons[81] == "no-response"
    assert reasons[82] == "host-unreach"  # Linux turns ICMP 3/13 into EHOSTUNREACH


def _table(lines: list[str]) -> tuple[list[str], list[list[str]]]:
    """The "Not shown" lines and the port rows (first four columns) of a normal output."""
    hidden = [line for line in lines if line.startswith("Not shown:")]
    rows = [line.split()[:4] for line in lines if line.split() and "/tcp" in line.split()[0]]
    return hidden, rows


@pytest.mark.lab
def test_normal_output_matches_nmap(firewalled: Lab) -> None:
    client = firewalled.host("client")
    ours = run_ok(client, [sys.executable, "-m", "wirelab", "scan", "server", "-p", "1-100",
                           "--reason"]).stdout.splitlines()
    theirs = run_ok(client, ["nmap", "-sS", "-Pn", "-n", "--reason", "-p", "1-100",
                             SERVER]).stdout.splitlines()
    report = next(line for line in ours if line.startswith("wirelab scan report"))
    assert report == f"wirelab scan report for server ({SERVER})"
    header = next(line for line in ours if line.startswith("PORT"))
    assert header.split() == ["PORT", "STATE", "SERVICE", "REASON"]
    hidden, rows = _table(ours)
    assert hidden == ["Not shown: 95 closed tcp ports (reset)"]  # 1-100 less 22 53 80 81 82
    assert (hidden, rows) == _table(theirs)
