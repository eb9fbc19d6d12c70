"""The UDP scan against a lab host, compared port by port with nmap -sU, with Linux's ICMP
rate limit lifted on the target (the lab switch) and, quickly, with it in place."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET

import pytest

from wirelab.lab.lab import Host, Lab

from .labutil import add_input_rules, run_ok

LIMIT = "net.ipv4.icmp_ratelimit"

SERVER = "198.18.0.20"
# 53: the lab's DNS (open: it answers the DNS probe); 161 DROP -> open|filtered;
# 162 REJECT admin-prohibited -> filtered; 1000-1007: nothing listens -> closed.
RULES = [
    ["-p", "udp", "--dport", "161", "-j", "DROP"],
    ["-p", "udp", "--dport", "162", "-j", "REJECT", "--reject-with", "icmp-admin-prohibited"],
]
PORTS = "53,161,162,1000-1007"
EXPECTED = {53: "open", 161: "open|filtered", 162: "filtered",
            **{p: "closed" for p in range(1000, 1008)}}
REASONS = {53: "udp-response", 161: "no-response", 162: "admin-prohibited", 1000: "port-unreach"}

SCAN = """
import json, sys
from wirelab.recon.ports import parse_ports
from wirelab.recon.scan import scan
r = scan(sys.argv[1], parse_ports(sys.argv[2]), "udp")
print(json.dumps({"ports": {p.port: [str(p.state), str(p.reason), p.tries] for p in r.ports},
                  "notes": r.notes, "elapsed": r.elapsed}))
"""


def _firewall(lab: Lab) -> Host:
    server = lab.host("server")
    add_input_rules(server, RULES)
    return server


def wirelab_udp(client: Host) -> dict[str, object]:
    result: dict[str, object] = json.loads(run_ok(client, [sys.executable, "-c", SCAN, SERVER,
                                                            PORTS]).stdout)
    return result


def nmap_udp(client: Host) -> dict[int, str]:
    done = run_ok(client, ["nmap", "-sU", "-T4", "-Pn", "-n", "--reason", "-p", PORTS,
                           "-oX", "-", SERVER])
    root = ET.fromstring(done.stdout)
    return {int(p.get("portid", "0")): p.find("state").get("state", "")  # type: ignore[union-attr]
            for p in root.iter("port")}


@pytest.mark.lab
def test_udp_states_match_nmap_with_limit_lifted(lab: Lab) -> None:
    server = _firewall(lab)
    applied = server.icmp_ratelimit(False)  # the lab switch (wirelab lab icmp-ratelimit)
    assert applied["net.ipv4.icmp_ratelimit"] == "0"
    assert server.sysctl(keys=[LIMIT])[LIMIT] == "0"  # in its namespace
    client = lab.host("client")
    ours = wirelab_udp(client)
    ports = ours["ports"]
    assert isinstance(ports, dict)
    states = {int(p): v[0] for p, v in ports.items()}
    assert states == EXPECTED
    assert {p: ports[str(p)][1] for p in REASONS} == REASONS
    assert states == nmap_udp(client)
    assert ours["notes"] == []  # nothing was rate-limited
    assert ports["1000"][2] == 1  # closed ports answered at once: no retransmission


@pytest.mark.lab
def test_udp_rate_limit_explained(lab: Lab) -> None:
    server = _firewall(lab)
    assert server.sysctl(keys=[LIMIT])[LIMIT] == "1000"  # Linux's default
    ours = wirelab_udp(lab.host("client"))
    ports = ours["ports"]
    assert isinstance(ports, dict)
    # still exact: the silent closed ports were retried slowly until they answered ...
    assert {int(p): v[0] for p, v in ports.items()} == EXPECTED
    # ... some only after a retransmission (the ICMP burst is 6, 9 ICMP errors were due) ...
    assert max(v[2] for p, v in ports.items() if int(p) >= 1000) > 1
    # ... and the result says why it was slow
    notes = ours["notes"]
    assert isinstance(notes, list) and len(notes) == 1
    assert "rate-limits its ICMP errors" in notes[0]
    assert "net.ipv4.icmp_ratelimit" in notes[0]


@pytest.mark.lab
def test_udp_shared_icmp_budget_still_exact(lab: Lab) -> None:
    """Only the per-peer limit lifted (icmp_ratelimit=0): Linux's budget shared by all peers
    (1000 ICMP errors a second after a burst of 50) still drops most port unreachables of a
    full-speed scan.  The retries that get answered prove it; the scan slows below that rate
    and every closed port comes out closed -- and says why it slowed."""
    server = lab.host("server")
    server.sysctl({LIMIT: 0})
    assert server.sysctl(keys=["net.ipv4.icmp_msgs_per_sec"])[
        "net.ipv4.icmp_msgs_per_sec"] == "1000"  # the shared budget is still there
    done = run_ok(lab.host("client"), [sys.executable, "-c", SCAN, SERVER, "2000-2599"])
    ours = json.loads(done.stdout)
    states = {int(p): v[0] for p, v in ours["ports"].items()}
    assert states == {p: "closed" for p in range(2000, 2600)}
    assert len(ours["notes"]) == 1 and "lost ICMP errors at full speed" in ours["notes"][0]
