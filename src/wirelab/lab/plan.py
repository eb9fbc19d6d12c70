"""Resolve a :class:`~wirelab.lab.topology.Topology` into what the driver creates.

Still pure: subnets allocated from 198.18.0.0/15, interface names (``eth0``, ``eth1`` in link
order), addresses, bridge-port names, static routes to every other lab subnet, and the text of
each host's ``/etc/hosts`` and ``/etc/resolv.conf``.

Routes are only ever to lab subnets: there is no default route, so the kernel answers
"Network is unreachable" (ENETUNREACH) for any address outside the lab without sending a
single packet (RFC 1812 section 5.2.4.3: no route, no forwarding).

With ``ecmp = true`` a subnet reachable over several shortest paths gets one multipath route
(RFC 2992's equal-cost multipath: ``ip route add NET nexthop via A nexthop via B``), and the
host that branches hashes each flow's addresses *and ports* to pick the next hop
(:data:`wirelab.lab.sysctl.MULTIPATH_L4`, added to that host's sysctls).  Packets of one flow always
take one path; packets whose ports differ, like classic traceroute's probes (each to the next
UDP port), spread over all of them: the "false diamond" that Paris traceroute avoids by
keeping the ports constant (Augustin et al., IMC 2006).
"""

from __future__ import annotations

import ipaddress
from collections import deque
from dataclasses import dataclass, field

from wirelab.errors import LabError
from wirelab.lab import firewall
from wirelab.lab.shaping import Shaping
from wirelab.lab.sysctl import MULTIPATH_L4
from wirelab.lab.topology import DOMAIN, LAB_POOL, SERVICES, LinkSpec, Topology

IFNAMSIZ = 15


@dataclass(frozen=True)
class Interface:
    """One interface of a host, as the plan decided it."""

    host: str
    name: str
    address: ipaddress.IPv4Interface
    network: str  # segment name, or "h1~h2" for a host-to-host link
    segment: str | None  # the segment (bridge) this interface plugs into
    port: str | None  # the bridge port's name in the switch namespace
    peer: tuple[str, str] | None  # (host, ifname) at the other end of a host-to-host link
    shaping: Shaping


@dataclass(frozen=True)
class Route:
    """A route to ``dst``: via ``via`` out of ``dev``, and the ``more`` next hops of ECMP."""

    dst: ipaddress.IPv4Network
    via: ipaddress.IPv4Address
    dev: str
    more: tuple[tuple[ipaddress.IPv4Address, str], ...] = ()

    @property
    def hops(self) -> list[tuple[ipaddress.IPv4Address, str]]:
        """Every next hop: ``(via, dev)``, one for a plain route, two or more for ECMP."""
        return [(self.via, self.dev), *self.more]

    def __str__(self) -> str:
        """As ``ip route`` prints it."""
        if not self.more:
            return f"{self.dst} via {self.via} dev {self.dev}"
        return f"{self.dst} " + " ".join(f"nexthop via {v} dev {d}" for v, d in self.hops)


@dataclass
class Plan:
    topology: Topology
    subnets: dict[str, ipaddress.IPv4Network]
    interfaces: dict[str, list[Interface]]
    routes: dict[str, list[Route]] = field(default_factory=dict)
    forwarding: dict[str, bool] = field(default_factory=dict)
    sysctls: dict[str, dict[str, str]] = field(default_factory=dict)  # host -> key -> value

    # -- queries ------------------------------------------------------------------------------

    @property
    def hosts(self) -> list[str]:
        return list(self.topology.hosts)

    def address(self, host: str) -> ipaddress.IPv4Address:
        """A host's first address (its "primary" one)."""
        self._known(host)
        return self.interfaces[host][0].address.ip

    def interface(self, host: str, ifname: str) -> Interface:
        for iface in self.interfaces[self._known(host)]:
            if iface.name == ifname:
                return iface
        raise LabError(f"host {host} has no interface {ifname!r} (has "
                       f"{', '.join(i.name for i in self.interfaces[host])})")

    def facing(self, a: str, b: str) -> tuple[Interface, Interface]:
        """The interfaces of ``a`` and ``b`` on the network they share."""
        for ia in self.interfaces[self._known(a)]:
            for ib in self.interfaces[self._known(b)]:
                if ia.network == ib.network:
                    return ia, ib
        raise LabError(f"{a} and {b} share no segment or link; shape a link of the path "
                       "between them (see `wirelab lab status`)")

    def dns_host(self) -> str | None:
        for host in self.topology.hosts.values():
            if "dns" in host.services:
                return host.name
        return None

    def service_ports(self, host: str) -> dict[str, tuple[int, ...]]:
        return {s: SERVICES[s] for s in self.topology.hosts[self._known(host)].services}

    def zone(self) -> dict[str, list[ipaddress.IPv4Address]]:
        """Fully qualified lab name -> addresses, what the lab's DNS server answers."""
        return {f"{h}.{DOMAIN}": [i.address.ip for i in ifaces]
                for h, ifaces in self.interfaces.items()}

    def _known(self, host: str) -> str:
        if host not in self.interfaces:
            raise LabError(f"no host {host!r} in this lab (hosts: {', '.join(self.hosts)})")
        return host

    # -- files inside each host -----------------------------------------------------------------

    def hosts_file(self, host: str, lab: str) -> str:
        """``/etc/hosts`` of a host: itself, and every lab name when there is no DNS server."""
        # With a DNS server in the lab, other names go through it, so resolving "server" puts
        # real DNS packets on the wire; without one, /etc/hosts knows everybody (and is then
        # the same file for every host).
        names = [host] if self.dns_host() else self.hosts
        whose = f"/etc/hosts of {host}" if self.dns_host() else "/etc/hosts of every host"
        lines = [f"# wirelab lab {lab}: {whose}",
                 "127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
        for name in names:
            for iface in self.interfaces[name]:
                lines.append(f"{iface.address.ip}\t{name}.{DOMAIN} {name}")
        return "\n".join(lines) + "\n"

    def resolv_conf(self, host: str, lab: str) -> str:
        dns = self.dns_host()
        if dns is None:
            return (f"# wirelab lab {lab}: no DNS server in this topology; names come from "
                    "/etc/hosts\noptions timeout:1 attempts:1\n")
        return (f"# wirelab lab {lab}: the lab's DNS server runs on {dns}\n"
                f"nameserver {self.address(dns)}\nsearch {DOMAIN}\n"
                "options timeout:1 attempts:2\n")

    # -- printing ---------------------------------------------------------------------------

    def describe(self) -> str:
        topo = self.topology
        out = [f"topology {topo.name}: {len(topo.hosts)} hosts, {len(topo.segments)} "
               f"segments, {len(topo.links)} links"]
        if topo.description:
            out.append(f"  {topo.description}")
        for seg in topo.segments:
            members = [f"{i.host}:{i.name} {i.address.ip}" for ifs in self.interfaces.values()
                       for i in ifs if i.segment == seg]
            out.append(f"  segment {seg} {self.subnets[seg]}: {', '.join(members) or '-'}")
        for host, ifaces in self.interfaces.items():
            spec = topo.hosts[host]
            extra = []
            if self.forwarding[host]:
                extra.append("forwards")
            if spec.services:
                ports = sorted(p for s in spec.services for p in SERVICES[s])
                extra.append(f"services {', '.join(spec.services)} "
                             f"(ports {', '.join(map(str, ports))})")
            out.append(f"  host {host}" + (f" [{'; '.join(extra)}]" if extra else ""))
            for iface in ifaces:
                where = iface.segment or (f"{iface.peer[0]}:{iface.peer[1]}"
                                          if iface.peer else "?")
                shaped = "" if iface.shaping.empty else f" ({iface.shaping.describe()})"
                out.append(f"    {iface.name} {iface.address} -> {where}{shaped}")
            for route in self.routes[host]:
                out.append(f"    route {route}")
            for key, value in self.sysctls[host].items():
                out.append(f"    sysctl {key} = {value}")
            for rule in spec.firewall:
                out.append(f"    firewall {firewall.parse(rule, host)}")
        return "\n".join(out)


# -- resolution --------------------------------------------------------------------------------


def plan_topology(topo: Topology) -> Plan:
    """Validate and resolve ``topo``; raise :class:`LabError` if it cannot be built."""
    topo.validate()
    subnets = _allocate_subnets(topo)
    interfaces: dict[str, list[Interface]] = {h: [] for h in topo.hosts}
    used: dict[str, set[ipaddress.IPv4Address]] = {k: set() for k in subnets}
    # Explicit addresses first, so that automatic ones never take an address someone asked for.
    explicit: dict[tuple[int, str], ipaddress.IPv4Interface] = {}
    for index, link in enumerate(topo.links):
        net = _link_network(link, topo)
        subnet = subnets[net]
        for host, addr in link.addresses.items():
            if addr.network.prefixlen == 32:  # given without a prefix: the subnet's
                addr = ipaddress.IPv4Interface((addr.ip, subnet.prefixlen))
            if addr.network != subnet:
                raise LabError(f"address {addr} of {host} is not in {net}'s subnet {subnet}")
            if addr.ip in used[net] or addr.ip in (subnet.network_address,
                                                   subnet.broadcast_address):
                raise LabError(f"address {addr.ip} of {host} is taken or not a host address")
            used[net].add(addr.ip)
            explicit[(index, host)] = addr
    port_names: set[str] = set()
    for index, link in enumerate(topo.links):
        given = {h: a for (i, h), a in explicit.items() if i == index}
        _plan_link(topo, link, given, subnets, used, interfaces, port_names)
    for host, ifaces in interfaces.items():
        if not ifaces:
            raise LabError(f"host {host} has no link")
    plan = Plan(topo, subnets, interfaces)
    for host, spec in topo.hosts.items():
        plan.forwarding[host] = spec.forward if spec.forward is not None else \
            len(interfaces[host]) > 1
    for host, spec in topo.hosts.items():
        plan.routes[host] = _routes_for(plan, host)
        plan.sysctls[host] = dict(spec.sysctl)
        if any(r.more for r in plan.routes[host]):
            # Hash on the ports too, or all flows between two hosts take one path.
            for key, value in MULTIPATH_L4.items():
                plan.sysctls[host].setdefault(key, value)
    return plan


def _link_network(link: LinkSpec, topo: Topology) -> str:
    if link.a in topo.segments:
        return link.a
    if link.b in topo.segments:
        return link.b
    return f"{link.a}~{link.b}"


def _allocate_subnets(topo: Topology) -> dict[str, ipaddress.IPv4Network]:
    members: dict[str, int] = {s: 0 for s in topo.segments}
    for link in topo.links:
        net = _link_network(link, topo)
        members[net] = members.get(net, 0) + (2 if net not in topo.segments else 1)
    given: dict[str, ipaddress.IPv4Network] = {}
    for seg in topo.segments.values():
        if seg.subnet is not None:
            given[seg.name] = seg.subnet
    for link in topo.links:
        if link.subnet is not None:
            given[_link_network(link, topo)] = link.subnet
    taken = list(given.values())
    for i, first in enumerate(taken):
        for other in taken[i + 1:]:
            if first.overlaps(other):
                raise LabError(f"subnets {first} and {other} overlap")
    subnets = dict(given)
    cursor = int(LAB_POOL.network_address)  # automatic subnets are handed out in rising order
    for net, count in members.items():
        if net in subnets:
            if count > subnets[net].num_addresses - 2:
                raise LabError(f"{net}: {count} hosts do not fit in {subnets[net]}")
            continue
        # A /24 at least, so that addresses read like 198.18.3.2; bigger for big segments.
        prefix = min(24, 32 - (count + 1).bit_length())
        subnets[net] = _first_free(prefix, cursor, list(given.values()))
        cursor = int(subnets[net].broadcast_address) + 1
    return subnets


def _first_free(prefix: int, cursor: int,
                given: list[ipaddress.IPv4Network]) -> ipaddress.IPv4Network:
    size = 1 << (32 - prefix)
    start = (cursor + size - 1) // size * size
    end = int(LAB_POOL.broadcast_address) + 1
    for base in range(start, end, size):
        candidate = ipaddress.IPv4Network((base, prefix))
        if not any(candidate.overlaps(g) for g in given):
            return candidate
    raise LabError(f"the lab pool {LAB_POOL} has no free /{prefix} left")


def _plan_link(topo: Topology, link: LinkSpec, given: dict[str, ipaddress.IPv4Interface],
               subnets: dict[str, ipaddress.IPv4Network],
               used: dict[str, set[ipaddress.IPv4Address]],
               interfaces: dict[str, list[Interface]], port_names: set[str]) -> None:
    net = _link_network(link, topo)
    segment = net if net in topo.segments else None
    hosts = [end for end in (link.a, link.b) if end in topo.hosts]
    names = {h: f"eth{len(interfaces[h])}" for h in hosts}
    for host in hosts:
        address = given.get(host) or _next_address(subnets[net], used[net])
        peer = None
        if segment is None:
            other = hosts[1] if host == hosts[0] else hosts[0]
            peer = (other, names[other])
        port = _port_name(host, names[host], port_names) if segment else None
        interfaces[host].append(Interface(host, names[host], address, net, segment, port,
                                          peer, link.shaping))


def _next_address(net: ipaddress.IPv4Network,
                  used: set[ipaddress.IPv4Address]) -> ipaddress.IPv4Interface:
    # Start after the highest address handed out so far: linear, not quadratic, in hosts.
    first = int(net.network_address) + 1
    if used:
        first = max(first, int(max(used)) + 1)
    for value in [*range(first, int(net.broadcast_address)),
                  *range(int(net.network_address) + 1, first)]:
        ip = ipaddress.IPv4Address(value)
        if ip not in used:
            used.add(ip)
            return ipaddress.IPv4Interface((ip, net.prefixlen))
    raise LabError(f"subnet {net} is full")


def _port_name(host: str, ifname: str, taken: set[str]) -> str:
    """The switch-side end of a host's cable: ``client-eth0``, or ``p17`` if that is too long."""
    name = f"{host}-{ifname}"
    if len(name) > IFNAMSIZ or name in taken:
        name = f"p{len(taken)}"
    taken.add(name)
    return name


Hop = tuple[ipaddress.IPv4Address, str]


def _routes_for(plan: Plan, host: str) -> list[Route]:
    """Static routes from ``host`` to every lab subnet it is not on (breadth-first search).

    Networks are nodes; a forwarding host on two networks is an edge.  The first hop toward a
    network is the forwarder's address on one of ``host``'s own networks.  Routes that share
    their first hops are collapsed into the fewest prefixes covering exactly those subnets.
    """
    first_hops = (_ecmp_first_hops if plan.topology.ecmp else _first_hops)(plan, host)
    by_hops: dict[tuple[Hop, ...], list[ipaddress.IPv4Network]] = {}
    for net, hops in first_hops.items():
        by_hops.setdefault(hops, []).append(plan.subnets[net])
    routes = [Route(dst, hops[0][0], hops[0][1], hops[1:]) for hops, nets in by_hops.items()
              for dst in _collapse(nets)]
    return sorted(routes, key=lambda r: (r.dst.network_address, r.dst.prefixlen))


def _first_hops(plan: Plan, host: str) -> dict[str, tuple[Hop, ...]]:
    """Network -> the one first hop of the first shortest path found."""
    own = {i.network: i for i in plan.interfaces[host]}
    members = _members(plan)
    first_hop: dict[str, tuple[Hop, ...]] = {}
    queue = deque(own)
    seen = set(own)
    while queue:
        net = queue.popleft()
        for via in members[net]:
            if via.host == host or not plan.forwarding[via.host]:
                continue
            hop = ((via.address.ip, own[net].name),) if net in own else first_hop[net]
            for onward in plan.interfaces[via.host]:
                if onward.network not in seen:
                    seen.add(onward.network)
                    first_hop[onward.network] = hop
                    queue.append(onward.network)
    return first_hop


def _ecmp_first_hops(plan: Plan, host: str) -> dict[str, tuple[Hop, ...]]:
    """Network -> the first hops of *every* shortest path (BFS level by level).

    A network first met at distance d+1 collects the first hops of all the networks at
    distance d that lead to it, so two routers side by side both count.
    """
    own = {i.network: i for i in plan.interfaces[host]}
    members = _members(plan)
    hops: dict[str, set[Hop]] = {}
    level = set(own)
    seen = set(own)
    while level:
        reached: dict[str, set[Hop]] = {}
        for net in sorted(level):
            for via in members[net]:
                if via.host == host or not plan.forwarding[via.host]:
                    continue
                mine = {(via.address.ip, own[net].name)} if net in own else hops[net]
                for onward in plan.interfaces[via.host]:
                    if onward.network not in seen:
                        reached.setdefault(onward.network, set()).update(mine)
        hops.update(reached)
        seen.update(reached)
        level = set(reached)
    return {net: tuple(sorted(found)) for net, found in hops.items()}


def _members(plan: Plan) -> dict[str, list[Interface]]:
    """Network -> interfaces on it, computed once per plan (routing asks for it per host)."""
    cached: dict[str, list[Interface]] | None = getattr(plan, "_members_cache", None)
    if cached is None:
        cached = {}
        for ifaces in plan.interfaces.values():
            for iface in ifaces:
                cached.setdefault(iface.network, []).append(iface)
        plan._members_cache = cached  # type: ignore[attr-defined]
    return cached


def _collapse(nets: list[ipaddress.IPv4Network]) -> list[ipaddress.IPv4Network]:
    """Fewest prefixes covering exactly ``nets`` (faster than ipaddress.collapse_addresses)."""
    spans = sorted((int(n.network_address), int(n.broadcast_address)) for n in nets)
    merged: list[list[int]] = []
    for first, last in spans:
        if merged and first <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], last)
        else:
            merged.append([first, last])
    out: list[ipaddress.IPv4Network] = []
    for first, last in merged:
        out.extend(ipaddress.summarize_address_range(ipaddress.IPv4Address(first),
                                                     ipaddress.IPv4Address(last)))
    return out
