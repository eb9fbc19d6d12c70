"""The topology: a pure model of a lab (hosts, segments, links), validated and printable.

Nothing here touches the system (Mininet's ``topo.py`` idea): a :class:`Topology` says *what*
the lab is; :mod:`wirelab.lab.plan` resolves it into interfaces, addresses and routes, and
:mod:`wirelab.lab.driver` applies that plan with netlink.

A **segment** is a broadcast domain (a Linux bridge, the "switch"); a **link** joins a host to a
segment or two hosts back to back.  Addresses come from the benchmarking range 198.18.0.0/15
(RFC 2544 section C.2.2, reserved by RFC 6890), which is never routed on the Internet, so a lab
address can never be confused with a real one.

At the top level, ``ecmp = true`` asks for equal-cost multipath: where a host has several
shortest paths to a subnet, its route gets one next hop per path (``nexthop via A nexthop
via B``) and the host hashes flows over them by addresses and ports
(``net.ipv4.fib_multipath_hash_policy = 3``, fields 0x0037).  Without it, one path is chosen
(the first found), as before.  Firewall rules: :mod:`wirelab.lab.firewall`; sysctls:
:mod:`wirelab.lab.sysctl`; the shipped scenarios: ``docs/topologies.md``.

Sources of a topology (:func:`load`): ``default`` and any other name shipped in
``wirelab/lab/topologies/*.toml``, the generators ``line:N`` and ``star:N``, or a TOML file::

    name = "mine"                        # optional; description = "..." too
    [hosts.a]                            # host names: a-z first, then a-z 0-9 -
    [hosts.b]
    services = ["http", "dns", "listen"] # ports 80+8080, 53, 22+443; dns on one host only
    firewall = ["-p tcp --dport 81 -j DROP"]       # iptables rules, INPUT unless -A CHAIN
    sysctl = { "net.ipv4.icmp_ratelimit" = 0 }     # this host's namespace only
    [hosts.r]
    forward = true                       # default: forward iff two or more interfaces
    [segments.lan]                       # a switch (bridge)
    subnet = "198.18.5.0/24"             # optional: else the next free /24 of 198.18.0.0/15
    [[links]]                            # host to segment ...
    a = "a"
    b = "lan"
    addresses = { a = "198.18.5.10" }    # optional; prefix taken from the subnet
    [[links]]
    a = "r"
    b = "lan"
    [[links]]                            # ... or host to host (its own subnet)
    a = "r"
    b = "b"
    delay = "20ms"                       # optional shaping of packets leaving each host
    loss = "1%"                          # end of this cable; also jitter, rate, reorder
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from wirelab.errors import LabError
from wirelab.lab import firewall
from wirelab.lab import sysctl as sysctl_mod
from wirelab.lab.shaping import Shaping

LAB_POOL = ipaddress.IPv4Network("198.18.0.0/15")
DOMAIN = "lab"
MAX_HOSTS = 1000

# service name -> TCP/UDP ports it binds (the server's ports of issue 3: 22, 53, 80, 443, 8080)
SERVICES: dict[str, tuple[int, ...]] = {"http": (80, 8080), "dns": (53,), "listen": (22, 443)}

HOST_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
SEGMENT_NAME = re.compile(r"^[a-z][a-z0-9-]{0,11}$")  # "br-" + name fits IFNAMSIZ (15)
_SHAPING_KEYS = ("delay", "jitter", "loss", "rate", "reorder")


@dataclass
class HostSpec:
    """A host: one network namespace.  ``forward`` None = forward iff it has >= 2 interfaces.

    ``firewall``: iptables rule strings (:mod:`wirelab.lab.firewall`); ``sysctl``: settings of
    this host's namespace, values as written to /proc/sys (:mod:`wirelab.lab.sysctl`).
    """

    name: str
    services: tuple[str, ...] = ()
    forward: bool | None = None
    firewall: tuple[str, ...] = ()
    sysctl: dict[str, str] = field(default_factory=dict)


@dataclass
class SegmentSpec:
    """A switched segment (one bridge).  ``subnet`` None = allocated from the lab pool."""

    name: str
    subnet: ipaddress.IPv4Network | None = None


@dataclass
class LinkSpec:
    """A cable: host to segment, or host to host.  ``addresses`` maps a host end to its address."""

    a: str
    b: str
    addresses: dict[str, ipaddress.IPv4Interface] = field(default_factory=dict)
    subnet: ipaddress.IPv4Network | None = None  # host-to-host links only
    shaping: Shaping = field(default_factory=Shaping)


@dataclass
class Topology:
    """A whole lab, as data.  Build it by hand, from :func:`load`, or with the generators."""

    name: str
    hosts: dict[str, HostSpec] = field(default_factory=dict)
    segments: dict[str, SegmentSpec] = field(default_factory=dict)
    links: list[LinkSpec] = field(default_factory=list)
    description: str = ""
    ipv6: bool = False  # off by default: no router solicitations or MLD noise in captures
    ecmp: bool = False  # several shortest paths: one multipath route, not the first path

    # -- building ---------------------------------------------------------------------------

    def add_host(self, name: str, services: tuple[str, ...] = (),
                 forward: bool | None = None, *, firewall: tuple[str, ...] = (),
                 sysctl: dict[str, object] | None = None) -> Topology:
        where = f"hosts.{name}"
        self.hosts[name] = HostSpec(name, tuple(services), forward, tuple(firewall),
                                    {sysctl_mod.check_key(str(k), where):
                                     sysctl_mod.normalise(v, f"{where}.sysctl.{k}")
                                     for k, v in (sysctl or {}).items()})
        return self

    def add_segment(self, name: str, subnet: str | None = None) -> Topology:
        self.segments[name] = SegmentSpec(name, _network(subnet) if subnet else None)
        return self

    def add_link(self, a: str, b: str, addresses: dict[str, str] | None = None,
                 subnet: str | None = None, shaping: Shaping | None = None) -> Topology:
        link = LinkSpec(a, b, subnet=_network(subnet) if subnet else None,
                        shaping=shaping or Shaping())
        for host, text in (addresses or {}).items():
            link.addresses[host] = _interface(text, link.subnet)
        self.links.append(link)
        return self

    # -- checking ---------------------------------------------------------------------------

    def validate(self) -> None:
        """Raise :class:`LabError` naming the first thing wrong with this topology."""
        if not self.hosts:
            raise LabError(f"topology {self.name!r} has no hosts")
        if len(self.hosts) > MAX_HOSTS:
            raise LabError(f"topology {self.name!r}: {len(self.hosts)} hosts, at most "
                           f"{MAX_HOSTS}")
        for host in self.hosts.values():
            _check_host(host)
        for seg in self.segments.values():
            if not SEGMENT_NAME.match(seg.name):
                raise LabError(f"segment name {seg.name!r}: use a-z, 0-9, '-', at most 12")
            if seg.name in self.hosts:
                raise LabError(f"{seg.name!r} is both a host and a segment")
            if seg.subnet is not None:
                _check_subnet(seg.subnet, f"segment {seg.name}")
        dns_hosts = [h.name for h in self.hosts.values() if "dns" in h.services]
        if len(dns_hosts) > 1:
            raise LabError(f"only one host may run dns, got {', '.join(dns_hosts)}")
        seen: set[tuple[str, str]] = set()
        for link in self.links:
            self._check_link(link, seen)

    def _check_link(self, link: LinkSpec, seen: set[tuple[str, str]]) -> None:
        ends = (link.a, link.b)
        for end in ends:
            if end not in self.hosts and end not in self.segments:
                raise LabError(f"link {link.a}-{link.b}: no host or segment named {end!r}")
        if link.a == link.b:
            raise LabError(f"link {link.a}-{link.b} joins a node to itself")
        if link.a in self.segments and link.b in self.segments:
            raise LabError(f"link {link.a}-{link.b} joins two segments; join them with a "
                           "host (a router) instead")
        key = (min(ends), max(ends))
        if key in seen:
            raise LabError(f"link {link.a}-{link.b} is given twice")
        seen.add(key)
        for host in link.addresses:
            if host not in ends or host in self.segments:
                raise LabError(f"link {link.a}-{link.b}: address for {host!r}, which is not "
                               "a host end of this link")
        if link.subnet is not None:
            if link.a in self.segments or link.b in self.segments:
                raise LabError(f"link {link.a}-{link.b}: put the subnet on the segment")
            _check_subnet(link.subnet, f"link {link.a}-{link.b}")
        link.shaping.validate()

    # -- printing and (de)serialising ---------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The TOML structure of this topology (what :func:`from_dict` reads back)."""
        out: dict[str, Any] = {"name": self.name}
        if self.description:
            out["description"] = self.description
        if self.ipv6:
            out["ipv6"] = True
        if self.ecmp:
            out["ecmp"] = True
        out["hosts"] = {}
        for host in self.hosts.values():
            entry: dict[str, Any] = {}
            if host.services:
                entry["services"] = list(host.services)
            if host.forward is not None:
                entry["forward"] = host.forward
            if host.firewall:
                entry["firewall"] = list(host.firewall)
            if host.sysctl:
                entry["sysctl"] = dict(host.sysctl)
            out["hosts"][host.name] = entry
        out["segments"] = {s.name: ({"subnet": str(s.subnet)} if s.subnet else {})
                           for s in self.segments.values()}
        out["links"] = [_link_to_dict(link) for link in self.links]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], default_name: str = "topology") -> Topology:
        """Read the TOML structure; every mistake is a :class:`LabError` naming the key."""
        known = {"name", "description", "ipv6", "ecmp", "hosts", "segments", "links"}
        _no_unknown(data, known, "top level")
        topo = cls(name=str(data.get("name", default_name)),
                   description=str(data.get("description", "")),
                   ipv6=bool(data.get("ipv6", False)), ecmp=bool(data.get("ecmp", False)))
        for name, entry in _table(data, "hosts").items():
            _no_unknown(entry, {"services", "forward", "firewall", "sysctl"}, f"hosts.{name}")
            services = entry.get("services", [])
            if not isinstance(services, list):
                raise LabError(f"hosts.{name}.services: expected a list of names")
            rules = entry.get("firewall", [])
            if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
                raise LabError(f"hosts.{name}.firewall: expected a list of rule strings like "
                               "\"-p tcp --dport 81 -j DROP\"")
            settings = entry.get("sysctl", {})
            if not isinstance(settings, dict):
                raise LabError(f"hosts.{name}.sysctl: expected a table like "
                               "{ \"net.ipv4.icmp_ratelimit\" = 0 }")
            forward = entry.get("forward")
            topo.add_host(name, tuple(str(s) for s in services),
                          None if forward is None else bool(forward), firewall=tuple(rules),
                          sysctl=settings)
        for name, entry in _table(data, "segments").items():
            _no_unknown(entry, {"subnet"}, f"segments.{name}")
            topo.add_segment(name, entry.get("subnet"))
        links = data.get("links", [])
        if not isinstance(links, list):
            raise LabError("links: expected an array of tables ([[links]])")
        for index, entry in enumerate(links):
            topo.links.append(_link_from_dict(entry, index))
        return topo

    def describe(self) -> str:
        """Human-readable summary: the resolved plan, one line per object."""
        from wirelab.lab.plan import plan_topology  # the plan module imports this one

        return plan_topology(self).describe()


# -- helpers -----------------------------------------------------------------------------------


def _check_host(host: HostSpec) -> None:
    if not HOST_NAME.match(host.name):
        raise LabError(f"host name {host.name!r}: start with a-z; use a-z, 0-9, '-'; at most "
                       "31 characters")
    if host.name in ("localhost", DOMAIN):
        raise LabError(f"host name {host.name!r} is reserved")
    for service in host.services:
        if service not in SERVICES:
            raise LabError(f"host {host.name}: unknown service {service!r} (have: "
                           f"{', '.join(SERVICES)})")
    for rule in host.firewall:
        firewall.parse(rule, f"hosts.{host.name}.firewall")
    for key, value in host.sysctl.items():
        sysctl_mod.check_key(key, f"hosts.{host.name}.sysctl")
        sysctl_mod.normalise(value, f"hosts.{host.name}.sysctl.{key}")


def _check_subnet(net: ipaddress.IPv4Network, where: str) -> None:
    # Only non-global space: a lab address must never look like a real Internet host.
    if not net.is_private or net.is_loopback or net.is_link_local or net.prefixlen > 30:
        raise LabError(f"{where}: subnet {net} must be private space (198.18.0.0/15 "
                       "preferred) with room for hosts (/30 or larger)")


def _network(text: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(text, strict=True)
    except ValueError as exc:
        raise LabError(f"bad subnet {text!r}: {exc}") from None


def _interface(text: str, subnet: ipaddress.IPv4Network | None) -> ipaddress.IPv4Interface:
    try:
        if "/" not in text and subnet is not None:
            text = f"{text}/{subnet.prefixlen}"
        return ipaddress.IPv4Interface(text)
    except ValueError as exc:
        raise LabError(f"bad address {text!r}: {exc}") from None


def _table(data: dict[str, Any], key: str) -> dict[str, dict[str, Any]]:
    value = data.get(key, {})
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise LabError(f"{key}: expected tables like [{key}.NAME]")
    return value


def _no_unknown(entry: dict[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(entry) - known)
    if unknown:
        raise LabError(f"{where}: unknown key(s) {', '.join(unknown)} (known: "
                       f"{', '.join(sorted(known))})")


def _link_from_dict(entry: Any, index: int) -> LinkSpec:
    where = f"links[{index}]"
    if not isinstance(entry, dict):
        raise LabError(f"{where}: expected a table")
    _no_unknown(entry, {"a", "b", "addresses", "subnet", *_SHAPING_KEYS}, where)
    if "a" not in entry or "b" not in entry:
        raise LabError(f"{where}: needs both ends, a = ... and b = ...")
    subnet = _network(entry["subnet"]) if "subnet" in entry else None
    addresses = entry.get("addresses", {})
    if not isinstance(addresses, dict):
        raise LabError(f"{where}.addresses: expected a table like {{ h1 = \"198.18.0.1/24\" }}")
    shaping = Shaping.parse(**{k: entry[k] for k in _SHAPING_KEYS if k in entry})
    return LinkSpec(str(entry["a"]), str(entry["b"]),
                    {str(h): _interface(str(a), subnet) for h, a in addresses.items()},
                    subnet, shaping)


def _link_to_dict(link: LinkSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"a": link.a, "b": link.b}
    if link.addresses:
        out["addresses"] = {h: str(a) for h, a in link.addresses.items()}
    if link.subnet:
        out["subnet"] = str(link.subnet)
    shaping = link.shaping
    if shaping.delay_ms:
        out["delay"] = f"{shaping.delay_ms:g}ms"
    if shaping.jitter_ms:
        out["jitter"] = f"{shaping.jitter_ms:g}ms"
    if shaping.loss_pct:
        out["loss"] = f"{shaping.loss_pct:g}%"
    if shaping.reorder_pct:
        out["reorder"] = f"{shaping.reorder_pct:g}%"
    if shaping.rate_bps:
        out["rate"] = f"{shaping.rate_bps}bit"
    return out


# -- sources -----------------------------------------------------------------------------------


def line(n: int) -> Topology:
    """``h1 - h2 - ... - hN``, host to host; the hosts in the middle forward (TTL lessons)."""
    _check_count(n, "line", 2)
    topo = Topology(name=f"line:{n}", description=f"{n} hosts in a chain, each link its own "
                    "subnet; inner hosts route")
    for i in range(1, n + 1):
        topo.add_host(f"h{i}")
    for i in range(1, n):
        topo.add_link(f"h{i}", f"h{i + 1}")
    return topo


def star(n: int) -> Topology:
    """``h1 .. hN`` on one switch (segment ``s0``)."""
    _check_count(n, "star", 1)
    topo = Topology(name=f"star:{n}", description=f"{n} hosts on one switched segment")
    topo.add_segment("s0")
    for i in range(1, n + 1):
        topo.add_host(f"h{i}")
        topo.add_link(f"h{i}", "s0")
    return topo


def _check_count(n: int, kind: str, minimum: int) -> None:
    if not minimum <= n <= MAX_HOSTS:
        raise LabError(f"{kind}:{n}: the number of hosts must be {minimum}..{MAX_HOSTS}")


def shipped_names() -> list[str]:
    """Names of the topologies shipped with wirelab (``wirelab/lab/topologies/*.toml``)."""
    folder = resources.files("wirelab.lab") / "topologies"
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir()
                  if p.name.endswith(".toml"))


def from_toml(text: str, default_name: str) -> Topology:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LabError(f"topology {default_name}: not valid TOML: {exc}") from None
    topo = Topology.from_dict(data, default_name)
    topo.validate()
    return topo


def load(spec: str) -> Topology:
    """``default`` (or another shipped name), ``line:N``, ``star:N``, or a path to a TOML file."""
    kind, _, count = spec.partition(":")
    if kind in ("line", "star") and count:
        if not count.isdigit():
            raise LabError(f"{spec}: expected {kind}:N with N a number")
        return line(int(count)) if kind == "line" else star(int(count))
    if spec in shipped_names():
        text = (resources.files("wirelab.lab") / "topologies" / f"{spec}.toml").read_text()
        return from_toml(text, spec)
    path = Path(spec)
    if path.suffix == ".toml" or path.exists():
        try:
            text = path.read_text()
        except OSError as exc:
            raise LabError(f"cannot read topology file {spec}: {exc.strerror}") from None
        return from_toml(text, path.stem)
    raise LabError(f"no topology {spec!r}: use one of {', '.join(shipped_names())}, "
                   "line:N, star:N, or a .toml file")
