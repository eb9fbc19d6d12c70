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
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from wirelab.errors import LabError
from wirelab.lab import nsops
from wirelab.lab.plan import Interface, Plan
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
        settings["net.ipv6.conf.all.disable_ipv6"] = "1"
    if host is not None:
        settings["net.ipv4.ip_forward"] = "1" if plan.forwarding[host] else "0"
        # Let any user send ICMP echo through an unprivileged ICMP socket (icmp(7)).
        settings["net.ipv4.ping_group_range"] = "0 2147483647"
    return settings


def _apply_sysctls(path: str, settings: dict[str, str]) -> None:
    optional = {k: v for k, v in settings.items() if ".ipv6." in k or "ping_group" in k}
    nsops.write_sysctl_in(path, {k: v for k, v in settings.items() if k not in optional})
    for key, value in optional.items():
        try:
            nsops.write_sysctl_in(path, {key: value})
        except FileNotFoundError:  # a kernel without IPv6: nothing to disable
            pass
        except OSError as exc:
            # EINVAL: in a user namespace only the mapped group IDs may be named; there the
            # lab's processes are root of the namespace and need no unprivileged ICMP socket.
            if exc.errno != errno.EINVAL:
                raise


def create_namespaces(plan: Plan, paths: dict[str, str], switch: str) -> None:
    """Create the switch namespace and one per host, with their sysctls."""
    for host in [None, *plan.hosts]:
        path = switch if host is None else paths[host]
        nsops.create_netns(path)
        _apply_sysctls(path, _sysctls(plan, host))


def build(plan: Plan, paths: dict[str, str], switch: str) -> list[str]:
    """Create namespaces, bridges, cables, addresses, routes and shaping for ``plan``.

    Returns the ``host:ifname`` keys whose delay/loss needs the userspace shaper (no netem).
    """
    userspace: list[str] = []
    try:
        create_namespaces(plan, paths, switch)
        with rtnl(switch) as sw:
            bridges = _bridges(sw, plan)
            _cables(sw, plan, paths, bridges)
        for host in plan.hosts:
            with rtnl(paths[host]) as ipr:
                userspace += _configure_host(ipr, plan, host)
        return userspace
    except NetlinkError as exc:
        raise LabError(f"building the lab failed: netlink error {exc.code} "
                       f"({os.strerror(exc.code)})") from None


def _bridges(sw: IPRoute, plan: Plan) -> dict[str, int]:
    sw.link("set", index=1, state="up")
    bridges = {}
    for seg in plan.topology.segments:
        name = f"br-{seg}"
        # No STP (the default): ports forward at once.  Ageing stays at the kernel default.
        sw.link("add", ifname=name, kind="bridge", state="up")
        bridges[seg] = sw.link_lookup(ifname=name)[0]
    return bridges


def _cables(sw: IPRoute, plan: Plan, paths: dict[str, str], bridges: dict[str, int]) -> None:
    done: set[tuple[str, str]] = set()
    for host in plan.hosts:
        for iface in plan.interfaces[host]:
            if iface.segment is not None:
                fd = os.open(paths[host], os.O_RDONLY | os.O_CLOEXEC)
                try:
                    sw.link("add", ifname=iface.port, kind="veth", state="up",
                            master=bridges[iface.segment],
                            peer={"ifname": iface.name, "net_ns_fd": fd})
                finally:
                    os.close(fd)
            elif iface.peer is not None and (iface.peer[0], iface.peer[1]) not in done:
                _host_cable(plan, paths, iface)
                done.add((host, iface.name))


def _host_cable(plan: Plan, paths: dict[str, str], iface: Interface) -> None:
    assert iface.peer is not None
    other_host, other_if = iface.peer
    fd = os.open(paths[other_host], os.O_RDONLY | os.O_CLOEXEC)
    try:
        with rtnl(paths[iface.host]) as ipr:
            ipr.link("add", ifname=iface.name, kind="veth",
                     peer={"ifname": other_if, "net_ns_fd": fd})
    finally:
        os.close(fd)


def _configure_host(ipr: IPRoute, plan: Plan, host: str) -> list[str]:
    ipr.link("set", index=1, state="up")  # lo is always index 1 in a fresh namespace
    index = {}
    userspace = []
    for iface in plan.interfaces[host]:
        idx = ipr.link_lookup(ifname=iface.name)[0]
        index[iface.name] = idx
        ipr.link("set", index=idx, state="up")
        ipr.addr("add", index=idx, address=str(iface.address.ip),
                 prefixlen=iface.address.network.prefixlen,
                 broadcast=str(iface.address.network.broadcast_address))
        if not iface.shaping.empty and _shape(ipr, idx, iface.shaping):
            userspace.append(f"{host}:{iface.name}")
    for route in plan.routes[host]:
        ipr.route("add", dst=str(route.dst), gateway=str(route.via), oif=index[route.dev])
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
            if gateway:
                text += f" via {gateway}"
            text += f" dev {names.get(route.get_attr('RTA_OIF'), '?')}"
            lines.append(text)
    return lines
