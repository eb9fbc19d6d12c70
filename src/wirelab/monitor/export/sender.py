"""Send flow records to a collector over UDP: the only I/O of the export package.

The collector must be loopback or a host of the running lab (the same rule as
:func:`wirelab.recon.scope.check_scope`): flow records describe who talked to whom, and a
lesson tool must never ship them to an outside address by accident.  The address is checked
before the socket is opened.

Datagrams are paced (``pps``, datagrams per second) because a capture file replays flows far
faster than a router would export them, and a collector's socket buffer overflows silently.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import time
from collections.abc import Iterable, Mapping

from wirelab.errors import ExitCode, NetworkError, WirelabError
from wirelab.monitor.export import ipfix, netflow5
from wirelab.monitor.export.records import UniFlow, split
from wirelab.recon.scope import LAB_NETWORK


class CollectorScopeError(WirelabError):
    """A collector address outside loopback and the running lab."""

    exit_code = ExitCode.USAGE


def parse_collector(text: str, env: Mapping[str, str] | None = None) -> tuple[str, int]:
    """``HOST:PORT`` checked: loopback, or a lab address from inside the lab."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise CollectorScopeError(f"collector {text!r}: expected HOST:PORT, e.g. "
                                  "127.0.0.1:2055")
    host = host.strip("[]")
    if host == "localhost":
        host = "127.0.0.1"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise CollectorScopeError(f"collector {host!r}: give an IP address (loopback or a "
                                  "lab host), not a name") from None
    if ip.is_loopback:
        return str(ip), int(port_text)
    lab = (os.environ if env is None else env).get("WIRELAB_LAB")
    if lab and ip.version == 4 and ip in LAB_NETWORK:
        return str(ip), int(port_text)
    raise CollectorScopeError(f"refusing to export to {ip}: only loopback or a host of the "
                              "running lab (from inside it) may receive flow records")


class Sender:
    """Encodes records in one format and sends them to a checked collector address.

    Records wait until a datagram is full, or at most ``max_delay`` seconds (checked by
    :meth:`tick`, which the export loop calls as packets arrive), then go out.  IPFIX resends
    its templates every 20 messages and every ``template_seconds`` of export time
    (:mod:`wirelab.monitor.export.ipfix`).
    """

    def __init__(self, fmt: str, collector: tuple[str, int], pps: float = 2000.0,
                 max_delay: float = 1.0, template_seconds: float = 600.0) -> None:
        self.fmt = fmt
        self.collector = collector
        self.interval = 1.0 / pps if pps > 0 else 0.0
        self.max_delay = max_delay
        self.v5 = netflow5.Exporter() if fmt == "netflow" else None
        self.ipfix = (ipfix.Exporter(template_seconds=template_seconds) if fmt == "ipfix"
                      else None)
        family = socket.AF_INET6 if ":" in collector[0] else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.pending: list[UniFlow] = []
        self.datagrams = 0
        self._since = 0.0
        self._next = 0.0

    def add(self, record: Mapping[str, object]) -> None:
        """Queue a conn.log-style record's directions; send the datagrams that are full."""
        flows = split(record)
        if self.v5 is not None:
            v4 = [f for f in flows if ":" not in f.src]
            self.v5.skipped += len(flows) - len(v4)
            flows = v4
        if flows and not self.pending:
            self._since = time.monotonic()
        self.pending += flows
        if len(self.pending) >= 2 * netflow5.MAX_RECORDS:
            self._drain(final=False)

    def tick(self) -> None:
        """Send what has waited longer than ``max_delay``."""
        if self.pending and time.monotonic() - self._since >= self.max_delay:
            self._drain(final=True)

    def _drain(self, final: bool) -> None:
        flows = self.pending
        if self.v5 is not None:
            full = len(flows) if final else len(flows) - len(flows) % netflow5.MAX_RECORDS
            out = list(self.v5.datagrams(flows[:full]))
            rest = flows[full:]
        else:
            assert self.ipfix is not None
            out, rest = self.ipfix.pack(flows, final)
        self.pending = rest
        if rest:
            self._since = time.monotonic()
        for data in out:
            self._send(data)

    def _send(self, data: bytes) -> None:
        now = time.monotonic()
        if now < self._next:
            time.sleep(self._next - now)
        try:
            self.sock.sendto(data, self.collector)
        except OSError as exc:
            raise NetworkError(f"sending to {self.collector[0]}:{self.collector[1]}: "
                               f"{exc.strerror or exc}") from None
        self._next = max(now, self._next) + self.interval
        self.datagrams += 1

    def close(self) -> None:
        """Send what is queued and close the socket."""
        try:
            if self.pending:
                self._drain(final=True)
        finally:
            self.sock.close()

    @property
    def sent_records(self) -> int:
        exporter = self.v5 if self.v5 is not None else self.ipfix
        return exporter.sequence if exporter is not None else 0

    @property
    def skipped(self) -> int:
        return self.v5.skipped if self.v5 is not None else 0


def send_all(records: Iterable[Mapping[str, object]], fmt: str, collector: tuple[str, int],
             pps: float = 2000.0) -> Sender:
    """Send every record; returns the closed sender (its counters)."""
    sender = Sender(fmt, collector, pps)
    try:
        for r in records:
            sender.add(r)
    finally:
        sender.close()
    return sender
