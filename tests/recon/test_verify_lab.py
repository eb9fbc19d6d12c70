"""``wirelab scan --verify`` in a lab: the truth read from the server itself (its sockets and
iptables rules) scores the scan run from the client."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from wirelab.lab.lab import Lab
from wirelab.recon.result import PortResult, ScanResult
from wirelab.recon.states import PortState, Reason
from wirelab.recon.verify import Truth, VerifyError, _lab_runner, compare

from .labutil import add_input_rules, run_out

SERVER = "198.18.0.20"
RULES = [
    ["-p", "tcp", "--dport", "81", "-j", "DROP"],
    ["-p", "tcp", "--dport", "82", "-j", "REJECT", "--reject-with", "icmp-admin-prohibited"],
    ["-p", "tcp", "--dport", "83", "-j", "REJECT", "--reject-with", "tcp-reset"],
    ["-p", "tcp", "--dport", "84", "-j", "REJECT"],
    ["-p", "tcp", "--dport", "85", "-j", "LOG"],
]
PORTS = "20-90,443,8080"


@pytest.fixture(scope="module")
def firewalled(shared_lab: Lab) -> Lab:
    add_input_rules(shared_lab.host("server"), RULES)
    return shared_lab


@pytest.mark.lab
@pytest.mark.parametrize("scan_type", ["syn", "connect"])
def test_verify_scores_a_correct_scan(firewalled: Lab, scan_type: str) -> None:
    out = run_out(firewalled.host("client"), [sys.executable, "-m", "wirelab", "scan", "server",
                                              "-p", PORTS, "--type", scan_type, "--verify",
                                              "--json"])
    data = json.loads(out)
    check = data["verify"]
    assert check["host"] == "server" and check["rules"] == len(RULES)
    assert check["total"] == 73 and check["disagreements"] == []
    assert check["agreed"] == 73 and check["score"] == 1.0
    assert {22, 53, 80, 443, 8080} <= set(check["listening"])
    states = {p["port"]: p["state"] for p in data["ports"]}
    # 84 (ICMP port unreachable): the SYN scan sees the ICMP, connect() sees ECONNREFUSED
    port_84 = "filtered" if scan_type == "syn" else "closed"
    assert [states[p] for p in (80, 81, 82, 83, 84, 85)] == [
        "open", "filtered", "filtered", "closed", port_84, "closed"]


@pytest.mark.lab
def test_verify_text_output(firewalled: Lab) -> None:
    out = run_out(firewalled.host("client"), [sys.executable, "-m", "wirelab", "scan", "server",
                                              "-p", "80-84", "--verify"])
    lines = out.splitlines()
    assert lines[-2].startswith("Verified against lab host server: ")
    assert lines[-1] == "Agreed: 5/5 ports (100.0%)"


@pytest.mark.lab
def test_verify_catches_a_wrong_state(firewalled: Lab) -> None:
    """The same truth against a result with one state wrong: scored down, port named."""
    server = firewalled.host("server")
    truth = Truth("server", run_out(server, ["ss", "-Hltn"]), run_out(server, ["iptables-save"]))
    result = ScanResult("server", SERVER, "syn", [
        PortResult(80, PortState.OPEN, Reason.SYN_ACK),
        PortResult(81, PortState.CLOSED, Reason.RESET),  # wrong: DROP makes it filtered
        PortResult(83, PortState.CLOSED, Reason.RESET)])
    checked = compare(result, truth, "198.18.0.10")
    assert (checked.agreed, checked.total) == (2, 3)
    assert [(d.port, d.expected) for d in checked.disagreements] == [(81, ("filtered",))]


@pytest.mark.lab
def test_verify_reports_a_real_disagreement(firewalled: Lab) -> None:
    """A firewall the verifier does not model: the server drops its own RSTs from port 9999
    in OUTPUT.  The scan rightly sees filtered; the truth (INPUT rules, no listener) says
    closed.  --verify must say so: exit status 1 and the port in the table."""
    server, client = firewalled.host("server"), firewalled.host("client")
    rule = ["OUTPUT", "-p", "tcp", "--sport", "9999", "--tcp-flags", "RST", "RST", "-j", "DROP"]
    run_out(server, ["iptables", "-w", "-A", *rule])
    try:
        out = run_out(client, [sys.executable, "-m", "wirelab", "scan", "server", "-p",
                               "9998-9999", "--verify"], ok=(1,))
    finally:
        run_out(server, ["iptables", "-w", "-D", *rule])
    lines = out.splitlines()
    assert "Agreed: 1/2 ports (50.0%)" in lines
    row = lines[lines.index("Agreed: 1/2 ports (50.0%)") + 2].split()
    assert row[:3] == ["9999/tcp", "filtered", "closed"]


@pytest.mark.lab
def test_verify_error_after_the_scan_is_shown(firewalled: Lab) -> None:
    """No lab host has 198.18.0.99: the scan is printed, then one line says why there is no
    verdict (exit 5)."""
    done = firewalled.host("client").run([sys.executable, "-m", "wirelab", "scan",
                                          "198.18.0.99", "-p", "80", "--max-retries", "0",
                                          "--verify"], timeout=60)
    assert done.returncode == 5
    assert "80/tcp filtered http" in done.stdout.splitlines()
    assert done.stderr == (f"wirelab: 198.18.0.99 is not a host of lab {firewalled.name}: "
                           "--verify reads the truth from a lab host\n")


@pytest.mark.lab
def test_verify_errors(firewalled: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WIRELAB_LAB", firewalled.name)
    with pytest.raises(VerifyError, match=f"198.18.9.9 is not a host of lab {firewalled.name}"):
        _lab_runner("198.18.9.9")
    name, run = _lab_runner(SERVER)
    assert name == "server" and "0.0.0.0:80" in run(["ss", "-Hltn"])


@pytest.mark.lab
def test_verify_udp(firewalled: Lab) -> None:
    """UDP: a listener is open (or open|filtered if silent), DROP open|filtered, REJECT with
    the default port-unreachable closed, admin-prohibited filtered, nothing listening closed.
    The server's ICMP rate limit is lifted so every closed port can say so."""
    server = firewalled.host("server")
    rules = [["-p", "udp", "--dport", "600", "-j", "DROP"],
             ["-p", "udp", "--dport", "601", "-j", "REJECT", "--reject-with",
              "icmp-admin-prohibited"],
             ["-p", "udp", "--dport", "602", "-j", "REJECT"]]
    for rule in rules:
        run_out(server, ["iptables", "-w", "-A", "INPUT", *rule])
    server.icmp_ratelimit(False)
    try:
        out = run_out(firewalled.host("client"), [
               sys.executable, "-m", "wirelab", "scan", "server", "--type", "udp", "-p",
               "50-54,600-602", "--max-retries", "1", "--verify", "--json"])
    finally:
        server.icmp_ratelimit(True)
        for rule in rules:
            server.run(["iptables", "-w", "-D", "INPUT", *rule])
    data = json.loads(out)
    states = {p["port"]: p["state"] for p in data["ports"]}
    assert states == {50: "closed", 51: "closed", 52: "closed", 53: "open", 54: "closed",
                      600: "open|filtered", 601: "filtered", 602: "closed"}
    check = data["verify"]
    assert check["protocol"] == "udp" and 53 in check["listening"]
    assert (check["agreed"], check["total"], check["disagreements"]) == (8, 8, [])


@pytest.mark.lab  # a network namespace of its own: root, or unprivileged user namespaces
def test_verify_loopback_reads_this_hosts_truth() -> None:
    """A loopback target's truth is the scanning host's own (ss, iptables-save run here); in
    a fresh namespace with a listener, a REJECT rule and nothing else."""
    unshare = shutil.which("unshare")
    assert unshare is not None, "util-linux unshare is needed"
    flags = ["-n"] if os.geteuid() == 0 else ["-r", "-n"]
    script = (
        "ip link set lo up && iptables -w -A INPUT -p tcp --dport 7 -j REJECT "
        "--reject-with tcp-reset || exit 9; python3 -c 'import socket,time; s=socket.socket(); "
        "s.bind((\"127.0.0.1\", 9)); s.listen(); time.sleep(30)' >/dev/null 2>&1 & "
        "pid=$!; sleep 0.5; wirelab scan 127.0.0.1 -p 7-10 --type connect --verify --json; "
        "rc=$?; kill $pid; exit $rc")
    env = {**os.environ, "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"
                                 ":/usr/sbin:/sbin"}
    done = subprocess.run([unshare, *flags, "--kill-child", "sh", "-c", script],
                          capture_output=True, text=True, timeout=60, env=env, check=False)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert {p["port"]: p["state"] for p in data["ports"]} == {7: "closed", 8: "closed",
                                                              9: "open", 10: "closed"}
    check = data["verify"]
    assert check["host"] == "localhost" and check["listening"] == [9]
    assert (check["agreed"], check["total"], check["rules"]) == (4, 4, 1)
