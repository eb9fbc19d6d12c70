"""ARP discovery from the lab's client: exactly the other hosts of its segment, with the MAC
addresses their own interfaces report."""

from __future__ import annotations

import json
import sys

import pytest

from wirelab.lab.lab import Host, Lab
from wirelab.recon.discover import sweep
from wirelab.recon.scope import ScopeError


def _macs(host: Host) -> dict[str, str]:
    """IPv4 address -> MAC of each Ethernet interface, as the host itself reports them."""
    links = json.loads(host.run(["ip", "-j", "addr", "show"], check=True).stdout)
    return {a["local"]: link["address"] for link in links if link.get("link_type") == "ether"
            for a in link.get("addr_info", []) if a.get("family") == "inet"}


def _truth(lab: Lab) -> dict[str, str]:
    """The hosts on the client's segment 198.18.0.0/24, other than the client."""
    truth: dict[str, str] = {}
    for host in lab.hosts:
        if host.name != "client":
            truth.update({ip: mac for ip, mac in _macs(host).items()
                          if ip.startswith("198.18.0.")})
    return truth


@pytest.mark.lab
def test_discover_finds_the_segment(shared_lab: Lab) -> None:
    client = shared_lab.host("client")
    done = client.run([sys.executable, "-m", "wirelab", "discover", "--json"], timeout=60)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["method"] == "arp"
    assert data["address"] == "198.18.0.10" and data["network"] == "198.18.0.0/24"
    assert data["scanned"] == 253  # .1 to .254, less the client itself
    found = {h["ip"]: h["mac"] for h in data["hosts"]}
    truth = _truth(shared_lab)
    assert set(truth) == {"198.18.0.1", "198.18.0.20"}  # router and server (remote is beyond)
    assert found == truth
    assert all(h["rtt_ms"] > 0 for h in data["hosts"])


@pytest.mark.lab
def test_discover_text_output(shared_lab: Lab) -> None:
    done = shared_lab.host("client").run([sys.executable, "-m", "wirelab", "discover",
                                          "198.18.0.16/28"], timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("Interface: eth0, MAC: ")
    assert [line.split("\t")[0] for line in lines[1:-1]] == ["198.18.0.20"]
    assert lines[-1].startswith("14 hosts scanned in ") and lines[-1].endswith(" 1 responded")


@pytest.mark.lab
def test_discover_refusals(shared_lab: Lab) -> None:
    client = shared_lab.host("client")
    off = client.run([sys.executable, "-m", "wirelab", "discover", "10.0.0.0/24"])
    assert off.returncode == 2  # off the segment and outside the lab: refused, nothing sent
    assert off.stderr.strip() == ("wirelab: refusing to sweep 10.0.0.0/24: only the segments "
                                  "of a running lab, from inside a lab host (wirelab lab exec "
                                  "client -- wirelab discover)")
    assert off.stdout == ""
    with pytest.raises(ScopeError, match="refusing to sweep 198.18.0.0/24"):
        client.call(sweep, None, None)  # no WIRELAB_LAB: not known to be inside a lab
