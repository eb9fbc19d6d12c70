"""What a scan found: one verdict a port, plus timing, shared by every scan type.

Everything here is plain data (str, int, float, lists), so a result turns into JSON field by
field.  ``notes`` carries human explanations the engine wants shown next to the table, e.g.
that the target rate-limited its ICMP errors and the scan slowed down because of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from wirelab.recon.states import PortState, Reason

Progress = Callable[[int, int], None]
"""``progress(done_ports, total_ports)``, called as verdicts settle (at most ~20 times/s)."""


@dataclass(slots=True)
class PortResult:
    port: int
    state: PortState
    reason: Reason
    rtt: float | None = None  # seconds from the (last) probe to its answer
    tries: int = 1  # probes sent to this port (1 + retransmissions)
    ttl: int | None = None  # IP TTL of the answer (nmap's reason_ttl); None: no packet seen


@dataclass(slots=True)
class ScanResult:
    target: str
    address: str
    scan_type: str  # "syn", "connect" or "udp"
    ports: list[PortResult] = field(default_factory=list)
    elapsed: float = 0.0
    probes_sent: int = 0
    timing: int = 4  # the -T level used
    max_retries: int = 6  # the retransmission cap in force (template or explicit)
    notes: list[str] = field(default_factory=list)  # human explanations, one sentence each

    @property
    def protocol(self) -> str:
        """``"udp"`` for a UDP scan, else ``"tcp"`` (the ``PORT`` column's ``80/tcp``)."""
        return "udp" if self.scan_type == "udp" else "tcp"

    def state_of(self, port: int) -> PortState:
        for result in self.ports:
            if result.port == port:
                return result.state
        raise KeyError(port)

    @property
    def latency(self) -> float | None:
        """The smallest RTT measured (what nmap prints as "Host is up (Xs latency)")."""
        rtts = [p.rtt for p in self.ports if p.rtt is not None]
        return min(rtts) if rtts else None
