"""nmap-like normal output and JSON for a :class:`ScanResult`.

The most common state is summarised on one ``Not shown:`` line instead of listed when it
covers more than 25 ports, which is the threshold nmap uses by default.  Service names come
from nmap's own table (``/usr/share/nmap/nmap-services``) when nmap is installed, so the
SERVICE column reads as nmap's does, else from the system's ``/etc/services``.
"""

from __future__ import annotations

import functools
import socket
from collections import Counter
from pathlib import Path
from typing import Any

from wirelab.recon.result import ScanResult
from wirelab.recon.states import PortState

NMAP_SERVICES = Path("/usr/share/nmap/nmap-services")
IGNORE_ABOVE = 25


@functools.cache
def _nmap_services() -> dict[int, str]:
    names: dict[int, str] = {}
    try:
        text = NMAP_SERVICES.read_text(errors="replace")
    except OSError:
        return names
    best: dict[int, float] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 3 or line.startswith("#") or not fields[1].endswith("/tcp"):
            continue
        port = int(fields[1].split("/")[0])
        freq = float(fields[2])
        if freq >= best.get(port, -1.0):  # the most frequent name for the port, as nmap
            best[port], names[port] = freq, fields[0]
    return names


def service(port: int) -> str:
    table = _nmap_services()
    if table:  # nmap's table is complete for what nmap names: the rest are "unknown" there
        return table.get(port, "unknown")
    try:
        return socket.getservbyport(port, "tcp")
    except OSError:
        return "unknown"


def _ignored(result: ScanResult) -> PortState | None:
    counts = Counter(p.state for p in result.ports)
    if not counts:
        return None
    state, count = counts.most_common(1)[0]
    return state if count > IGNORE_ABOVE else None


def _reasons(reasons: Counter[str]) -> str:
    if len(reasons) == 1:
        return next(iter(reasons))
    return ", ".join(f"{n} {r}" for r, n in reasons.most_common())


def render_normal(result: ScanResult, *, reason: bool = False) -> str:
    """The scan as nmap's normal output (``-oN``) prints it."""
    name = (f"{result.target} ({result.address})" if result.target != result.address
            else result.address)
    lines = [f"wirelab scan report for {name}"]
    if result.latency is not None:
        lines.append(f"Host is up ({result.latency:.6f}s latency).")
    hidden = _ignored(result)
    shown = [p for p in result.ports if p.state != hidden]
    if hidden is not None:
        gone = Counter(str(p.reason) for p in result.ports if p.state == hidden)
        lines.append(f"Not shown: {sum(gone.values())} {hidden} tcp ports ({_reasons(gone)})")
    if shown:
        rows = [(f"{p.port}/tcp", str(p.state), service(p.port), str(p.reason)) for p in shown]
        head = ("PORT", "STATE", "SERVICE", "REASON")
        columns = 4 if reason else 3
        widths = [max(len(r[i]) for r in [head, *rows]) for i in range(columns)]
        for row in [head, *rows]:
            cells = [row[i].ljust(widths[i]) for i in range(columns)]
            lines.append(" ".join(cells).rstrip())
    lines.append("")
    lines.append(f"wirelab done: 1 IP address scanned, {len(result.ports)} ports "
                 f"({result.scan_type}) in {result.elapsed:.2f} seconds")
    return "\n".join(lines)


def to_json(result: ScanResult) -> dict[str, Any]:
    return {
        "target": result.target,
        "address": result.address,
        "type": result.scan_type,
        "elapsed": round(result.elapsed, 6),
        "probes_sent": result.probes_sent,
        "latency": result.latency,
        "ports": [{"port": p.port, "protocol": "tcp", "state": str(p.state),
                   "reason": str(p.reason), "service": service(p.port),
                   "rtt": None if p.rtt is None else round(p.rtt, 6)} for p in result.ports],
    }
