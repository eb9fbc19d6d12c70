"""The pure topology model: generators, TOML files, validation, the resolved plan.  No lab."""

from __future__ import annotations

import ipaddress

import pytest

from wirelab.errors import LabError
from wirelab.lab.plan import plan_topology
from wirelab.lab.shaping import Shaping, parse_rate_bps, parse_time_ms
from wirelab.lab.topology import LAB_POOL, Topology, from_toml, line, load, star


def test_default_topology_matches_issue() -> None:
    plan = plan_topology(load("default"))
    assert plan.hosts == ["client", "server", "router", "remote"]
    assert str(plan.address("client")) == "198.18.0.10"
    assert str(plan.address("server")) == "198.18.0.20"
    # client and server share the switched segment; remote is behind the router
    assert plan.interfaces["client"][0].segment == plan.interfaces["server"][0].segment == "lan"
    assert [i.segment for i in plan.interfaces["router"]] == ["lan", "wan"]
    assert plan.interfaces["remote"][0].segment == "wan"
    assert plan.forwarding["router"] and not plan.forwarding["client"]
    assert plan.dns_host() == "server"
    assert sorted(plan.service_ports("server")) == ["dns", "http", "listen"]


def test_every_address_is_in_the_benchmarking_range() -> None:
    for spec in ("default", "line:5", "star:200"):
        plan = plan_topology(load(spec))
        for ifaces in plan.interfaces.values():
            for iface in ifaces:
                assert iface.address.ip in LAB_POOL, (spec, iface)


def test_no_default_route_only_lab_subnets() -> None:
    plan = plan_topology(load("default"))
    lab_nets = list(plan.subnets.values())
    for host, routes in plan.routes.items():
        for route in routes:
            assert route.dst.prefixlen > 0, f"{host} has a default route"
            assert any(route.dst.subnet_of(n) or n.subnet_of(route.dst) for n in lab_nets)
    assert [str(r.dst) for r in plan.routes["client"]] == ["198.18.1.0/24"]
    assert str(plan.routes["client"][0].via) == "198.18.0.1"


def test_line_routes_through_every_hop() -> None:
    plan = plan_topology(line(4))
    assert plan.forwarding == {"h1": False, "h2": True, "h3": True, "h4": False}
    # h1 reaches the far subnets through h2 only
    assert {str(r.via) for r in plan.routes["h1"]} == {str(plan.interfaces["h2"][0].address.ip)}
    covered = [r.dst for r in plan.routes["h1"]]
    for name, net in plan.subnets.items():
        if name != "h1~h2":
            assert any(net.subnet_of(c) for c in covered), name


def test_line_routes_are_collapsed() -> None:
    plan = plan_topology(line(200))
    assert len(plan.routes["h1"]) < 12  # 198 subnets in a handful of prefixes
    assert all(r.dst.subnet_of(LAB_POOL) for r in plan.routes["h100"])


def test_star_grows_its_subnet() -> None:
    plan = plan_topology(star(300))
    assert plan.subnets["s0"].prefixlen == 23
    assert len({i.address.ip for ifs in plan.interfaces.values() for i in ifs}) == 300
    assert all(len(i.port or "") <= 15 for ifs in plan.interfaces.values() for i in ifs)


TOML = """
name = "triangle"
[hosts.a]
[hosts.b]
services = ["http"]
[hosts.r]
[segments.left]
subnet = "198.18.10.0/24"
[[links]]
a = "a"
b = "left"
addresses = { a = "198.18.10.5" }
[[links]]
a = "r"
b = "left"
[[links]]
a = "r"
b = "b"
delay = "20ms"
loss = "1%"
"""


def test_toml_file_roundtrip() -> None:
    topo = from_toml(TOML, "x")
    plan = plan_topology(topo)
    assert str(plan.address("a")) == "198.18.10.5"
    assert plan.interfaces["r"][0].address.ip in ipaddress.IPv4Network("198.18.10.0/24")
    assert plan.forwarding["r"]
    assert plan.interfaces["b"][0].shaping == Shaping(delay_ms=20.0, loss_pct=1.0)
    again = Topology.from_dict(topo.to_dict())
    assert plan_topology(again).interfaces == plan.interfaces


@pytest.mark.parametrize("text, message", [
    ('[hosts.a]\n[[links]]\na = "a"\nb = "nowhere"', "no host or segment named 'nowhere'"),
    ('[hosts.A]', "host name 'A'"),
    ('[hosts.a]\nservices = ["ftp"]', "unknown service 'ftp'"),
    ('[hosts.a]\n[segments.s]\nsubnet = "8.8.8.0/24"', "must be private space"),
    ('[hosts.a]\nbogus = 1', "unknown key"),
    ('[hosts.a]\n[segments.s]\n[segments.t]\n[[links]]\na = "s"\nb = "t"', "two segments"),
    ('[hosts.a]\n[segments.s]\nsubnet = "198.18.0.0/24"\n[[links]]\na = "a"\nb = "s"\n'
     'addresses = { a = "198.18.1.1" }', "not in s's subnet"),
    ('[hosts.a]\n[hosts.b]\n[[links]]\na = "a"\nb = "b"\nreorder = "5%"', "needs a --delay"),
    ('[hosts.a', "not valid TOML"),
])
def test_bad_topologies_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(LabError, match=message):
        plan_topology(from_toml(text, "bad"))


def test_unknown_topology_spec() -> None:
    with pytest.raises(LabError, match="no topology 'mesh'"):
        load("mesh")
    with pytest.raises(LabError, match="star:0"):
        load("star:0")


def test_describe_is_printable() -> None:
    text = load("default").describe()
    assert "segment lan 198.18.0.0/24" in text
    assert "route 198.18.1.0/24 via 198.18.0.1 dev eth0" in text
    assert "services http, dns, listen" in text


def test_hosts_and_resolv_files() -> None:
    plan = plan_topology(load("default"))
    hosts = plan.hosts_file("client", "t1")
    assert "198.18.0.10\tclient.lab client" in hosts
    assert "server" not in hosts  # other names go through the lab's DNS server
    assert "nameserver 198.18.0.20" in plan.resolv_conf("client", "t1")
    star_plan = plan_topology(star(3))  # no DNS server: everyone is in /etc/hosts
    assert "h3.lab h3" in star_plan.hosts_file("h1", "t1")
    assert "nameserver" not in star_plan.resolv_conf("h1", "t1")


def test_shaping_parsing() -> None:
    assert parse_time_ms("20ms") == 20.0 and parse_time_ms("1.5s") == 1500.0
    assert parse_rate_bps("10mbit") == 10_000_000 and parse_rate_bps("1mbps") == 8_000_000
    shaping = Shaping.parse(delay="50ms", jitter="5ms", loss="2%", rate="10mbit",
                            reorder="5%")
    assert shaping.describe() == "delay 50ms jitter 5ms loss 2% reorder 5% rate 10mbit"
    for bad in ({"delay": "fast"}, {"loss": "150%"}, {"rate": "10"}, {"jitter": "5ms"}):
        with pytest.raises(LabError):
            Shaping.parse(**bad)


def test_the_documented_toml_example_builds() -> None:
    import wirelab.lab.topology as topology

    example = topology.__doc__.split("::", 1)[1]  # type: ignore[union-attr]
    text = "\n".join(line[4:] for line in example.splitlines())
    plan = plan_topology(from_toml(text, "doc"))
    assert plan.forwarding["r"]
    assert [str(r.via) for r in plan.routes["a"]] == [str(plan.interfaces["r"][0].address.ip)]
    assert plan.interfaces["b"][0].shaping == Shaping(delay_ms=20.0, loss_pct=1.0)
