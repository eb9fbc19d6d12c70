"""Apply a :class:`~wirelab.lab.plan.Plan` to the kernel with netlink (pyroute2).

Hermetic by construction: every namespace, bridge and veth is created *inside* lab
namespaces.  The bridges live in a hidden "switch" namespace; a veth is created in the switch
namespace (or in a host, for host-to-host links) with its peer placed straight into the other
namespace (IFLA_NET_NS_FD in the same RTM_NEWLINK), so no interface ever appears in the root
namespace, not even for a moment.

One process, no fork per object: each namespace gets one rtnetlink socket, opened by a thread
that enters the namespace for the ``socket()`` call only (:func:`nsops.netlink_socket_in`).

These functions need CAP_NET_ADMIN and CAP_SYS_ADMIN over the namespaces involved: the caller
is either root, or a process that entered the rootless keeper's user namespace.
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pyroute2 import IPRoute  # type: ignore[import-untyped]
from pyroute2.netlink.exceptions import NetlinkError  # type: ignore[import-untyped]

from wirelab.errors import LabError
from wirelab.lab import nsops
from wirelab.lab import sysctl as sysctl_mod
from wirelab.lab.nlbatch import Batch
from wirelab.lab.plan import Plan
from wirelab.lab.shaping import Shaping

NETEM_HANDLE = 0x10000  # 1:
TBF_HANDLE = 0x100000  # 10:
NETEM_CHILD = 0x10001  # 1:1, netem's single class, where a rate limiter hangs


@contextmanager
def rtnl(netns_path: str) -> Iterator[IPRoute]:
    """An IPRoute bound to the namespace at ``netns_path``, not subscribed to any events."""
    sock = nsops.netlink_socket_in(netns_path)
    ipr = IPRoute(use_socket=sock, groups=0)
    try:
        yield ipr
    finally:
        ipr.close()
        sock.close()


def _sysctls(plan: Plan, host: str | None) -> dict[str, str]:
    settings: dict[str, str] = {}
    if not plan.topology.ipv6:
        # Before any interface exists, so each new one inherits it from "default": captures
        # then show the lesson's packets, not router solicitations and MLD reports.
        settings["net.ipv6.conf.default.disable_ipv6"] = "1"
    if host is not None and plan.forwarding[host]:
        settings["net.ipv4.ip_forward"] = "1"  # a new namespace starts with 0
    return settings


def _new_namespace(path: str, settings: dict[str, str], own: dict[str, str] | None = None,
                   host: str = "") -> tuple[socket.socket, dict[str, str]]:
    """Create the namespace; set its sysctls and open its netlink socket while inside.

    ``own``: the topology's settings for this host; those that do not exist yet (an
    interface's, ``net.ipv4.conf.eth0.*``) are returned, to be set once the interfaces are.
    """

    def inside() -> tuple[socket.socket, dict[str, str]]:
        nsops.write_sysctls(settings, optional=(".ipv6.",))
        later = sysctl_mod.write_present(own or {}, host)
        return nsops.new_netlink_socket(), later

    made = nsops.create_netns(path, inside)
    assert made is not None
    return made


def build(plan: Plan, paths: dict[str, str], switch: str) -> list[str]:
    """Create namespaces, bridges, cables, addresses, routes and shaping for ``plan``.

    Returns the ``host:ifname`` keys whose delay/loss needs the userspace shaper (no netem).
    """
    socks: dict[str | None, socket.socket] = {}
    later: dict[str, dict[str, str]] = {}
    try:
        socks[None], _ = _new_namespace(switch, _sysctls(plan, None))
        for host in plan.hosts:
            socks[host], later[host] = _new_namespace(paths[host], _sysctls(plan, host),
                                                      plan.sysctls[host], host)
        fds = {h: os.open(paths[h], os.O_RDONLY | os.O_CLOEXEC) for h in plan.hosts}
        try:
            _switch(Batch(socks[None], "switch"), plan, fds)
            _host_cables(plan, socks, fds)
        finally:
            for fd in fds.values():
                os.close(fd)
        for host in plan.hosts:
            _configure_host(Batch(socks[host], f"host {host}"), plan, host)
        for host, settings in later.items():
            if settings:  # raises LabError naming the host and the key
                sysctl_mod.write_in(paths[host], host, settings)
    finally:
        for sock in socks.values():
            sock.close()
    return _topology_shaping(plan, paths)


def _veth(name: str, index: int, peer: str, peer_index: int, peer_fd: int,
          master: int | None = None) -> list[Any]:
    # The peer is created straight in its namespace (IFLA_NET_NS_FD) with the index it will
    # have there; it cannot be set up yet (its other half does not exist): the host does it.
    attrs: list[Any] = [["IFLA_IFNAME", name]]
    if master is not None:
        attrs.append(["IFLA_MASTER", master])
    attrs.append(["IFLA_LINKINFO", {"attrs": [
        ["IFLA_INFO_KIND", "veth"],
        ["IFLA_INFO_DATA", {"attrs": [["VETH_INFO_PEER", {
            "index": peer_index, "flags": 0, "change": 0,
            "attrs": [["IFLA_IFNAME", peer], ["IFLA_NET_NS_FD", peer_fd]]}]]}]]}])
    return attrs


def _switch(batch: Batch, plan: Plan, fds: dict[str, int]) -> None:
    """The bridges, and one cable from each bridge port to its host, in one batch."""
    index = 2  # 1 is lo
    bridges = {}
    for seg in plan.topology.segments:
        # No STP (the default): ports forward at once.
        batch.link(f"bridge br-{seg}", [["IFLA_IFNAME", f"br-{seg}"],
                                        ["IFLA_LINKINFO", {"attrs": [["IFLA_INFO_KIND",
                                                                      "bridge"]]}]],
                   index=index, up=True)
        bridges[seg] = index
        index += 1
    for host in plan.hosts:
        for position, iface in enumerate(plan.interfaces[host]):
            if iface.segment is None or iface.port is None:
                continue
            batch.link(f"cable {iface.port} <-> {host}:{iface.name}",
                       _veth(iface.port, index, iface.name, 2 + position, fds[host],
                             bridges[iface.segment]), index=index, up=True)
            index += 1
    batch.commit()


def _host_cables(plan: Plan, socks: dict[str | None, socket.socket],
                 fds: dict[str, int]) -> None:
    """Host-to-host cables, created from the first host's namespace."""
    done: set[tuple[str, str]] = set()
    for host in plan.hosts:
        batch = Batch(socks[host], f"host {host}")
        for position, iface in enumerate(plan.interfaces[host]):
            if iface.peer is None or iface.peer in done:
                continue
            other, other_if = iface.peer
            other_pos = [i.name for i in plan.interfaces[other]].index(other_if)
            batch.link(f"cable {host}:{iface.name} <-> {other}:{other_if}",
                       _veth(iface.name, 2 + position, other_if, 2 + other_pos, fds[other]),
                       index=2 + position)
            done.add((host, iface.name))
        batch.commit()


def _configure_host(batch: Batch, plan: Plan, host: str) -> None:
    batch.set_up(1, "lo")
    for position, iface in enumerate(plan.interfaces[host]):
        batch.set_up(2 + position, iface.name)
        batch.address(2 + position, str(iface.address.ip), iface.address.network.prefixlen,
                      str(iface.address.network.broadcast_address))
    names = {iface.name: 2 + p for p, iface in enumerate(plan.interfaces[host])}
    for route in plan.routes[host]:
        batch.route(str(route.dst.network_address), route.dst.prefixlen, str(route.via),
                    names[route.dev], [(str(via), names[dev]) for via, dev in route.more])
    batch.commit()


def _topology_shaping(plan: Plan, paths: dict[str, str]) -> list[str]:
    userspace = []
    for host in plan.hosts:
        shaped = [(p, i) for p, i in enumerate(plan.interfaces[host]) if not i.shaping.empty]
        if not shaped:
            continue
        with rtnl(paths[host]) as ipr:
            for position, iface in shaped:
                if _shape(ipr, 2 + position, iface.shaping):
                    userspace.append(f"{host}:{iface.name}")
    return userspace


# -- shaping -----------------------------------------------------------------------------------


def netem_wanted() -> bool:
    """False when WIRELAB_SHAPER=userspace asks for the NFQUEUE shaper even where netem exists."""
    return os.environ.get("WIRELAB_SHAPER", "auto") != "userspace"


def _shape(ipr: IPRoute, index: int, shaping: Shaping) -> bool:
    """Replace the interface's queueing discipline with ``shaping``.

    netem (tc-netem(8)) does delay, jitter, loss and reordering; a rate is a token bucket
    (tc-tbf(8)), hung under netem's single class 1:1, or at the root without netem.  Returns
    True when the kernel has no netem (or WIRELAB_SHAPER=userspace): the delay and loss are
    then the userspace shaper's job (:mod:`wirelab.lab.shaper`).
    """
    _clear(ipr, index)
    userspace = False
    parent_of_tbf: int | None = None
    if shaping.needs_netem:
        opts: dict[str, Any] = {}
        if shaping.delay_ms:
            opts["delay"] = int(shaping.delay_ms * 1000)  # microseconds
        if shaping.jitter_ms:
            opts["jitter"] = int(shaping.jitter_ms * 1000)
        if shaping.loss_pct:
            opts["loss"] = shaping.loss_pct
        if shaping.reorder_pct:
            opts["prob_reorder"] = shaping.reorder_pct
        try:
            if not netem_wanted():
                raise NetlinkError(errno.ENOENT)
            ipr.tc("add", "netem", index=index, handle=NETEM_HANDLE, **opts)
            parent_of_tbf = NETEM_CHILD
        except NetlinkError as exc:
            if exc.code != errno.ENOENT:  # ENOENT: "Specified qdisc kind is unknown"
                raise
            userspace = True
    if shaping.rate_bps:
        # burst: one jumbo frame or 1 ms at the rate, whichever is more
        burst = max(9000, shaping.rate_bps // 8 // 1000)
        extra: dict[str, Any] = {} if parent_of_tbf is None else {"parent": parent_of_tbf}
        ipr.tc("add", "tbf", index=index, handle=TBF_HANDLE, rate=f"{shaping.rate_bps}bit",
               burst=burst, latency="100ms", **extra)
    return userspace


def _clear(ipr: IPRoute, index: int) -> None:
    try:
        ipr.tc("del", index=index, handle=0, parent=0xFFFFFFFF)  # the root qdisc
    except NetlinkError as exc:
        # ENOENT/EINVAL: nothing but the default queue there, which cannot be deleted
        if exc.code not in (2, 22):
            raise


def shape(netns_path: str, ifname: str, shaping: Shaping) -> bool:
    """Set (or, with an empty shaping, clear) one interface's egress shaping.

    True: the userspace shaper must do the delay/loss part (see :func:`_shape`).
    """
    with rtnl(netns_path) as ipr:
        found = ipr.link_lookup(ifname=ifname)
        if not found:
            raise LabError(f"no interface {ifname} in {netns_path}")
        try:
            return _shape(ipr, found[0], shaping)
        except NetlinkError as exc:
            raise LabError(f"shaping {ifname} failed: {os.strerror(exc.code)}") from None


# -- reading back ------------------------------------------------------------------------------


def read_host(netns_path: str) -> list[dict[str, Any]]:
    """Interfaces of a namespace as the kernel has them: name, state, MAC, addresses, qdisc."""
    out = []
    with rtnl(netns_path) as ipr:
        qdiscs: dict[int, list[str]] = {}
        for msg in ipr.get_qdiscs():
            qdiscs.setdefault(msg["index"], []).append(msg.get_attr("TCA_KIND"))
        addrs: dict[int, list[str]] = {}
        for msg in ipr.get_addr(family=2):
            addrs.setdefault(msg["index"], []).append(
                f"{msg.get_attr('IFA_ADDRESS')}/{msg['prefixlen']}")
        for link in ipr.get_links():
            name = link.get_attr("IFLA_IFNAME")
            if name == "lo":
                continue
            out.append({"name": name, "state": link.get_attr("IFLA_OPERSTATE"),
                        "mac": link.get_attr("IFLA_ADDRESS"),
                        "addresses": addrs.get(link["index"], []),
                        "qdisc": [q for q in qdiscs.get(link["index"], []) if q != "noqueue"]})
    return out


def read_routes(netns_path: str) -> list[str]:
    """The IPv4 main routing table, as ``dst via gw dev if`` lines."""
    lines = []
    with rtnl(netns_path) as ipr:
        names = {link["index"]: link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}
        for route in ipr.get_routes(family=2, table=254):
            dst = route.get_attr("RTA_DST")
            text = f"{dst}/{route['dst_len']}" if dst else "default"
            gateway = route.get_attr("RTA_GATEWAY")
            multipath = route.get_attr("RTA_MULTIPATH")
            if multipath:  # as `ip route` prints an ECMP route
                for hop in multipath:
                    text += (f" nexthop via {hop.get_attr('RTA_GATEWAY')} dev "
                             f"{names.get(hop['oif'], '?')}")
                lines.append(text)
                continue
            if gateway:
                text += f" via {gateway}"
            text += f" dev {names.get(route.get_attr('RTA_OIF'), '?')}"
            lines.append(text)
    return lines
