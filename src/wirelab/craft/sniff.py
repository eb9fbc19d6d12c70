"""The live protocol counter of curriculum 2.3: what is counted, and the two engines' driver.

The curriculum's callback updates a global dictionary.  As printed it cannot run:
``protocol_counts += 1`` is an assignment to ``protocol_counts`` inside the function, which
makes that name local to the whole function (Python decides scope at compile time), so the
first packet of any kind raises UnboundLocalError before the ``+=`` is even tried; and had
the name been global, ``dict += 1`` would raise TypeError.  The fix is to count per key
(``counts[label] += 1``) on an object the callback receives, never to rebind a name.

Both engines count into a :class:`Tally` keyed by :class:`wirelab.wire.classify.Proto`, so
their figures are comparable line for line; the display reads the tally while the engine
writes it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from wirelab.wire.classify import Proto

# The rows of the table, in the curriculum's order (highest layer first), then ARP, IPv6.
ROWS = (Proto.HTTP, Proto.DNS, Proto.ICMP, Proto.TCP, Proto.UDP, Proto.OTHER_IP,
        Proto.ARP, Proto.IPV6, Proto.OTHER)


@dataclass
class Tally:
    """Counts per protocol, plus what the kernel said about the capture socket."""

    engine: str
    interface: str
    bpf: str | None
    counts: list[int] = field(default_factory=lambda: [0] * len(Proto))
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    kernel_packets: int | None = None
    kernel_drops: int | None = None
    written: str | None = None

    @property
    def total(self) -> int:
        return sum(self.counts)

    @property
    def elapsed(self) -> float:
        return (self.ended or time.monotonic()) - self.started

    def by_label(self) -> dict[str, int]:
        return {proto.label: self.counts[proto] for proto in ROWS}

    def to_dict(self) -> dict[str, object]:
        return {
            "engine": self.engine,
            "interface": self.interface,
            "filter": self.bpf,
            "duration_s": round(self.elapsed, 3),
            "total": self.total,
            "counts": self.by_label(),
            "kernel": {"packets": self.kernel_packets, "drops": self.kernel_drops},
            "pcap": self.written,
        }


@dataclass
class SniffOptions:
    interface: str | None = None  # None: every interface
    bpf: str | None = None
    timeout: float = 60.0
    count: int = 0
    write: str | None = None
    engine: str = "fast"

    @property
    def interface_label(self) -> str:
        return self.interface or "any"


class RateMeter:
    """Per-protocol rates over the last refresh interval, for the live table."""

    def __init__(self, tally: Tally) -> None:
        self.tally = tally
        self.last = list(tally.counts)
        self.at = time.monotonic()
        self.rates = [0.0] * len(Proto)

    def update(self) -> list[float]:
        now = time.monotonic()
        span = now - self.at
        if span >= 0.2:
            current = list(self.tally.counts)
            self.rates = [(c - p) / span for c, p in zip(current, self.last, strict=True)]
            self.last, self.at = current, now
        return self.rates
