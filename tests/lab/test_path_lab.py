"""The ``path`` scenario built for real: Linux traceroute from client meets r1, r2, r3 and far,
each router answering from the address of its interface back toward the client."""

from __future__ import annotations

import pytest

from wirelab.lab.fixtures import MakeLab

HOPS = ["198.18.20.1", "198.18.21.2", "198.18.22.2", "198.18.23.10"]


@pytest.mark.lab
def test_traceroute_meets_every_router(make_lab: MakeLab) -> None:
    lab = make_lab("path", services=False)
    client = lab.host("client")
    for method in ([], ["-I"], ["-T", "-p", "80"]):
        done = client.run(["traceroute", "-n", "-q", "2", "-w", "1", *method, "far"],
                          timeout=60)
        assert done.returncode == 0, done.stderr
        hops = [line.split()[1] for line in done.stdout.splitlines()[1:]]
        assert hops == HOPS, (method, done.stdout)
    # each router's own namespace lifts the limit; the client keeps the kernel default
    assert lab.host("r2").sysctl(keys=["net.ipv4.icmp_ratelimit"]) == \
        {"net.ipv4.icmp_ratelimit": "0"}
    assert lab.host("client").sysctl(keys=["net.ipv4.icmp_ratelimit"]) == \
        {"net.ipv4.icmp_ratelimit": "1000"}
