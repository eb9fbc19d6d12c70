"""Linux traceroute's output, byte for byte, and the same result as JSON.

traceroute.c prints the header, then for each hop ``"\\n%2u "`` and for each probe:

- `` *`` when it was not answered;
- else the address -- `` name (ip)``, or `` ip`` with ``-n`` -- but only when it differs
  from the last answered probe of the same hop (so one router is named once, and a hop whose
  probes were answered by two routers shows both: the mark of load balancing);
- then ``  %.3f ms`` and, for an unreachable, `` !X`` (or ``!H``, ``!N``...).

Names come from ``getnameinfo()`` without ``NI_NAMEREQD``, as traceroute calls it: an
address with no name prints as ``198.18.0.2 (198.18.0.2)``.  In the lab the names are the
``/etc/hosts`` entries of each host or the lab DNS server's PTR records.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

from wirelab.recon.trace import ProbeResult, TraceResult

Namer = Callable[[str], str] | None


def header(target: str, address: str, max_hops: int, packet_len: int) -> str:
    return (f"traceroute to {target} ({address}), {max_hops} hops max, "
            f"{packet_len} byte packets")


class ReverseNames:
    """``getnameinfo`` with a cache: each router is looked up once per run."""

    def __init__(self) -> None:
        self.cache: dict[str, str] = {}

    def __call__(self, address: str) -> str:
        name = self.cache.get(address)
        if name is None:
            try:
                name = socket.getnameinfo((address, 0), 0)[0]
            except OSError:
                name = address
            self.cache[address] = name
        return name


def probe_text(before: list[ProbeResult], result: ProbeResult, names: Namer) -> str:
    """What traceroute prints for ``result``, given the probes of its hop printed ``before``."""
    if result.source is None:
        return " *"
    out = ""
    answered = [p for p in before if p.source is not None]
    if not answered or answered[-1].source != result.source:
        out = f" {result.source}" if names is None \
            else f" {names(result.source)} ({result.source})"
    if result.rtt is not None:
        out += f"  {result.rtt * 1000:.3f} ms"
    if result.mark:
        out += f" {result.mark}"
    return out


def hop_line(ttl: int, probes: list[ProbeResult], names: Namer) -> str:
    return f"{ttl:2d} " + "".join(probe_text(probes[:i], p, names)
                                  for i, p in enumerate(probes))


def render(result: TraceResult, names: Namer) -> str:
    opts = result.options
    lines = [header(result.target, result.address, opts.max_hops, result.packet_len)]
    for i, probes in enumerate(result.hops):
        lines.append(hop_line(opts.first_hop + i, probes, names))
    return "\n".join(lines)


class Streamer:
    """Prints each probe as soon as traceroute would: hop prefix first, then the probe."""

    def __init__(self, q: int, first_hop: int, names: Namer,
                 write: Callable[[str], None]) -> None:
        self.q = q
        self.first_hop = first_hop
        self.names = names
        self.write = write
        self.hop: list[ProbeResult] = []

    def __call__(self, index: int, result: ProbeResult) -> None:
        if index % self.q == 0:
            self.write(f"\n{result.ttl:2d} ")
            self.hop = []
        self.write(probe_text(self.hop, result, self.names))
        self.hop.append(result)


def to_json(result: TraceResult, names: Namer) -> dict[str, Any]:
    opts = result.options
    hops = []
    for i, probes in enumerate(result.hops):
        hops.append({"ttl": opts.first_hop + i, "probes": [_probe_json(p, names)
                                                          for p in probes]})
    return {"target": result.target, "address": result.address, "method": opts.method,
            "paris": opts.paris, "max_hops": opts.max_hops, "queries": opts.q,
            "packet_len": result.packet_len, "reached": result.reached,
            "elapsed": round(result.elapsed, 6), "hops": hops}


def _probe_json(probe: ProbeResult, names: Namer) -> dict[str, Any]:
    if probe.source is None:
        return {"address": None}
    out: dict[str, Any] = {"address": probe.source}
    if names is not None:
        out["name"] = names(probe.source)
    out["rtt_ms"] = None if probe.rtt is None else round(probe.rtt * 1000, 3)
    if probe.mark:
        out["mark"] = probe.mark
    out["final"] = probe.final
    return out
