"""Endpoints, streaming: the numbers of ``tshark -z endpoints,ip|ipv6|tcp|udp``.

An endpoint is an address (ip, ipv6) or an address and port (tcp, udp).  Every counted frame
is transmitted by its source endpoint and received by its destination; a frame a host sends
to itself counts on both sides, as in tshark.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator

from wirelab.monitor.conv import _PROTO, KINDS, Endpoint, endpoints_of, format_endpoint
from wirelab.monitor.keys import Keys

_COUNTERS = ("packets", "bytes", "tx_packets", "tx_bytes", "rx_packets", "rx_bytes")


class EndpointTable:
    """Accumulates the endpoints of one kind (``ip``, ``ipv6``, ``tcp`` or ``udp``).

    Counters in typed arrays indexed by endpoint number, updated in place: memory stays flat
    on a capture of any length once every endpoint is known (see
    :class:`wirelab.monitor.conv.ConversationTable` for why not one object per endpoint).
    """

    def __init__(self, kind: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown endpoint kind {kind!r}")
        self.kind = kind
        self._index: dict[tuple[int, Endpoint], int] = {}
        self._endpoints: list[tuple[int, Endpoint]] = []  # (address family, endpoint)
        self._tx_packets = array("q")
        self._tx_bytes = array("q")
        self._rx_packets = array("q")
        self._rx_bytes = array("q")

    def __len__(self) -> int:
        return len(self._endpoints)

    def _number(self, key: tuple[int, Endpoint]) -> int:
        i = self._index.get(key)
        if i is None:
            i = self._index[key] = len(self._endpoints)
            self._endpoints.append(key)
            for counters in (self._tx_packets, self._tx_bytes, self._rx_packets,
                             self._rx_bytes):
                counters.append(0)
        return i

    def add(self, keys: Keys, ts_ns: int, length: int) -> None:
        ends = endpoints_of(self.kind, keys)
        if ends is None:
            return
        tx = self._number((keys.family, ends[0]))
        self._tx_packets[tx] += 1
        self._tx_bytes[tx] += length
        rx = self._number((keys.family, ends[1]))
        self._rx_packets[rx] += 1
        self._rx_bytes[rx] += length

    @property
    def fields(self) -> tuple[str, ...]:
        """A row's names: the address, its port (tcp and udp only), then the counters."""
        return (("address", "port") if self.kind in _PROTO else ("address",)) + _COUNTERS

    def rows(self) -> Iterator[dict[str, object]]:
        """One dict per endpoint, most packets first, made one at a time as they are read."""
        fields = self.fields
        for values in self.values():
            yield dict(zip(fields, values, strict=True))

    def values(self) -> Iterator[tuple[str | int, ...]]:
        """The rows as tuples in the order of :attr:`fields`."""
        ports = self.kind in _PROTO
        tx_packets, tx_bytes = self._tx_packets, self._tx_bytes
        rx_packets, rx_bytes = self._rx_packets, self._rx_bytes
        for i in sorted(range(len(self)), key=lambda i: -(tx_packets[i] + rx_packets[i])):
            family, ep = self._endpoints[i]
            where: tuple[str | int, ...] = (format_endpoint(family, ep, False),)
            if ports:
                where += (ep[1],)
            yield where + (tx_packets[i] + rx_packets[i], tx_bytes[i] + rx_bytes[i],
                           tx_packets[i], tx_bytes[i], rx_packets[i], rx_bytes[i])


def render(kind: str, count: int, rows: Iterable[dict[str, object]]) -> Iterator[str]:
    """The lines of a fixed-width table, one per endpoint."""
    ports = kind in _PROTO
    head = (f"{'address':<40} " + (f"{'port':>6} " if ports else "")
            + f"{'packets':>8} {'bytes':>10} {'tx pkts':>8} {'tx bytes':>10} "
            f"{'rx pkts':>8} {'rx bytes':>10}")
    yield from (f"{kind.upper()} endpoints: {count}", head, "-" * len(head))
    for r in rows:
        yield (
            f"{r['address']!s:<40} " + (f"{r['port']:>6} " if ports else "")
            + f"{r['packets']:>8} {r['bytes']:>10} {r['tx_packets']:>8} {r['tx_bytes']:>10} "
            f"{r['rx_packets']:>8} {r['rx_bytes']:>10}")
