"""The ``ecmp`` scenario built for real: the multipath route is in the kernel, the branching
routers hash on ports, and Linux ``traceroute`` shows it: probes whose ports vary meet both
middle routers at TTL 2 (a false diamond), one flow always meets the same one.

Each probe to TTL 2 answers with ICMP time exceeded from r2a (198.18.11.2) or r2b
(198.18.12.2), the address of the interface each sends back through."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest

from wirelab.lab.lab import Lab, unique_name

# The ecmp topology hashes on ports with fib_multipath_hash_policy 3 (Linux 5.14+, and a
# kernel built with CONFIG_IP_ROUTE_MULTIPATH); without it `lab up ecmp` fails by design.
pytestmark = pytest.mark.skipif(
    not os.path.exists("/proc/sys/net/ipv4/fib_multipath_hash_fields"),
    reason="this kernel has no custom multipath hash (Linux 5.14+ with IP_ROUTE_MULTIPATH)")

R2A, R2B = "198.18.11.2", "198.18.12.2"
FAR = "198.18.15.10"
ROOT_KEYS = ("net.ipv4.fib_multipath_hash_policy", "net.ipv4.icmp_ratelimit")


def _root_sysctls() -> dict[str, str]:
    out = {}
    for key in ROOT_KEYS:
        with open("/proc/sys/" + key.replace(".", "/")) as handle:
            out[key] = handle.read().strip()
    return out


@pytest.fixture(scope="module")
def root_before() -> dict[str, str]:
    return _root_sysctls()


@pytest.fixture(scope="module")
def ecmp(root_before: dict[str, str]) -> Iterator[Lab]:
    with Lab("ecmp", unique_name("t"), services=False) as built:
        yield built


def hop2(lab: Lab, *options: str) -> list[str]:
    """The addresses that answered at TTL 2, one per probe (``*`` for none), in order."""
    done = lab.host("client").run(["traceroute", "-n", "-f", "2", "-m", "2", "-w", "1",
                                   *options, FAR], timeout=30)
    assert done.returncode == 0, done.stderr
    line = done.stdout.splitlines()[-1]
    assert line.split()[0] == "2", done.stdout
    answers: list[str] = []
    current = "*"
    for word in line.split()[1:]:
        if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", word):
            current = word
        elif word == "ms":
            answers.append(current)
        elif word == "*":
            answers.append("*")
    return answers


@pytest.mark.lab
def test_multipath_route_in_the_kernel(ecmp: Lab) -> None:
    shown = ecmp.host("r1").run(["ip", "route", "show", "198.18.15.0/24"], check=True).stdout
    assert re.findall(r"nexthop via (\S+) dev (\S+)", shown) == [(R2A, "eth1"), (R2B, "eth2")]
    back = ecmp.host("r3").run(["ip", "route", "show", "198.18.10.0/24"], check=True).stdout
    assert len(re.findall(r"nexthop via", back)) == 2
    one = ecmp.host("client").run(["ip", "route", "get", FAR], check=True).stdout
    assert "via 198.18.10.1 dev eth0" in one  # the client has one way out
    routes = ecmp.status()["hosts"]["r1"]["routes"]  # status reads the same back
    assert f"198.18.15.0/24 nexthop via {R2A} dev eth1 nexthop via {R2B} dev eth2" in routes


@pytest.mark.lab
def test_sysctls_in_the_hosts_only(ecmp: Lab, root_before: dict[str, str]) -> None:
    r1 = ecmp.host("r1").run(["sysctl", "-n", *ROOT_KEYS, "net.ipv4.fib_multipath_hash_fields"],
                             check=True).stdout.split()
    assert r1 == ["3", "0", "0x0037"] or r1 == ["3", "0", "55"]
    client = ecmp.host("client").run(["sysctl", "-n", *ROOT_KEYS], check=True).stdout.split()
    assert client == ["0", "1000"]  # the topology sets nothing on client: kernel defaults
    assert _root_sysctls() == root_before  # the machine's own namespace untouched


@pytest.mark.lab
def test_classic_traceroute_sees_both_middle_routers(ecmp: Lab) -> None:
    # Each probe: a new socket (new source port) and the next destination port, so each is
    # its own flow; r1 hashes them over both paths.  8 probes all on one path: 1 in 128.
    seen: set[str] = set()
    for _ in range(4):
        seen.update(hop2(ecmp, "-q", "8"))
        if {R2A, R2B} <= seen:
            break
    assert seen == {R2A, R2B}


@pytest.mark.lab
@pytest.mark.parametrize("method", [["-U"], ["-T", "-p", "80"]])
def test_one_flow_sees_one_router(ecmp: Lab, method: list[str]) -> None:
    # A fixed source port and a fixed destination port: one flow, one path, every probe.
    # (Without --sport even -U varies: Linux traceroute opens a socket per probe.)
    used = set()
    for sport in (40001, 40002, 40003, 40004):
        answers = hop2(ecmp, *method, f"--sport={sport}", "-q", "6")
        assert len(set(answers)) == 1 and answers[0] in (R2A, R2B), answers
        used.add(answers[0])
    assert used <= {R2A, R2B}


@pytest.mark.lab
def test_icmp_echo_is_one_flow(ecmp: Lab) -> None:
    # ICMP has no ports: the hash sees addresses and protocol only, so every echo probe of
    # traceroute -I takes the same path whatever its sequence number.
    answers = hop2(ecmp, "-I", "-q", "8")
    assert len(set(answers)) == 1 and answers[0] in (R2A, R2B), answers


@pytest.mark.lab
def test_lab_removed_leaves_no_sysctl_behind(root_before: dict[str, str]) -> None:
    assert _root_sysctls() == root_before
    assert os.path.exists("/proc/sys/net/ipv4/fib_multipath_hash_policy")
