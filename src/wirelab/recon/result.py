"""What a scan found: one verdict a port, plus timing, shared by both scan types."""

from __future__ import annotations

from dataclasses import dataclass, field

from wirelab.recon.states import PortState, Reason


@dataclass(slots=True)
class PortResult:
    port: int
    state: PortState
    reason: Reason
    rtt: float | None = None  # seconds from the (last) probe to its answer


@dataclass(slots=True)
class ScanResult:
    target: str
    address: str
    scan_type: str  # "syn" or "connect"
    ports: list[PortResult] = field(default_factory=list)
    elapsed: float = 0.0
    probes_sent: int = 0

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
