"""Discovery beyond the local segment: from the lab's client, the wan segment 198.18.1.0/24
behind the router, with nmap's probes (ICMP echo, TCP SYN to 443, TCP ACK to 80, ICMP
timestamp), compared with ``nmap -sn -n`` from the same host and with the lab's own list of
addresses there."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET

import pytest

from wirelab.lab.lab import Host, Lab
from wirelab.recon.discover import _Keys, build_probes, classify
from wirelab.wire.ipv4 import IPv4
from wirelab.wire.tcp import TCP, TCPFlags

from .labutil import run_out

WAN = "198.18.1.0/24"


def _ours(client: Host, *targets: str) -> dict[str, str]:
    data = json.loads(run_out(client, [sys.executable, "-m", "wirelab", "discover", *targets,
                                       "--json"]))
    assert data["method"] == "probe" and data["source"] == "198.18.0.10"
    assert all(h["rtt_ms"] > 0 for h in data["hosts"])
    return {h["ip"]: h["reason"] for h in data["hosts"]}


def _nmap(client: Host, network: str) -> dict[str, str]:
    root = ET.fromstring(run_out(client, ["nmap", "-sn", "-n", "--reason", "-oX", "-", network]))
    up = {}
    for host in root.iter("host"):
        status, address = host.find("status"), host.find("address")
        assert status is not None and address is not None
        if status.get("state") == "up":
            up[address.get("addr", "")] = status.get("reason", "")
    return up


@pytest.mark.lab
def test_wan_segment_like_nmap(shared_lab: Lab) -> None:
    client = shared_lab.host("client")
    truth = {a for h in shared_lab.hosts for a in h.addresses if a.startswith("198.18.1.")}
    assert truth == {"198.18.1.1", "198.18.1.10"}  # the router's wan side and remote
    ours = _ours(client, WAN)
    assert set(ours) == truth
    assert set(ours) == set(_nmap(client, WAN))
    assert set(ours.values()) <= {"echo-reply", "timestamp-reply", "syn-ack", "reset"}


@pytest.mark.lab
def test_tcp_probes_find_a_host_that_ignores_ping(shared_lab: Lab) -> None:
    client, remote = shared_lab.host("client"), shared_lab.host("remote")
    rules = [["-p", "icmp", "-j", "DROP"]]
    try:
        run_out(remote, ["iptables", "-w", "-A", "INPUT", *rules[0]])
        # one address: the sweep ends as soon as it answers
        assert _ours(client, "198.18.1.10") == {"198.18.1.10": "reset"}  # RST from 443
        rules.append(["-p", "tcp", "--dport", "443", "-j", "DROP"])
        run_out(remote, ["iptables", "-w", "-A", "INPUT", *rules[1]])
        assert _ours(client, "198.18.1.10") == {"198.18.1.10": "reset"}  # RST to the ACK
        assert set(_nmap(client, "198.18.1.10")) == {"198.18.1.10"}
    finally:
        for rule in rules:
            remote.run(["iptables", "-w", "-D", "INPUT", *rule])


@pytest.mark.lab
def test_timestamp_finds_a_host_that_drops_echo_and_tcp(shared_lab: Lab) -> None:
    client, remote = shared_lab.host("client"), shared_lab.host("remote")
    rules = [["-p", "icmp", "--icmp-type", "echo-request", "-j", "DROP"],
             ["-p", "tcp", "-j", "DROP"]]
    try:
        for rule in rules:
            run_out(remote, ["iptables", "-w", "-A", "INPUT", *rule])
        assert _ours(client, "198.18.1.10") == {"198.18.1.10": "timestamp-reply"}
        assert _nmap(client, "198.18.1.10") == {"198.18.1.10": "timestamp-reply"}
    finally:
        for rule in rules:
            remote.run(["iptables", "-w", "-D", "INPUT", *rule])


@pytest.mark.lab
def test_several_targets(shared_lab: Lab) -> None:
    client = shared_lab.host("client")
    assert _ours(client, "198.18.1.1", "198.18.1.10", "198.18.1.11") == {
        "198.18.1.1": "echo-reply", "198.18.1.10": "echo-reply"}
    mixed = client.run([sys.executable, "-m", "wirelab", "discover", "198.18.0.20",
                        "198.18.1.10"], timeout=60)
    assert mixed.returncode == 6 and mixed.stdout == ""
    assert mixed.stderr == ("wirelab: some targets are on this host's segment (ARP) and some "
                            "beyond it (probes): sweep them in two runs\n")


def test_answers_matched_by_cookie() -> None:
    """A RST that does not carry our cookie, or comes from an address we did not probe, is
    not an answer."""
    keys = _Keys(["198.18.1.10"])
    _, syn, ack, _ = build_probes("198.18.0.10", "198.18.1.10", keys)
    syn_seq = TCP.decode(IPv4.decode(syn).payload).seq
    ack_ack = TCP.decode(IPv4.decode(ack).payload).ack

    def frame(src: str, sport: int, seq: int, ack_no: int, flags: int) -> bytes:
        tcp = TCP(sport, keys.sport, seq=seq, ack=ack_no, flags=flags).encode(src,
                                                                              "198.18.0.10")
        return bytes(14) + IPv4(proto=6, src=src, dst="198.18.0.10", payload=tcp).encode()

    rst_ack = int(TCPFlags.RST | TCPFlags.ACK)
    assert classify(frame("198.18.1.10", 443, 0, syn_seq + 1, rst_ack), keys) == (
        "198.18.1.10", "reset")
    assert classify(frame("198.18.1.10", 443, 7, syn_seq + 1,
                          int(TCPFlags.SYN | TCPFlags.ACK)), keys) == ("198.18.1.10", "syn-ack")
    assert classify(frame("198.18.1.10", 80, ack_ack, 0, int(TCPFlags.RST)), keys) == (
        "198.18.1.10", "reset")
    assert classify(frame("198.18.1.10", 443, 0, syn_seq + 2, rst_ack), keys) is None
    assert classify(frame("198.18.1.10", 80, ack_ack + 1, 0, int(TCPFlags.RST)), keys) is None
    assert classify(frame("198.18.1.11", 80, ack_ack, 0, int(TCPFlags.RST)), keys) is None
