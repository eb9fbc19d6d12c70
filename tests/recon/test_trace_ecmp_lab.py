"""Per-flow load balancing: the ``ecmp`` lab's r1 splits traffic to ``far`` over two equal
routers (r2a 198.18.11.2, r2b 198.18.12.2), hashing addresses, protocol and ports
(fib_multipath_hash_policy 3, see the lab-scenarios notes).  Classic traceroute changes the
destination port (UDP) or source port (TCP) on every probe, so the probes of one hop take
both branches: hop 2 shows both routers, a "diamond" no single packet travelled.  Paris
traceroute keeps the flow fixed, so every probe of a run takes the same branch."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from wirelab.lab.lab import Host, Lab, unique_name
from wirelab.recon.trace import Options, trace
from wirelab.recon.trace_schedule import Wait

FAR = "198.18.15.10"
BRANCH = {"198.18.11.2", "198.18.12.2"}  # r2a, r2b: the routers at hop 2
MERGE = {"198.18.13.2", "198.18.14.2"}  # r3, answering from the side it sends back through
RUNS = 4
PORT = {"udp": 33434, "tcp": 80}  # fixed destination ports for the --sport comparison


@pytest.fixture(scope="module")
def ecmp() -> Iterator[Lab]:
    with Lab("ecmp", unique_name("t"), services=False) as lab:
        yield lab


def _in_host(lab: str, method: str, paris: bool,
             sport: int | None) -> tuple[bool, list[list[str | None]]]:
    os.environ["WIRELAB_LAB"] = lab  # a forked child inside the host: what lab exec sets
    opts = Options(method=method, paris=paris, q=6, wait=Wait(5.0, 0, 0), sport=sport,
                   port=PORT[method] if sport else None)
    result = trace(FAR, opts)
    return result.reached, [[p.source for p in hop] for hop in result.hops]


def hops(client: Host, method: str, paris: bool = False,
         sport: int | None = None) -> list[set[str]]:
    """The addresses that answered at each hop, six probes a hop, traced in-process inside
    the client (the CLI is tested elsewhere; a fork saves a Python start-up per trace).
    Waits are flat (-w 5,0,0) so that a busy machine cannot turn a late answer into a star;
    every hop must answer at least once."""
    reached, path = client.call(_in_host, client.lab.name, method, paris, sport)
    assert reached, path
    answered = [{a for a in hop if a is not None} for hop in path]
    assert all(answered), path
    return answered


@pytest.mark.lab
@pytest.mark.parametrize("method", ["udp", "tcp"])
def test_classic_shows_both_branches_paris_one(ecmp: Lab, method: str) -> None:
    client = ecmp.host("client")
    seen: set[str] = set()
    diamonds = 0
    for _ in range(RUNS):
        hop2 = hops(client, method)[1]
        seen |= hop2
        diamonds += len(hop2) > 1
    assert seen == BRANCH  # classic: both routers answer at hop 2 ...
    assert diamonds >= 1  # ... even within one run (one line naming two routers)
    for _ in range(RUNS):
        path = hops(client, method, paris=True)
        assert [len(hop) for hop in path] == [1, 1, 1, 1], path
        assert path[1] <= BRANCH and path[2] <= MERGE and path[3] == {FAR}


@pytest.mark.lab
def test_icmp_paris_one_path(ecmp: Lab) -> None:
    client = ecmp.host("client")
    for _ in range(2):
        path = hops(client, "icmp", paris=True)
        assert [len(hop) for hop in path] == [1, 1, 1, 1], path


@pytest.mark.lab
def test_linux_traceroute_sees_the_same_diamond(ecmp: Lab) -> None:
    """The real traceroute, from the same host, also shows both routers at hop 2: the
    diamond is the network's doing, not wirelab's."""
    client = ecmp.host("client")
    seen: set[str] = set()
    for _ in range(RUNS):
        done = client.run(["traceroute", "-n", "-q", "6", "-f", "2", "-m", "2", FAR])
        assert done.returncode == 0, done.stderr
        seen |= {w for w in done.stdout.splitlines()[1].split() if w.startswith("198.")}
    assert seen == BRANCH


@pytest.mark.lab
def test_paris_takes_the_path_of_linux_traceroutes_fixed_flow(ecmp: Lab) -> None:
    """Linux traceroute with a fixed source and destination port (``-U --sport=S -p P``,
    ``-T --sport=S``) sends one flow; ``--paris --sport S`` must be hashed onto the very same
    branch, flow for flow -- the flow identifier is the same five fields.  Twenty flows, so
    both branches are taken by some (the hash has a random seed per namespace)."""
    client = ecmp.host("client")
    flag = {"udp": ["-U"], "tcp": ["-T"]}
    branches: set[str] = set()
    for method in ("udp", "tcp"):
        for sport in range(40001, 40011):
            done = client.run(["traceroute", "-n", *flag[method], f"--sport={sport}", "-p",
                               str(PORT[method]), "-w", "5,0,0", FAR])
            assert done.returncode == 0, done.stderr
            theirs = [next(w for w in line.split()[1:] if w[0].isdigit())
                      for line in done.stdout.splitlines()[1:]]
            ours = hops(client, method, paris=True, sport=sport)
            assert [len(hop) for hop in ours] == [1, 1, 1, 1], ours
            assert [hop.pop() for hop in ours] == theirs, (method, sport)
            branches.add(theirs[1])
    assert branches == BRANCH
