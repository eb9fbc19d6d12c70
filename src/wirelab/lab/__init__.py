"""The lab: a hermetic virtual network of namespaces, built as root or without root.

Hosts are network namespaces joined by veth cables and Linux bridges (which live in a hidden
"switch" namespace); nothing is added to the machine's own network.  Addresses come from
198.18.0.0/15 (RFC 2544), there is no route out of the lab, and every object is named with the
lab's name and recorded, so ``down`` removes exactly what ``up`` made, even after a crash.

Usage::

    from wirelab.lab import Lab

    with Lab("default") as lab:                       # or "line:4", "star:10", "my.toml"
        server = lab.host("server")
        server.ip                                     # "198.18.0.20"
        r = lab.host("client").run(["ping", "-c", "1", "server"])   # CompletedProcess
        r.returncode, r.stdout
        p = server.popen(["python3", "-m", "http.server", "9000"])  # subprocess.Popen
        lab.host("client").call(some_function, arg)   # a Python function run in the host
        with lab.capture("client", "out.pcap", bpf="icmp", count=4):
            lab.host("client").run(["ping", "-c", "2", "server"])
        lab.link("client", "server").shape(delay="50ms", loss="2%")    # netem both ways
        lab.link("client", "server").clear()

Default topology: ``client`` 198.18.0.10 and ``server`` 198.18.0.20 on segment ``lan``
(198.18.0.0/24) with ``router`` 198.18.0.1, which joins segment ``wan`` (198.18.1.0/24) where
``remote`` is 198.18.1.10.  ``server`` runs an HTTP origin (80, 8080: /get, /bytes/N,
/stream-bytes/N, /status/CODE, /delay/S), the lab's DNS server (53; names ``HOST`` and
``HOST.lab``) and listeners on 22 and 443.

In pytest, take the fixtures from :mod:`wirelab.lab.fixtures` (registered by tests/conftest.py)
and mark the test ``@pytest.mark.lab``::

    @pytest.mark.lab
    def test_ping(lab):                  # a fresh default lab for this test
        assert lab.host("client").run(["ping", "-c1", "server"]).returncode == 0

    @pytest.mark.lab
    def test_fast(shared_lab): ...       # one default lab for the whole module (don't shape it)

    @pytest.mark.lab
    def test_other(make_lab):            # any topology, removed at the end of the test
        lab = make_lab("line:3", services=False)

Scenario topologies (``docs/topologies.md``): ``recon`` (a target whose firewall rules give
every port state nmap knows), ``path`` (three routers in a row, for traceroute) and ``ecmp``
(two equal-cost paths: classic traceroute's false diamond, Paris traceroute's one path).  A
topology can give each host iptables rules (``firewall = [...]``) and settings of its own
namespace (``sysctl = {...}``); ``host.sysctl({...})`` and ``host.icmp_ratelimit(False)``
change them on a running lab.

As root the namespaces are visible with ``ip netns`` (``wl-LAB.HOST``).  Without root the lab
lives in a user namespace held by a small "keeper" process; commands enter it through
``Host.run``/``popen``/``call`` or ``wirelab lab exec``, and raw sockets work there unprivileged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wirelab.lab.capture import Capture
    from wirelab.lab.lab import Host, Lab, LinkHandle
    from wirelab.lab.shaping import Shaping
    from wirelab.lab.topology import Topology

__all__ = ["Capture", "Host", "Lab", "LinkHandle", "Shaping", "Topology"]

_WHERE = {"Lab": "wirelab.lab.lab", "Host": "wirelab.lab.lab", "LinkHandle": "wirelab.lab.lab",
          "Capture": "wirelab.lab.capture", "Shaping": "wirelab.lab.shaping",
          "Topology": "wirelab.lab.topology"}


def __getattr__(name: str) -> Any:
    # Lazy, so that the keeper and the services (which import wirelab.lab.*) start quickly.
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'wirelab.lab' has no attribute {name!r}")
