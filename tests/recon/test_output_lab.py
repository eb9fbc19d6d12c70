"""wirelab's -oN and -oX next to nmap's own, for the same SYN scan of the same lab host.

The XML must be valid against nmap's DTD (xmllint --dtdvalid) and read, by the code a tool
reading nmap XML would use, into the same ports, states, services and summary as nmap's.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from wirelab.lab.lab import Lab

from .labutil import add_input_rules, run_out

SERVER = "198.18.0.20"
DTD = Path("/usr/share/nmap/nmap.dtd")
# 1-100: open 22 53 80; 81 REJECT admin-prohibited (one port: below the ICMP rate limit's
# burst, so the reason is certain); 83 REJECT tcp-reset; 1000-1030 DROP.
RULES = [
    ["-p", "tcp", "--dport", "81", "-j", "REJECT", "--reject-with", "icmp-admin-prohibited"],
    ["-p", "tcp", "--dport", "83", "-j", "REJECT", "--reject-with", "tcp-reset"],
    ["-p", "tcp", "--dport", "1000:1030", "-j", "DROP"],
]
PORTS = "1-100,1000-1030"


@pytest.fixture(scope="module")
def scans(shared_lab: Lab) -> dict[str, str]:
    server, client = shared_lab.host("server"), shared_lab.host("client")
    add_input_rules(server, RULES)
    wirelab = [sys.executable, "-m", "wirelab", "scan", SERVER, "-p", PORTS, "--reason"]
    nmap = ["nmap", "-sS", "-Pn", "-n", "--reason", "-p", PORTS]
    return {
        "our_xml": run_out(client, [*wirelab, "-oX", "-"]),
        "nmap_xml": run_out(client, [*nmap, "-oX", "-", SERVER]),
        "our_normal": run_out(client, [*wirelab, "-oN", "-"]),
        "nmap_normal": run_out(client, [*nmap, "-oN", "-", SERVER]),
    }


def _xmllint(text: str, tmp_path: Path, name: str) -> subprocess.CompletedProcess[str]:
    xmllint = shutil.which("xmllint")
    assert xmllint is not None, "xmllint (libxml2-utils) is a test dependency"
    path = tmp_path / name
    path.write_text(text)
    return subprocess.run([xmllint, "--noout", "--dtdvalid", str(DTD), str(path)],
                          capture_output=True, text=True, check=False)


@pytest.mark.lab
def test_xml_valid_against_nmap_dtd(scans: dict[str, str], tmp_path: Path) -> None:
    ours = _xmllint(scans["our_xml"], tmp_path, "ours.xml")
    assert ours.returncode == 0, ours.stderr
    assert _xmllint(scans["nmap_xml"], tmp_path, "nmap.xml").returncode == 0  # control
    # and the validator does reject what the DTD forbids: scanner is (nmap) only
    bad = scans["our_xml"].replace('scanner="nmap"', 'scanner="wirelab"')
    assert _xmllint(bad, tmp_path, "bad.xml").returncode != 0


def _expand(ports: str) -> list[int]:
    found: list[int] = []
    for item in ports.split(","):
        low, _, high = item.partition("-")
        found += range(int(low), int(high or low) + 1)
    return found


def read_nmap_xml(text: str) -> dict[str, object]:
    """What a reader of nmap XML takes from a document: every port's state, listed ones with
    reason and service, the hidden ones from extraports/extrareasons, and the summary.

    The host status reason is left out: on a LAN nmap finds the host by ARP even with -Pn
    (arp-response), while wirelab does no host discovery and says user-set, as nmap does
    with -Pn off the LAN."""
    root = ET.fromstring(text)
    host = root.find("host")
    assert host is not None
    states: dict[int, str] = {}
    listed: dict[int, tuple[str, str, str]] = {}
    for port in host.iter("port"):
        state, service = port.find("state"), port.find("service")
        assert state is not None
        number = int(port.get("portid", "0"))
        states[number] = state.get("state", "")
        listed[number] = (state.get("state", ""), state.get("reason", ""),
                          "" if service is None else service.get("name", ""))
    extra: dict[str, int] = {}
    for ports in host.iter("extraports"):
        extra[ports.get("state", "")] = int(ports.get("count", "0"))
        for reasons in ports.iter("extrareasons"):
            for number in _expand(reasons.get("ports", "")):
                states[number] = ports.get("state", "")
    info = root.find("scaninfo")
    hosts = root.find("runstats/hosts")
    status = host.find("status")
    assert info is not None and hosts is not None and status is not None
    return {"states": states, "listed": listed, "extraports": extra,
            "scaninfo": dict(info.attrib), "hosts": dict(hosts.attrib),
            "status": status.get("state"),
            "address": host.find("address").get("addr")}  # type: ignore[union-attr]


@pytest.mark.lab
def test_xml_reads_like_nmaps(scans: dict[str, str]) -> None:
    ours, theirs = read_nmap_xml(scans["our_xml"]), read_nmap_xml(scans["nmap_xml"])
    assert len(ours["states"]) == 131  # type: ignore[arg-type]
    assert ours == theirs
    assert ours["extraports"] == {"closed": 96, "filtered": 32}
    root = ET.fromstring(scans["our_xml"])
    assert root.get("scanner") == "nmap" and root.get("args", "").startswith("wirelab scan")


def _body(text: str) -> tuple[list[str], list[list[str]]]:
    """The "Not shown" line and the port rows (TTL aside: connect scans have none)."""
    lines = text.splitlines()
    hidden = [line for line in lines if line.startswith("Not shown:")]
    rows = [line.split()[:4] for line in lines if line.split() and "/tcp" in line.split()[0]]
    return hidden, rows


@pytest.mark.lab
def test_normal_file_matches_nmaps(scans: dict[str, str]) -> None:
    ours, theirs = scans["our_normal"], scans["nmap_normal"]
    assert _body(ours) == _body(theirs)
    assert _body(ours)[0] == ["Not shown: 96 closed tcp ports (reset), "
                              "31 filtered tcp ports (no-response), "
                              "1 filtered tcp ports (admin-prohibited)"]
    first, last = ours.splitlines()[0], ours.splitlines()[-1]
    assert first.startswith("# wirelab ") and " scan initiated " in first
    assert first.endswith(f"-p {PORTS} --reason -oN -")
    assert last.startswith("# wirelab done at ") and "1 IP address (1 host up)" in last
    assert theirs.splitlines()[0].startswith("# Nmap ") and " scan initiated " in theirs


# -- UDP: the same comparison, with the server's ICMP rate limit lifted so that every closed
# port's port-unreachable comes back to both scanners (the lesson of the limit is elsewhere).
UDP_PORTS = "50-60,600"  # 53 open (the lab's DNS), 59 admin-prohibited, 600 DROP, rest closed
UDP_RULES = [
    ["-p", "udp", "--dport", "59", "-j", "REJECT", "--reject-with", "icmp-admin-prohibited"],
    ["-p", "udp", "--dport", "600", "-j", "DROP"],
]


@pytest.fixture(scope="module")
def udp_scans(shared_lab: Lab) -> dict[str, str]:
    server, client = shared_lab.host("server"), shared_lab.host("client")
    add_input_rules(server, UDP_RULES)
    server.icmp_ratelimit(False)
    try:
        # one retransmission each: 600 stays silent, and both scanners wait for it alike
        wirelab = [sys.executable, "-m", "wirelab", "scan", SERVER, "--type", "udp", "-p",
                   UDP_PORTS, "--max-retries", "1"]
        nmap = ["nmap", "-sU", "-Pn", "-n", "--max-retries", "1", "-p", UDP_PORTS]
        return {"our_xml": run_out(client, [*wirelab, "-oX", "-"]),
                "nmap_xml": run_out(client, [*nmap, "-oX", "-", SERVER]),
                "our_normal": run_out(client, [*wirelab, "--reason"]),
                "nmap_normal": run_out(client, [*nmap, "--reason", SERVER])}
    finally:
        server.icmp_ratelimit(True)


@pytest.mark.lab
def test_udp_xml_reads_like_nmaps(udp_scans: dict[str, str], tmp_path: Path) -> None:
    check = _xmllint(udp_scans["our_xml"], tmp_path, "udp.xml")
    assert check.returncode == 0, check.stderr
    ours, theirs = read_nmap_xml(udp_scans["our_xml"]), read_nmap_xml(udp_scans["nmap_xml"])
    assert ours == theirs
    assert ours["scaninfo"]["protocol"] == "udp"  # type: ignore[index]
    listed = ours["listed"]
    assert isinstance(listed, dict)
    assert listed[53] == ("open", "udp-response", "domain")
    assert listed[59][:2] == ("filtered", "admin-prohibited")
    assert listed[600][:2] == ("open|filtered", "no-response")


@pytest.mark.lab
def test_udp_table_matches_nmaps(udp_scans: dict[str, str]) -> None:
    def rows(text: str) -> list[list[str]]:
        return [line.split()[:4] for line in text.splitlines()
                if line.split() and "/udp" in line.split()[0]]

    assert rows(udp_scans["our_normal"]) == rows(udp_scans["nmap_normal"])
    assert len(rows(udp_scans["our_normal"])) == 12
