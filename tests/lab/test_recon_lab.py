"""The ``recon`` scenario built for real: the topology's firewall rules are in the target's
iptables, and nmap -- the reference -- finds every port state they are meant to give; the ICMP
rate-limit switch changes the target's namespace, and only it, and really lifts the limit.
Also topology sysctls and firewall rules on hand-written topologies, and their errors."""

from __future__ import annotations

import json
import socket
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest

from wirelab.errors import LabError
from wirelab.lab import firewall
from wirelab.lab.lab import Host, Lab, unique_name
from wirelab.lab.topology import from_toml

from .helpers import run_cli

TARGET = "198.18.0.20"
TCP = {22: ("open", "syn-ack"), 23: ("closed", "reset"), 80: ("open", "syn-ack"),
       81: ("filtered", "no-response"), 82: ("filtered", "admin-prohibited"),
       83: ("closed", "reset"), 84: ("filtered", "port-unreach"),
       85: ("filtered", "host-unreach"), 443: ("open", "syn-ack"),
       8080: ("open", "syn-ack")}
# connect(): Linux turns ICMP port unreachable into ECONNREFUSED, like a RST (closed), and
# the other unreachables into EHOSTUNREACH (filtered, reason host-unreach)
CONNECT = {**{p: (state, "conn-refused" if why == "reset" else why)
              for p, (state, why) in TCP.items()},
           82: ("filtered", "host-unreach"), 84: ("closed", "conn-refused")}
UDP = {53: ("open", "udp-response"), 161: ("closed", "port-unreach"),
       162: ("open|filtered", "no-response"), 163: ("filtered", "admin-prohibited"),
       164: ("closed", "port-unreach")}
ROOT_RATELIMIT = "/proc/sys/net/ipv4/icmp_ratelimit"


@pytest.fixture(scope="module")
def recon() -> Iterator[Lab]:
    with Lab("recon", unique_name("t")) as built:
        yield built


def nmap(client: Host, *args: str) -> dict[int, tuple[str, str]]:
    done = client.run(["nmap", "-Pn", "-n", "--reason", "-T4", "-oX", "-", *args, TARGET],
                      timeout=120)
    assert done.returncode == 0, done.stderr
    states = {}
    for port in ET.fromstring(done.stdout).iter("port"):
        state = port.find("state")
        assert state is not None
        states[int(port.get("portid", "0"))] = (state.get("state", ""),
                                                 state.get("reason", ""))
    return states


@pytest.mark.lab
def test_firewall_rules_are_loaded(recon: Lab) -> None:
    for host in ("target", "remote"):
        spec = recon.topology.hosts[host]
        for text in spec.firewall:
            rule = firewall.parse(text, host)
            check = ["iptables", "-w", "-t", rule.table, "-C", rule.chain, *rule.spec]
            done = recon.host(host).run(check)
            assert done.returncode == 0, f"{host}: {text}: {done.stderr}"
        saved = recon.host(host).run(["iptables-save"], check=True).stdout
        assert sum(line.startswith("-A ") for line in saved.splitlines()) == len(spec.firewall)
    client = recon.host("client").run(["iptables-save"], check=True).stdout
    assert "-A " not in client  # only the hosts that asked for rules have any
    shown = recon.status()["hosts"]["target"]["firewall"]
    assert shown[0] == "-A INPUT -p tcp --dport 81 -j DROP" and len(shown) == 8


@pytest.mark.lab
def test_nmap_sees_every_tcp_state(recon: Lab) -> None:
    ports = ",".join(map(str, TCP))
    assert nmap(recon.host("client"), "-sS", "-p", ports) == TCP


@pytest.mark.lab
def test_nmap_connect_scan_states(recon: Lab) -> None:
    ports = ",".join(map(str, TCP))
    assert nmap(recon.host("client"), "-sT", "-p", ports) == CONNECT


@pytest.mark.lab
def test_nmap_sees_every_udp_state_with_the_limit_lifted(recon: Lab) -> None:
    target = recon.host("target")
    target.icmp_ratelimit(False)
    try:
        ports = ",".join(map(str, UDP))
        assert nmap(recon.host("client"), "-sU", "-p", ports) == UDP
    finally:
        target.icmp_ratelimit(True)


@pytest.mark.lab
def test_remote_is_found_without_answering_ping(recon: Lab) -> None:
    client = recon.host("client")
    assert client.run(["ping", "-c", "1", "-W", "1", "198.18.1.10"]).returncode == 1
    found = client.run(["nmap", "-sn", "-n", "-oX", "-", "198.18.1.10"], timeout=60)
    status = ET.fromstring(found.stdout).find("host/status")
    assert status is not None and status.get("state") == "up"
    assert status.get("reason") != "echo-reply"  # found by its TCP answer, not by ping


def _icmp_errors(count: int) -> int:
    """Send ``count`` datagrams to a closed UDP port of the target; count ICMP errors back."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IP, 11, 1)  # IP_RECVERR: each error queued, none merged
    sock.connect((TARGET, 161))
    sent = 0
    while sent < count:
        try:
            sock.send(b"?")
            sent += 1
        except ConnectionRefusedError:  # a pending error is reported instead of sending
            pass
    errors = 0
    quiet_since = time.monotonic()
    while errors < count and time.monotonic() - quiet_since < 0.5:  # until 0.5 s of silence
        try:
            sock.recvmsg(64, 256, socket.MSG_ERRQUEUE | socket.MSG_DONTWAIT)
        except BlockingIOError:
            time.sleep(0.01)
            continue
        errors += 1
        quiet_since = time.monotonic()
    return errors


@pytest.mark.lab
def test_icmp_ratelimit_switch(recon: Lab) -> None:
    with open(ROOT_RATELIMIT) as handle:
        root_before = handle.read()
    client, target = recon.host("client"), recon.host("target")
    limited = client.call(_icmp_errors, 40)
    assert limited <= 8  # a burst of 6, plus what refilled meanwhile (one a second)
    done = run_cli("lab", "icmp-ratelimit", "target", "off", "--name", recon.name, "--json")
    assert done.returncode == 0, done.stderr
    values = json.loads(done.stdout)["sysctl"]
    assert values["net.ipv4.icmp_ratelimit"] == "0" and values["net.ipv4.icmp_ratemask"] == "0"
    try:
        assert client.call(_icmp_errors, 40) == 40
        assert client.call(_icmp_errors, 40) == 40  # the all-peers budget (50) is lifted too
        assert recon.status()["hosts"]["target"]["sysctl"]["net.ipv4.icmp_ratelimit"] == "0"
        assert client.run(["sysctl", "-n", "net.ipv4.icmp_ratelimit"]).stdout.strip() == "1000"
    finally:
        target.icmp_ratelimit(True)
    assert target.sysctl(keys=["net.ipv4.icmp_ratelimit"]) == {"net.ipv4.icmp_ratelimit": "1000"}
    time.sleep(1.1)
    assert client.call(_icmp_errors, 40) <= 8
    with open(ROOT_RATELIMIT) as handle:
        assert handle.read() == root_before


@pytest.mark.lab
def test_sysctl_command(recon: Lab) -> None:
    done = run_cli("lab", "sysctl", "router", "net.ipv4.ip_forward", "net.ipv4.tcp_syn_retries=2",
                   "--name", recon.name)
    assert done.returncode == 0, done.stderr
    assert "router: net.ipv4.ip_forward = 1" in done.stdout
    assert "router: net.ipv4.tcp_syn_retries = 2" in done.stdout
    bad = run_cli("lab", "sysctl", "router", "kernel.hostname=x", "--name", recon.name)
    assert bad.returncode != 0 and "only per-namespace settings under net." in bad.stderr
    missing = run_cli("lab", "sysctl", "router", "net.ipv4.no_such_thing=1", "--name",
                      recon.name)
    assert missing.returncode != 0
    assert "no sysctl net.ipv4.no_such_thing in a network namespace" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1


TWO_HOSTS = """
[hosts.a]
sysctl = {{ {sysctl} }}
firewall = [{firewall}]
[hosts.b]
[[links]]
a = "a"
b = "b"
"""


@pytest.mark.lab
def test_topology_sysctls_before_and_after_interfaces(make_lab) -> None:  # type: ignore[no-untyped-def]
    text = TWO_HOSTS.format(
        sysctl='"net.ipv4.conf.default.rp_filter" = 2, "net.ipv4.conf.eth0.rp_filter" = 1, '
               '"net.ipv4.tcp_syn_retries" = 3',
        firewall='"-A OUTPUT -p udp --dport 9 -j DROP", "-t mangle -A PREROUTING -j ACCEPT"')
    lab = make_lab(from_toml(text, "two"), services=False)
    a = lab.host("a")
    values = a.run(["sysctl", "-n", "net.ipv4.conf.default.rp_filter",
                    "net.ipv4.conf.eth0.rp_filter", "net.ipv4.tcp_syn_retries"],
                   check=True).stdout.split()
    assert values == ["2", "1", "3"]
    assert lab.host("b").run(["sysctl", "-n", "net.ipv4.tcp_syn_retries"],
                             check=True).stdout.strip() != "3"
    assert a.run(["iptables", "-w", "-C", "OUTPUT", "-p", "udp", "--dport", "9", "-j",
                  "DROP"]).returncode == 0
    assert a.run(["iptables", "-w", "-t", "mangle", "-C", "PREROUTING", "-j",
                  "ACCEPT"]).returncode == 0


@pytest.mark.lab
@pytest.mark.parametrize(("sysctl", "rule", "message"), [
    ('"net.ipv4.no_such_thing" = 1', "", "host a: no sysctl net.ipv4.no_such_thing"),
    ("", '"-p tcp --dport 99999 -j DROP"', "host a: its firewall rules were refused"),
])
def test_bad_settings_fail_the_lab_cleanly(make_lab, sysctl: str, rule: str,  # type: ignore[no-untyped-def]
                                           message: str) -> None:
    topo = from_toml(TWO_HOSTS.format(sysctl=sysctl, firewall=rule), "bad")
    name = unique_name("t")
    with pytest.raises(LabError, match=message):
        make_lab(topo, services=False, name=name)
    assert run_cli("lab", "status", "--name", name).returncode != 0  # nothing left
