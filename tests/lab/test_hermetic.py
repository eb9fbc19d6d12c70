"""The lab never touches the machine's own network, and cannot reach beyond itself."""

from __future__ import annotations

import errno
import socket

import pytest

from wirelab.lab.lab import Lab

from .helpers import root_snapshot

pytestmark = pytest.mark.lab


def test_root_namespace_is_untouched(make_lab) -> None:  # type: ignore[no-untyped-def]
    before = root_snapshot()
    lab = make_lab("default")
    during = root_snapshot()
    lab.link("client", "server").shape(delay="10ms", rate="10mbit")
    shaped = root_snapshot()
    lab.down()
    after = root_snapshot()
    assert during == before, "the lab added something to the root namespace"
    assert shaped == before
    assert after == before


@pytest.mark.parametrize("outside", ["8.8.8.8", "1.1.1.1", "192.168.1.1", "10.0.0.1"])
def test_outside_addresses_are_unreachable(shared_lab: Lab, outside: str) -> None:
    # Asked of the routing table, never sent: no route, so the kernel refuses at once.
    for host in ("client", "router", "remote"):
        result = shared_lab.host(host).run(["ip", "route", "get", outside])
        assert result.returncode != 0
        assert "Network is unreachable" in result.stderr, (host, result.stderr)


def test_no_default_route_in_any_host(shared_lab: Lab) -> None:
    for host in shared_lab.hosts:
        routes = host.run(["ip", "-4", "route", "show"]).stdout
        assert "default" not in routes, (host.name, routes)
        assert all(line.startswith("198.18.") for line in routes.splitlines()), routes


def test_connect_outside_fails_at_once(shared_lab: Lab) -> None:
    """connect() to an outside address fails with ENETUNREACH before any packet leaves."""
    def _connect() -> int:
        with socket.socket() as sock:
            sock.settimeout(1)
            return sock.connect_ex(("8.8.8.8", 53))

    assert shared_lab.host("client").call(_connect) == errno.ENETUNREACH


def test_host_sees_only_its_interfaces(shared_lab: Lab) -> None:
    links = shared_lab.host("router").run(["ip", "-o", "link", "show"]).stdout
    names = sorted(line.split(":")[1].strip().split("@")[0] for line in links.splitlines())
    assert names == ["eth0", "eth1", "lo"]
    sysfs = shared_lab.host("router").run(["ls", "/sys/class/net"]).stdout.split()
    assert sorted(sysfs) == ["eth0", "eth1", "lo"]
    assert shared_lab.host("router").run(["hostname"]).stdout.strip() == "router"
