"""What a lab is right now (read back from the kernel), and changing a link's shaping."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from wirelab.errors import LabError
from wirelab.lab import lifecycle
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


def _read_all(paths: dict[str, str]) -> dict[str, dict[str, Any]]:
    from wirelab.lab import driver

    return {host: {"interfaces": driver.read_host(path), "routes": driver.read_routes(path)}
            for host, path in paths.items()}


def lab_status(state: LabState, plan: Plan, live: bool = True) -> dict[str, Any]:
    """The lab as data (the ``status --json`` document)."""
    kernel: dict[str, dict[str, Any]] = {}
    problem = None
    if live:
        paths = {h: p for h, p in state.netns.items() if h != SWITCH}
        try:
            kernel = lifecycle.privileged(state, _read_all, paths)
        except LabError as exc:  # e.g. the keeper was killed: say so, show the record
            problem = str(exc)
    hosts: dict[str, Any] = {}
    for host in plan.hosts:
        live_ifaces = {i["name"]: i for i in kernel.get(host, {}).get("interfaces", [])}
        ifaces = []
        for iface in plan.interfaces[host]:
            key = f"{host}:{iface.name}"
            shaping = lifecycle.effective_shaping(state, iface)
            entry: dict[str, Any] = {
                "name": iface.name, "address": str(iface.address),
                "to": iface.segment or f"{iface.peer[0]}:{iface.peer[1]}" if iface.peer
                else iface.segment,
                "shaping": shaping.describe(),
                "shaped_by": state.shaper.get(key, "tbf" if shaping.rate_bps else None),
            }
            if iface.name in live_ifaces:
                seen = live_ifaces[iface.name]
                entry.update(mac=seen["mac"], state=seen["state"], qdisc=seen["qdisc"],
                             kernel_addresses=seen["addresses"])
            ifaces.append(entry)
        hosts[host] = {
            "interfaces": ifaces,
            "routes": kernel.get(host, {}).get("routes",
                                               [f"{r.dst} via {r.via} dev {r.dev}"
                                                for r in plan.routes[host]]),
            "forwarding": plan.forwarding[host],
            "netns": state.netns[host],
            "services": [{"service": s.role, "ports": s.ports, "pid": s.pid,
                          "alive": s.alive()} for s in state.services if s.host == host],
        }
    return {
        "name": state.name, "mode": state.mode,
        "status": state.status if problem is None else "broken", "problem": problem,
        "topology": plan.topology.name, "created": time.strftime(
            "%Y-%m-%dT%H:%M:%S", time.localtime(state.created)),
        "keeper_pid": state.keeper.pid if state.keeper else None,
        "dns_server": _dns_server(plan, state),
        "segments": {seg: str(plan.subnets[seg]) for seg in plan.topology.segments},
        "hosts": hosts,
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
        for svc in info["services"]:
            alive = "up" if svc["alive"] else "DEAD"
            ports = ",".join(map(str, svc["ports"]))
            lines.append(f"    service {svc['service']} ports {ports} pid {svc['pid']} {alive}")
    return "\n".join(lines)
