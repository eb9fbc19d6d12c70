"""What a lab is right now (read back from the kernel), and changing a link's shaping."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from wirelab.errors import LabError
from wirelab.lab import firewall, lifecycle
from wirelab.lab.plan import Interface, Plan
from wirelab.lab.shaping import Shaping
from wirelab.lab.state import SWITCH, LabDir, LabState

if TYPE_CHECKING:
    from wirelab.lab.lab import Lab


def _shape_all(targets: list[tuple[str, str]], shaping: Shaping) -> list[bool]:
    from wirelab.lab import driver

    return [driver.shape(netns, ifname, shaping) for netns, ifname in targets]


def apply_shaping(lab: Lab, ends: list[Interface], shaping: Shaping) -> None:
    """Shape (or clear) the egress of each interface in ``ends``, and record it.

    The kernel does what it can (netem, tbf); where it has no netem, the hosts' userspace
    shapers are restarted with the new rules.
    """
    ldir = LabDir(lab.name)
    with ldir.locked():
        state = lab.refresh()
        targets = [(state.netns[i.host], i.name) for i in ends]
        userspace = lifecycle.privileged(state, _shape_all, targets, shaping)
        for iface, needs_shaper in zip(ends, userspace, strict=True):
            key = f"{iface.host}:{iface.name}"
            state.shaping[key] = shaping.to_dict()
            state.shaper.pop(key, None)
            if shaping.needs_netem:
                state.shaper[key] = "nfqueue" if needs_shaper else "netem"
        ldir.save(state)
        for host in sorted({i.host for i in ends}):
            lifecycle.restart_shaper(ldir, state, lab.plan, host, lab._children)
        lab.state = state


def _read_all(paths: dict[str, str],
              keys: dict[str, list[str]] | None = None) -> dict[str, dict[str, Any]]:
    from wirelab.lab import driver
    from wirelab.lab.sysctl import read_in

    keys = keys or {}
    return {host: {"interfaces": driver.read_host(path), "routes": driver.read_routes(path),
                   "sysctl": read_in(path, keys[host]) if keys.get(host) else {}}
            for host, path in paths.items()}


def sysctl_keys(state: LabState, plan: Plan, host: str) -> list[str]:
    """The settings worth showing for ``host``: the topology's, and any set since ``up``."""
    return list(dict.fromkeys([*plan.sysctls[host], *state.sysctl.get(host, {})]))


def set_sysctls(lab: Lab, host: str, settings: dict[str, str]) -> dict[str, str | None]:
    """Change ``host``'s own sysctls on the running lab, record them, return them read back."""
    from wirelab.lab.sysctl import write_in

    ldir = LabDir(lab.name)
    with ldir.locked():
        state = lab.refresh()
        if host not in state.netns or host == SWITCH:
            raise LabError(f"no host {host!r} in lab {lab.name}")
        now = lifecycle.privileged(state, write_in, state.netns[host], host, settings)
        state.sysctl.setdefault(host, {}).update(settings)
        ldir.save(state)
        lab.state = state
    return now


def get_sysctls(lab: Lab, host: str, keys: list[str]) -> dict[str, str | None]:
    """``host``'s current values of ``keys`` (None: no such setting in a namespace)."""
    from wirelab.lab.sysctl import read_in

    state = lab.refresh()
    if host not in state.netns or host == SWITCH:
        raise LabError(f"no host {host!r} in lab {lab.name}")
    return lifecycle.privileged(state, read_in, state.netns[host], keys)


def _where(iface: Interface) -> str:
    """What the interface's cable plugs into: a segment, or ``host:ifname``."""
    if iface.peer is not None:
        return f"{iface.peer[0]}:{iface.peer[1]}"
    return iface.segment or "?"


def _interface_entry(state: LabState, iface: Interface,
                     seen: dict[str, Any] | None) -> dict[str, Any]:
    key = f"{iface.host}:{iface.name}"
    shaping = lifecycle.effective_shaping(state, iface)
    entry: dict[str, Any] = {
        "name": iface.name, "address": str(iface.address), "to": _where(iface),
        "shaping": shaping.describe(),
        "shaped_by": state.shaper.get(key, "tbf" if shaping.rate_bps else None),
    }
    if seen is not None:  # what the kernel says, next to what the plan says
        entry.update(mac=seen["mac"], state=seen["state"], qdisc=seen["qdisc"],
                     kernel_addresses=seen["addresses"])
    return entry


def _host_entry(state: LabState, plan: Plan, host: str,
                kernel: dict[str, Any]) -> dict[str, Any]:
    live_ifaces = {i["name"]: i for i in kernel.get("interfaces", [])}
    planned_routes = [str(r) for r in plan.routes[host]]
    return {
        "interfaces": [_interface_entry(state, i, live_ifaces.get(i.name))
                       for i in plan.interfaces[host]],
        "routes": kernel.get("routes", planned_routes),
        "forwarding": plan.forwarding[host],
        "sysctl": kernel.get("sysctl") or {**plan.sysctls[host], **state.sysctl.get(host, {})},
        "firewall": [str(firewall.parse(r, host)) for r in plan.topology.hosts[host].firewall],
        "netns": state.netns[host],
        "services": [{"service": s.role, "ports": s.ports, "pid": s.pid, "alive": s.alive()}
                     for s in state.services if s.host == host],
    }


def _links(state: LabState, plan: Plan) -> list[dict[str, str]]:
    """Every cable once: host interface to segment, or host to host, with its shaping."""
    links = []
    for host in plan.hosts:
        for iface in plan.interfaces[host]:
            if iface.peer is not None and iface.peer < (host, iface.name):
                continue  # the other end listed it
            links.append({"a": f"{host}:{iface.name}", "b": _where(iface),
                          "shaping": lifecycle.effective_shaping(state, iface).describe()})
    return links


def lab_status(state: LabState, plan: Plan, live: bool = True) -> dict[str, Any]:
    """The lab as data (the ``status --json`` document)."""
    kernel: dict[str, dict[str, Any]] = {}
    problem = None
    if live:
        paths = {h: p for h, p in state.netns.items() if h != SWITCH}
        keys = {h: sysctl_keys(state, plan, h) for h in paths}
        try:
            kernel = lifecycle.privileged(state, _read_all, paths, keys)
        except LabError as exc:  # e.g. the keeper was killed: say so, show the record
            problem = str(exc)
    return {
        "name": state.name, "mode": state.mode,
        "status": state.status if problem is None else "broken", "problem": problem,
        "topology": plan.topology.name, "created": time.strftime(
            "%Y-%m-%dT%H:%M:%S", time.localtime(state.created)),
        "keeper_pid": state.keeper.pid if state.keeper else None,
        "dns_server": _dns_server(plan, state),
        "segments": {seg: str(plan.subnets[seg]) for seg in plan.topology.segments},
        "hosts": {h: _host_entry(state, plan, h, kernel.get(h, {})) for h in plan.hosts},
        "links": _links(state, plan),
    }


def _dns_server(plan: Plan, state: LabState) -> str | None:
    dns = plan.dns_host()
    return str(plan.address(dns)) if dns and state.services_enabled else None


def format_status(doc: dict[str, Any]) -> str:
    """The status document as text for a terminal."""
    lines = [f"lab {doc['name']} ({doc['mode']}, {doc['status']}, topology {doc['topology']}, "
             f"since {doc['created']})"]
    if doc.get("problem"):
        lines.append(f"  problem: {doc['problem']}")
    if doc["dns_server"]:
        lines.append(f"  dns server {doc['dns_server']}")
    for seg, subnet in doc["segments"].items():
        lines.append(f"  segment {seg} {subnet}")
    for host, info in doc["hosts"].items():
        flags = " [forwards]" if info["forwarding"] else ""
        lines.append(f"  {host}{flags}")
        for iface in info["interfaces"]:
            state = iface.get("state", "?")
            shaped = "" if iface["shaping"] == "none" else f"  shaped: {iface['shaping']}"
            lines.append(f"    {iface['name']:<5} {iface['address']:<18} -> {iface['to']:<12} "
                         f"{state}{shaped}")
        for route in info["routes"]:
            lines.append(f"    route {route}")
        for key, value in info.get("sysctl", {}).items():
            lines.append(f"    sysctl {key} = {value}")
        for rule in info.get("firewall", []):
            lines.append(f"    firewall {rule}")
        for svc in info["services"]:
            alive = "up" if svc["alive"] else "DEAD"
            ports = ",".join(map(str, svc["ports"]))
            lines.append(f"    service {svc['service']} ports {ports} pid {svc['pid']} {alive}")
    return "\n".join(lines)
