"""Endpoints, streaming: the numbers of ``tshark -z endpoints,ip|ipv6|tcp|udp``.

An endpoint is an address (ip, ipv6) or an address and port (tcp, udp).  Every counted frame
is transmitted by its source endpoint and received by its destination; a frame a host sends
to itself counts on both sides, as in tshark.
"""

from __future__ import annotations

from dataclasses import dataclass

from wirelab.monitor.conv import _PROTO, KINDS, Endpoint, endpoints_of, format_endpoint
from wirelab.monitor.keys import Keys


@dataclass
class Counters:
    tx_packets: int = 0
    tx_bytes: int = 0
    rx_packets: int = 0
    rx_bytes: int = 0


class EndpointTable:
    """Accumulates the endpoints of one kind (``ip``, ``ipv6``, ``tcp`` or ``udp``)."""

    def __init__(self, kind: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown endpoint kind {kind!r}")
        self.kind = kind
        self.family = 0
        self.eps: dict[tuple[int, Endpoint], Counters] = {}

    def add(self, keys: Keys, ts_ns: int, length: int) -> None:
        ends = endpoints_of(self.kind, keys)
        if ends is None:
            return
        src, dst = ends
        tx = self.eps.get((keys.family, src))
        if tx is None:
            tx = self.eps[(keys.family, src)] = Counters()
        tx.tx_packets += 1
        tx.tx_bytes += length
        rx = self.eps.get((keys.family, dst))
        if rx is None:
            rx = self.eps[(keys.family, dst)] = Counters()
        rx.rx_packets += 1
        rx.rx_bytes += length

    def rows(self) -> list[dict[str, object]]:
        """One dict per endpoint, most packets first."""
        ports = self.kind in _PROTO
        out: list[dict[str, object]] = []
        for (family, ep), c in self.eps.items():
            row: dict[str, object] = {"address": format_endpoint(family, ep, False)}
            if ports:
                row["port"] = ep[1]
            row.update(packets=c.tx_packets + c.rx_packets, bytes=c.tx_bytes + c.rx_bytes,
                       tx_packets=c.tx_packets, tx_bytes=c.tx_bytes,
                       rx_packets=c.rx_packets, rx_bytes=c.rx_bytes)
            out.append(row)
        out.sort(key=lambda r: -int(r["packets"]))  # type: ignore[call-overload]
        return out


def render(kind: str, rows: list[dict[str, object]]) -> str:
    ports = kind in _PROTO
    head = (f"{'address':<40} " + (f"{'port':>6} " if ports else "")
            + f"{'packets':>8} {'bytes':>10} {'tx pkts':>8} {'tx bytes':>10} "
            f"{'rx pkts':>8} {'rx bytes':>10}")
    lines = [f"{kind.upper()} endpoints: {len(rows)}", head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['address']!s:<40} " + (f"{r['port']:>6} " if ports else "")
            + f"{r['packets']:>8} {r['bytes']:>10} {r['tx_packets']:>8} {r['tx_bytes']:>10} "
            f"{r['rx_packets']:>8} {r['rx_bytes']:>10}")
    return "\n".join(lines)
