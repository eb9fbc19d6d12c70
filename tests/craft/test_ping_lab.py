"""``wirelab ping`` against real hosts of the lab (curriculum 2.1).

Loss is checked two ways: against the binomial distribution (the expected loss figure, within
five standard deviations, so that a correct tool fails less than once in a million runs), and
exactly, against the packet counter of the kernel rule that dropped the probes.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from wirelab.errors import LabError

from ..helpers import tshark_fields
from .labutil import capture, firewall_rule, rule_packets, run_wirelab

pytestmark = pytest.mark.lab

REPLY = re.compile(r"^(\d+) bytes from ([\d.]+): icmp_seq=(\d+) ttl=(\d+) time=([\d.]+) ms$",
                   re.M)


def ping_json(host, *args: str) -> dict:  # type: ignore[no-untyped-def]
    done = run_wirelab(host, "ping", "--json", *args)
    assert done.returncode in (0, 1), done.stderr
    import json

    return json.loads(done.stdout)


def binomial_window(n: int, p: float, sigmas: float = 5.0) -> tuple[float, float]:
    """Loss percentages a correct tool stays within, except with probability < 1e-6."""
    sd = math.sqrt(n * p * (1 - p))
    return 100.0 * (n * p - sigmas * sd) / n, 100.0 * (n * p + sigmas * sd) / n


def test_router_and_remote_ttl_one_lower_across_the_router(shared_lab, tmp_path: Path) -> None:
    client = shared_lab.host("client")
    pcap = tmp_path / "ping.pcap"
    with capture(shared_lab, "client", pcap, bpf="icmp"):
        near = run_wirelab(client, "ping", "-c", "3", "-i", "0.2", "router")
        far = run_wirelab(client, "ping", "-c", "3", "-i", "0.2", "remote")
    assert near.returncode == 0 and far.returncode == 0, near.stderr + far.stderr
    near_replies = REPLY.findall(near.stdout)
    far_replies = REPLY.findall(far.stdout)
    assert [int(r[2]) for r in near_replies] == [1, 2, 3]
    assert {r[1] for r in near_replies} == {shared_lab.host("router").ip}
    assert {r[1] for r in far_replies} == {shared_lab.host("remote").ip}
    assert all(r[0] == "64" for r in near_replies + far_replies)  # 8 + 56 bytes of ICMP
    ttl_near = {int(r[3]) for r in near_replies}
    ttl_far = {int(r[3]) for r in far_replies}
    assert len(ttl_near) == len(ttl_far) == 1
    assert ttl_far.pop() == ttl_near.pop() - 1
    # The TTLs printed are the ones on the wire (tshark on the same replies).
    wire = tshark_fields(pcap, "ip.src", "ip.ttl", display="icmp.type == 0")
    printed = {(r[1], r[3]) for r in near_replies + far_replies}
    assert {(src, ttl) for src, ttl in wire} == printed
    assert "0% packet loss" in far.stdout and "rtt min/avg/max/mdev" in far.stdout


def test_time_exceeded_and_unreachable_are_reported(shared_lab) -> None:
    client, router = shared_lab.host("client"), shared_lab.host("router")
    short = run_wirelab(client, "ping", "-c", "2", "-i", "0.2", "-t", "1", "remote")
    assert short.returncode == 1
    assert short.stdout.count(f"From {router.ip} icmp_seq=") == 2
    assert "Time to live exceeded" in short.stdout
    assert "2 packets transmitted, 0 received, +2 errors, 100% packet loss" in short.stdout
    # An unused address on the far segment: the router's ARP fails (about 3 s), and it says
    # so with an ICMP host unreachable.  The address is inside the lab's own subnet.
    unused = "198.18.1.99"
    nobody = run_wirelab(client, "ping", "-c", "1", "-W", "6", unused)
    assert nobody.returncode == 1
    assert f"From {router.ip} icmp_seq=1 Destination Host Unreachable" in nobody.stdout


def test_timeouts_count_as_loss(shared_lab) -> None:
    client, server = shared_lab.host("client"), shared_lab.host("server")
    with firewall_rule(server, "INPUT", "-p", "icmp", "--icmp-type", "echo-request",
                       "-j", "DROP"):
        done = run_wirelab(client, "ping", "-c", "3", "-i", "0.1", "-W", "0.5", "server")
    assert done.returncode == 1
    assert done.stdout.count("(timeout)") == 3
    assert "3 packets transmitted, 0 received, 100% packet loss" in done.stdout
    assert "rtt" not in done.stdout


def test_exact_loss_every_fourth_probe(shared_lab) -> None:
    client, server = shared_lab.host("client"), shared_lab.host("server")
    with firewall_rule(server, "INPUT", "-p", "icmp", "--icmp-type", "echo-request", "-m",
                       "statistic", "--mode", "nth", "--every", "4", "--packet", "0",
                       "-j", "DROP"):
        stats = ping_json(client, "-c", "40", "-i", "0.01", "-W", "1", "server")
        dropped = rule_packets(server, "INPUT")
    assert stats["transmitted"] == 40
    assert dropped == 10
    assert stats["received"] == 30
    assert stats["loss_percent"] == 25.0


def test_random_loss_matches_its_probability(shared_lab) -> None:
    client, server = shared_lab.host("client"), shared_lab.host("server")
    n, p = 400, 0.2
    with firewall_rule(server, "INPUT", "-p", "icmp", "--icmp-type", "echo-request", "-m",
                       "statistic", "--mode", "random", "--probability", str(p), "-j", "DROP"):
        stats = ping_json(client, "-c", str(n), "-i", "0.005", "-W", "1", "server")
        dropped = rule_packets(server, "INPUT")
    assert stats["transmitted"] == n
    assert stats["received"] == n - dropped  # exact: every loss is one the kernel made
    low, high = binomial_window(n, p)
    assert low <= stats["loss_percent"] <= high


def _shape_or_skip(lab, **shaping: str) -> None:  # type: ignore[no-untyped-def]
    try:
        lab.link("client", "server").shape(**shaping)
    except LabError as exc:
        pytest.skip(f"netem shaping is not available in this kernel: {exc}")


def test_netem_delay_gives_the_round_trip(lab) -> None:
    _shape_or_skip(lab, delay="50ms")
    stats = ping_json(lab.host("client"), "-c", "5", "-i", "0.2", "server")
    assert stats["received"] == 5
    rtt = stats["rtt_ms"]
    assert rtt["min"] >= 100.0  # 50 ms each way
    assert rtt["max"] < 100.0 + 50.0


def test_netem_loss_gives_the_loss_figure(lab) -> None:
    _shape_or_skip(lab, loss="20%")
    n = 400
    stats = ping_json(lab.host("client"), "-c", str(n), "-i", "0.005", "-W", "1", "server")
    # Both directions are shaped: a probe survives only if request and reply both do.
    low, high = binomial_window(n, 1 - 0.8 * 0.8)
    assert low <= stats["loss_percent"] <= high
