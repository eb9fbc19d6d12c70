"""The scenario features as pure data: ECMP routes, per-host sysctls and firewall rules, and the
shipped recon, path and ecmp topologies resolved without building anything."""

from __future__ import annotations

import ipaddress

import pytest

from wirelab.errors import LabError
from wirelab.lab import firewall
from wirelab.lab.plan import plan_topology
from wirelab.lab.sysctl import MULTIPATH_FIELDS, MULTIPATH_HASH, parse_assignment
from wirelab.lab.topology import Topology, from_toml, line, load, shipped_names

DIAMOND = """
{ecmp}
[hosts.a]
[hosts.r1]
[hosts.x]
[hosts.y]
[hosts.r3]
[hosts.b]
[[links]]
a = "a"
b = "r1"
[[links]]
a = "r1"
b = "x"
[[links]]
a = "r1"
b = "y"
[[links]]
a = "x"
b = "r3"
[[links]]
a = "y"
b = "r3"
[[links]]
a = "r3"
b = "b"
"""


def _route_to(plan, host: str, target: str):  # type: ignore[no-untyped-def]
    addr = plan.address(target)
    found = [r for r in plan.routes[host] if addr in r.dst]
    assert len(found) == 1, (host, target, plan.routes[host])
    return found[0]


def test_shipped_scenarios_are_listed() -> None:
    assert {"default", "recon", "path", "ecmp"} <= set(shipped_names())


def test_ecmp_topology_has_two_next_hops_at_the_branches() -> None:
    plan = plan_topology(load("ecmp"))
    r2a, r2b = (plan.interfaces[h][0].address.ip for h in ("r2a", "r2b"))
    route = _route_to(plan, "r1", "far")
    assert {via for via, _ in route.hops} == {r2a, r2b}
    assert {dev for _, dev in route.hops} == {"eth1", "eth2"}
    assert str(route).startswith("198.18.15.0/24 nexthop via ")
    back = _route_to(plan, "r3", "client")
    assert {via for via, _ in back.hops} == {plan.interfaces["r2a"][1].address.ip,
                                             plan.interfaces["r2b"][1].address.ip}
    # the branching routers hash on ports; the others are left alone
    for host in ("r1", "r3"):
        assert plan.sysctls[host][MULTIPATH_HASH] == "3"
        assert plan.sysctls[host][MULTIPATH_FIELDS] == "0x0037"
    for host in ("client", "r2a", "r2b", "far"):
        assert MULTIPATH_HASH not in plan.sysctls[host]
        assert all(not r.more for r in plan.routes[host])
    # the addresses the notes and the trace tests rely on
    assert [str(plan.address(h)) for h in ("client", "r2a", "r2b", "far")] == \
        ["198.18.10.10", "198.18.11.2", "198.18.12.2", "198.18.15.10"]


def test_ecmp_is_opt_in() -> None:
    single = plan_topology(from_toml(DIAMOND.format(ecmp=""), "d"))
    multi = plan_topology(from_toml(DIAMOND.format(ecmp="ecmp = true"), "d"))
    assert all(not r.more for routes in single.routes.values() for r in routes)
    assert len(_route_to(single, "a", "b").hops) == 1
    assert len(_route_to(multi, "r1", "b").hops) == 2
    assert len(_route_to(multi, "r3", "a").hops) == 2
    # a host with one way out keeps one next hop even with ecmp on
    assert len(_route_to(multi, "a", "b").hops) == 1
    assert all(MULTIPATH_HASH not in s for s in single.sysctls.values())


def test_ecmp_changes_nothing_where_there_is_one_shortest_path() -> None:
    for spec in ("default", "line:6", "star:5"):
        topo = load(spec)
        before = plan_topology(topo).routes
        topo.ecmp = True
        assert plan_topology(topo).routes == before, spec


def test_unequal_paths_are_not_multipath() -> None:
    # a - r1 - x - r3 - b, plus a longer detour r1 - y - z - r3: only the short one is used
    topo = from_toml(DIAMOND.format(ecmp="ecmp = true"), "d")
    topo.add_host("z").add_link("y", "z")
    topo.links = [lk for lk in topo.links if (lk.a, lk.b) != ("y", "r3")]
    topo.add_link("z", "r3")
    plan = plan_topology(topo)
    route = _route_to(plan, "r1", "b")
    assert [via for via, _ in route.hops] == [plan.interfaces["x"][0].address.ip]


def test_path_topology_is_a_chain_of_three_routers() -> None:
    plan = plan_topology(load("path"))
    assert plan.hosts == ["client", "r1", "r2", "r3", "far"]
    assert [plan.forwarding[h] for h in plan.hosts] == [False, True, True, True, False]
    assert str(_route_to(plan, "client", "far").via) == "198.18.20.1"
    assert str(_route_to(plan, "r1", "far").via) == "198.18.21.2"
    assert str(_route_to(plan, "r2", "far").via) == "198.18.22.2"
    assert str(plan.address("far")) == "198.18.23.10"


def test_recon_topology_rules_and_services() -> None:
    topo = load("recon")
    plan = plan_topology(topo)
    assert str(plan.address("target")) == "198.18.0.20"
    rules = [firewall.parse(r, "t") for r in topo.hosts["target"].firewall]
    assert all(r.table == "filter" and r.chain == "INPUT" for r in rules)
    text = " ".join(str(r) for r in rules)
    for needed in ("--dport 81 -j DROP", "icmp-admin-prohibited", "tcp-reset",
                   "-p udp", "icmp-port-unreachable"):
        assert needed in text
    assert set(topo.hosts["target"].services) == {"http", "dns", "listen"}
    assert "firewall -A INPUT -p tcp --dport 81 -j DROP" in plan.describe()


def test_firewall_rule_forms() -> None:
    plain = firewall.parse("-p tcp --dport 81 -j DROP", "w")
    assert (plain.table, plain.action, plain.chain) == ("filter", "-A", "INPUT")
    assert plain.text == "-A INPUT -p tcp --dport 81 -j DROP"
    other = firewall.parse("-t mangle -I PREROUTING -p udp -j DROP", "w")
    assert (other.table, other.action, other.chain) == ("mangle", "-I", "PREROUTING")
    assert str(other) == "-t mangle -I PREROUTING -p udp -j DROP"
    restore = firewall.restore_input([plain, other])
    assert restore == ("*filter\n-A INPUT -p tcp --dport 81 -j DROP\nCOMMIT\n*mangle\n"
                       "-I PREROUTING -p udp -j DROP\nCOMMIT\n")
    quoted = firewall.parse("-p tcp -m comment --comment 'two words' -j ACCEPT", "w")
    assert "'two words'" in quoted.text


@pytest.mark.parametrize(("rule", "message"), [
    ("-F", "only rules to append"),
    ("-P INPUT DROP", "only rules to append"),
    ("-p tcp --dport 81", "no target"),
    ("-t bogus -A INPUT -j DROP", "table must be"),
    ("-p tcp -m comment --comment 'open -j DROP", "No closing quotation"),
    ("-A", "needs a chain"),
])
def test_bad_firewall_rules_are_refused(rule: str, message: str) -> None:
    text = f'[hosts.a]\nfirewall = ["{rule}"]\n[hosts.b]\n[[links]]\na = "a"\nb = "b"\n'
    with pytest.raises(LabError, match=message):
        from_toml(text.replace('"', '"', 1), "bad")


@pytest.mark.parametrize(("entry", "message"), [
    ('sysctl = { "kernel.hostname" = "x" }', "only per-namespace settings under net."),
    ('sysctl = { "net.ipv4..x" = 1 }', "only per-namespace"),
    ('sysctl = { "net.ipv4.icmp_ratelimit" = 1.5 }', "give a number"),
    ('sysctl = ["net.ipv4.icmp_ratelimit=0"]', "expected a table"),
    ('firewall = "-j DROP"', "expected a list of rule strings"),
])
def test_bad_host_settings_are_refused(entry: str, message: str) -> None:
    text = f'[hosts.a]\n{entry}\n[hosts.b]\n[[links]]\na = "a"\nb = "b"\n'
    with pytest.raises(LabError, match=message):
        from_toml(text, "bad")


def test_sysctl_values_and_round_trip() -> None:
    text = ('ecmp = true\n[hosts.a]\nsysctl = { "net.ipv4.icmp_ratelimit" = 0, '
            '"net.ipv4.conf.all.rp_filter" = true, "net.ipv4.ip_local_port_range" = '
            '"20000 30000" }\nfirewall = ["-p udp --dport 9 -j DROP"]\n[hosts.b]\n'
            '[[links]]\na = "a"\nb = "b"\n')
    topo = from_toml(text, "t")
    assert topo.hosts["a"].sysctl == {"net.ipv4.icmp_ratelimit": "0",
                                      "net.ipv4.conf.all.rp_filter": "1",
                                      "net.ipv4.ip_local_port_range": "20000 30000"}
    again = Topology.from_dict(topo.to_dict())
    assert again.to_dict() == topo.to_dict()
    assert again.ecmp and again.hosts["a"].firewall == ("-p udp --dport 9 -j DROP",)
    assert parse_assignment("net.ipv4.icmp_ratelimit=0") == ("net.ipv4.icmp_ratelimit", "0")
    with pytest.raises(LabError, match="KEY=VALUE"):
        parse_assignment("net.ipv4.icmp_ratelimit")


def test_line_routes_unchanged_by_the_route_refactor() -> None:
    # h1 of line:4 reaches everything through h2, as one collapsed prefix set
    plan = plan_topology(line(4))
    h2 = plan.interfaces["h2"][0].address.ip
    assert {r.via for r in plan.routes["h1"]} == {h2}
    assert all(isinstance(r.dst, ipaddress.IPv4Network) and not r.more
               for r in plan.routes["h1"])


def test_the_documented_example_plans() -> None:
    from pathlib import Path

    doc = Path(__file__).parents[2] / "docs" / "topologies.md"
    text = doc.read_text().split("```toml\n", 1)[1].split("```", 1)[0]
    plan = plan_topology(from_toml(text, "doc"))
    assert plan.topology.ecmp and len(plan.topology.hosts["target"].firewall) == 3
    assert plan.sysctls["target"]["net.ipv4.conf.eth0.rp_filter"] == "1"
