"""Scan detection on flow records: sources that probed many ports of a host, or many hosts.

The idea is Zeek's ``policy/misc/scan.zeek``: count, per source, the distinct *failed*
connection attempts over a time interval.  Many distinct ports on one victim is a **vertical**
scan (Zeek's ``Port_Scan``, 15 ports in 5 minutes by default); one port on many distinct hosts
is a **horizontal** scan (``Address_Scan``, 25 hosts in 5 minutes).

A *probe* here is a flow that carried no payload either way and that the source opened:

- TCP with the originator's SYN in its history and ``orig_bytes == resp_bytes == 0`` -- the
  states a scan leaves (lesson 3.1): ``S0`` (filtered, no answer), ``REJ`` (closed: RST), a
  SYN scan's open port ``RSTO`` (history ``ShR``: SYN, SYN-ACK, the scanner's RST),
  ``RSTOS0``, ``SH``, and a connect scan's open port closed at once (``ShAFf``...);
- UDP to which the responder sent nothing (``S0``), payload or not (nmap -sU sends
  protocol-specific payloads to some ports);
- an ICMP echo request, answered or not: many hosts pinged is a ping sweep, reported as a
  horizontal scan of ``8/icmp`` (Zeek's scan.zeek looks at TCP only; this is ours).

A normal connection moves data, so a web download or an SSH session is never a probe however
many there are; a client opening hundreds of connections that all fail would be flagged, and
that is what a failed-connection scan detector is for.  The window slides: a scan is reported
when any ``window`` seconds hold the threshold.  Memory: one tuple per probe (never per flow
with data), so a ``-p-`` scan of one host costs 65,535 small tuples.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

DEFAULT_WINDOW = 300.0
"""Zeek's Scan::port_scan_interval and addr_scan_interval: 5 minutes."""
DEFAULT_PORTS = 15
"""Zeek's Scan::port_scan_threshold."""
DEFAULT_HOSTS = 25
"""Zeek's Scan::addr_scan_threshold."""
ECHO_TYPES = (8, 128)
"""ICMP and ICMPv6 echo request: the probe of a ping sweep (nmap -sn -PE)."""


@dataclass(frozen=True)
class Probe:
    ts: float
    dst: str
    port: int
    proto: str
    state: str


def is_probe(r: dict[str, object]) -> bool:
    """Whether flow record ``r`` is a failed or empty connection attempt (see module doc)."""
    if r["proto"] == "tcp":
        return not r["orig_bytes"] and not r["resp_bytes"] and "S" in str(r["history"] or "")
    if r["proto"] == "udp":
        return not r["resp_pkts"]  # a UDP probe may carry a payload (nmap -sU does)
    if r["proto"] == "icmp":
        return r["id.orig_p"] in ECHO_TYPES  # a ping, answered or not: a sweep's probe
    return False


class ScanDetector:
    """Feed it flow records (``add`` is a :class:`~wirelab.monitor.flows.FlowTable` emit)."""

    def __init__(self, window: float = DEFAULT_WINDOW, ports: int = DEFAULT_PORTS,
                 hosts: int = DEFAULT_HOSTS) -> None:
        self.window = window
        self.ports = ports
        self.hosts = hosts
        self.probes: dict[str, list[Probe]] = defaultdict(list)
        self.flows: Counter[str] = Counter()  # every flow a source originated

    def add(self, r: dict[str, object]) -> None:
        src = str(r["id.orig_h"])
        self.flows[src] += 1
        if is_probe(r):
            # an ICMP flow's "port" is the type asked (8: echo), not the answer's type
            port = r["id.orig_p"] if r["proto"] == "icmp" else r["id.resp_p"]
            self.probes[src].append(Probe(float(r["ts"]), str(r["id.resp_h"]),  # type: ignore[arg-type]
                                          int(port), str(r["proto"]),  # type: ignore[call-overload]
                                          str(r["conn_state"])))

    def report(self) -> list[dict[str, object]]:
        """One entry per scan found: the largest window of each kind, per source and target."""
        found: list[dict[str, object]] = []
        for src, probes in sorted(self.probes.items()):
            probes.sort(key=lambda p: p.ts)
            by_host: dict[str, list[Probe]] = defaultdict(list)
            by_port: dict[tuple[str, int], list[Probe]] = defaultdict(list)
            for p in probes:
                by_host[p.dst].append(p)
                by_port[(p.proto, p.port)].append(p)
            for host, seq in sorted(by_host.items()):
                best = _widest(seq, self.window, lambda p: (p.proto, p.port))
                if best is not None and best[0] >= self.ports:
                    found.append(self._entry(src, "vertical", host, None, best))
            for (proto, port), seq in sorted(by_port.items()):
                best = _widest(seq, self.window, lambda p: p.dst)
                if best is not None and best[0] >= self.hosts:
                    found.append(self._entry(src, "horizontal", None, f"{port}/{proto}", best))
        return found

    def _entry(self, src: str, kind: str, host: str | None, port: str | None,
               best: tuple[int, list[Probe]]) -> dict[str, object]:
        distinct, window = best
        return {
            "source": src, "kind": kind, "target_host": host, "target_port": port,
            "distinct": distinct, "probes": len(window),
            "first": window[0].ts, "last": window[-1].ts,
            "states": dict(sorted(Counter(p.state for p in window).items())),
            "source_flows": self.flows[src],
        }


def _widest(seq: list[Probe], window: float, key: object) -> tuple[int, list[Probe]] | None:
    """The most distinct ``key`` values any ``window`` seconds of ``seq`` (time-sorted) hold,
    with those probes; two pointers, each probe entering and leaving once."""
    count: Counter[object] = Counter()
    left = 0
    best = (0, 0, 0)  # distinct, start, end
    for right, p in enumerate(seq):
        count[key(p)] += 1  # type: ignore[operator]
        while p.ts - seq[left].ts > window:
            k = key(seq[left])  # type: ignore[operator]
            count[k] -= 1
            if not count[k]:
                del count[k]
            left += 1
        distinct = len(count)
        # the same window, longer: later probes to values already seen (retries) count too
        if distinct > best[0] or (distinct == best[0] and left == best[1]):
            best = (distinct, left, right + 1)
    if not best[0]:
        return None
    return best[0], seq[best[1]:best[2]]


def render(found: list[dict[str, object]]) -> str:
    """A human table of :meth:`ScanDetector.report`."""
    if not found:
        return "no scans found"
    lines = [f"{'source':<40} {'kind':<10} {'target':<40} {'distinct':>8} {'probes':>6} "
             f"{'seconds':>8}  states"]
    for s in found:
        target = s["target_host"] or f"port {s['target_port']}"
        span = float(s["last"]) - float(s["first"])  # type: ignore[arg-type]
        states = " ".join(f"{k}={v}" for k, v in s["states"].items())  # type: ignore[attr-defined]
        lines.append(f"{s['source']!s:<40} {s['kind']!s:<10} {target!s:<40} "
                     f"{s['distinct']:>8} {s['probes']:>6} {span:>8.3f}  {states}")
    return "\n".join(lines)
