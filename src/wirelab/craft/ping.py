"""ICMP echo, crafted with Scapy (curriculum 2.1), with ping's statistics.

The curriculum sends one ``IP()/ICMP()`` with ``sr1`` and shows the reply.  A tool needs
more: several probes on a schedule, replies matched to their request (the echo identifier
and sequence number of RFC 792 "Echo or Echo Reply Message"), ICMP errors (destination
unreachable, time exceeded) matched through the request they quote, timeouts counted as
loss, and the statistics ``ping`` prints.  We keep one Scapy layer-3 socket open for the
whole run instead of calling ``sr1`` per probe, so a slow reply never delays the next probe
(as with ``ping``, the schedule is fixed by ``-i``) and Scapy does not rebuild its sockets
and filter for every packet.

Round-trip times use the kernel's receive timestamp (Scapy reads SO_TIMESTAMPNS) minus the
wall-clock time taken just before the send.
"""

from __future__ import annotations

import math
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from wirelab.craft.privilege import require_raw_socket
from wirelab.craft.scapy_env import (
    interface_mtu,
    l3_socket,
    scapy_conf,
    send_l3,
    socket_drops,
)
from wirelab.errors import EncodeError, NetworkError

# RFC 792 message types and the codes we name (RFC 1122 3.2.2.1 adds codes 6-12).
ECHO_REPLY = 0
DEST_UNREACH = 3
ECHO_REQUEST = 8
TIME_EXCEEDED = 11

UNREACH_TEXT = {
    0: "Destination Net Unreachable",
    1: "Destination Host Unreachable",
    2: "Destination Protocol Unreachable",
    3: "Destination Port Unreachable",
    4: "Frag needed and DF set",
    5: "Source Route Failed",
    6: "Destination Net Unknown",
    7: "Destination Host Unknown",
    9: "Destination Net Prohibited",
    10: "Destination Host Prohibited",
    13: "Communication administratively prohibited",
}
EXCEEDED_TEXT = {0: "Time to live exceeded", 1: "Frag reassembly time exceeded"}

MAX_PAYLOAD = 65535 - 20 - 8  # the largest IPv4 datagram, less the IP and ICMP headers


class Outcome(Enum):
    REPLY = "reply"
    UNREACHABLE = "unreachable"
    TIME_EXCEEDED = "time-exceeded"
    TIMEOUT = "timeout"


@dataclass
class Result:
    """What became of one probe."""

    seq: int
    outcome: Outcome
    src: str = ""
    size: int = 0  # bytes of the ICMP message received (ping's "64 bytes from")
    ttl: int = 0
    rtt_ms: float = 0.0
    code: int = 0
    request: Any = None  # the Scapy packets, for --show
    reply: Any = None

    @property
    def text(self) -> str:
        if self.outcome is Outcome.UNREACHABLE:
            return UNREACH_TEXT.get(self.code, f"Destination Unreachable, code {self.code}")
        if self.outcome is Outcome.TIME_EXCEEDED:
            return EXCEEDED_TEXT.get(self.code, f"Time exceeded, code {self.code}")
        return str(self.outcome.value)


@dataclass
class Statistics:
    """ping's closing block: counts, loss and min/avg/max/mdev of the round-trip times."""

    host: str
    address: str
    transmitted: int = 0
    received: int = 0
    errors: int = 0
    rtts: list[float] = field(default_factory=list)
    elapsed_ms: float = 0.0
    socket_drops: int = 0  # frames our own receive queue lost: losses that are ours

    @property
    def loss_percent(self) -> float:
        if not self.transmitted:
            return 0.0
        return 100.0 * (self.transmitted - self.received) / self.transmitted

    @property
    def rtt_summary(self) -> tuple[float, float, float, float] | None:
        """(min, avg, max, mdev) in ms; mdev as iputils computes it, sqrt(E[t^2] - E[t]^2)."""
        if not self.rtts:
            return None
        n = len(self.rtts)
        avg = sum(self.rtts) / n
        mean_sq = sum(t * t for t in self.rtts) / n
        mdev = math.sqrt(max(mean_sq - avg * avg, 0.0))
        return min(self.rtts), avg, max(self.rtts), mdev

    def to_dict(self) -> dict[str, object]:
        summary = self.rtt_summary
        return {
            "host": self.host,
            "address": self.address,
            "transmitted": self.transmitted,
            "received": self.received,
            "errors": self.errors,
            "loss_percent": round(self.loss_percent, 3),
            "time_ms": round(self.elapsed_ms, 3),
            "socket_drops": self.socket_drops,
            "rtt_ms": None if summary is None else dict(
                zip(("min", "avg", "max", "mdev"), (round(v, 3) for v in summary), strict=True)
            ),
        }


@dataclass
class PingOptions:
    count: int = 4
    interval: float = 1.0
    size: int = 56
    ttl: int = 64
    timeout: float = 2.0


def resolve(host: str) -> str:
    """The IPv4 address of ``host`` (lab names resolve inside the lab)."""
    try:
        return socket.gethostbyname(host)
    except (socket.gaierror, UnicodeError) as exc:
        raise NetworkError(f"cannot resolve {host!r}: {exc}") from None


def validate(options: PingOptions) -> None:
    if options.count < 1:
        raise EncodeError("-c COUNT must be at least 1")
    if not 0 <= options.size <= MAX_PAYLOAD:
        raise EncodeError(f"-s SIZE must be between 0 and {MAX_PAYLOAD} bytes")
    if not 1 <= options.ttl <= 255:
        raise EncodeError("-t TTL must be between 1 and 255")
    if options.interval < 0 or options.timeout <= 0:
        raise EncodeError("-i INTERVAL must be >= 0 and --timeout > 0")


def _payload(size: int) -> bytes:
    # The same rolling pattern iputils uses after its timestamp: easy to spot in a hex dump.
    return bytes((8 + i) & 0xFF for i in range(size))


class Pinger:
    """Send ``count`` echo requests to ``address`` and yield a :class:`Result` for each."""

    def __init__(self, host: str, options: PingOptions) -> None:
        validate(options)
        require_raw_socket("ping")
        self.options = options
        self.address = resolve(host)
        self._check_fits()
        self.stats = Statistics(host=host, address=self.address)
        self.ident = os.getpid() & 0xFFFF

    def _check_fits(self) -> None:
        """A probe must fit the outgoing interface's MTU.

        A raw IP socket with a header of our own is never fragmented by the kernel, and this
        ping does not fragment or reassemble by itself: say so rather than fail silently.
        """
        iface, _src, _gw = scapy_conf().route.route(self.address)
        largest = interface_mtu(str(iface)) - 28  # IPv4 header 20 + ICMP header 8
        if self.options.size > largest:
            raise EncodeError(f"-s {self.options.size} does not fit the {iface} MTU: at most "
                              f"{largest} bytes (this ping does not fragment)")

    def probe(self, seq: int) -> Any:
        from scapy.layers.inet import ICMP, IP
        from scapy.packet import Raw

        return (IP(dst=self.address, ttl=self.options.ttl)
                / ICMP(type=ECHO_REQUEST, id=self.ident, seq=seq)
                / Raw(load=_payload(self.options.size)))

    def run(self) -> Iterator[Result]:
        # The kernel filter keeps everything but ICMP out of the receiving side.
        sock = l3_socket("icmp")
        started = time.monotonic()
        try:
            yield from self._loop(sock)
        finally:
            self.stats.elapsed_ms = (time.monotonic() - started) * 1000.0
            self.stats.socket_drops = socket_drops(sock.ins)
            sock.close()

    def _loop(self, sock: Any) -> Iterator[Result]:
        opts = self.options
        pending: dict[int, tuple[Any, float]] = {}  # seq -> (request, deadline)
        start = time.monotonic()
        for seq in range(1, opts.count + 1):
            next_send = start + (seq - 1) * opts.interval
            yield from self._collect(sock, pending, until=next_send)
            request = self.probe(seq)
            send_l3(sock, request)
            self.stats.transmitted += 1
            pending[seq] = (request, time.monotonic() + opts.timeout)
        while pending:
            yield from self._collect(sock, pending, until=max(d for _, d in pending.values()),
                                     stop_when_done=True)

    def _collect(self, sock: Any, pending: dict[int, tuple[Any, float]],
                 until: float, stop_when_done: bool = False) -> Iterator[Result]:
        """Read replies until ``until`` (monotonic), yielding results and expired probes.

        What is already queued on the socket is read *before* probes are expired: on a busy
        machine this process may be scheduled late, and a reply that the kernel received in
        time must not be counted as lost because we read it late.  Whether a reply came in
        time is decided on the kernel's receive timestamp (see :meth:`_match`).
        """
        while True:
            yield from self._read(sock, pending, 0.0)
            now = time.monotonic()
            for seq in sorted(s for s, (_, deadline) in pending.items() if deadline <= now):
                request, _ = pending.pop(seq)
                yield Result(seq=seq, outcome=Outcome.TIMEOUT, request=request)
            if now >= until or (stop_when_done and not pending):
                return
            wait = min([until] + [d for _, d in pending.values()]) - now
            yield from self._read(sock, pending, max(wait, 0.0))

    def _read(self, sock: Any, pending: dict[int, tuple[Any, float]],
              wait: float) -> Iterator[Result]:
        """Wait up to ``wait`` s for the socket, then read all that is queued (bounded)."""
        for _ in range(10_000):
            ready = sock.select([sock], wait)
            if not ready:
                return
            wait = 0.0
            for sock_ready in ready:
                packet = sock_ready.recv()
                if packet is None:
                    continue
                result = self._match(packet, pending)
                if result is not None:
                    yield result

    def _match(self, packet: Any, pending: dict[int, tuple[Any, float]]) -> Result | None:
        from scapy.layers.inet import ICMP, IP

        if IP not in packet or ICMP not in packet:
            return None
        for seq, (request, _) in list(pending.items()):
            # Scapy's answers() pairs an echo reply by id/seq and an ICMP error by the
            # datagram it quotes (RFC 792: the IP header plus 64 bits of the original).
            if not packet.answers(request):
                continue
            del pending[seq]
            icmp = packet[ICMP]
            rtt = (packet.time - request.sent_time) * 1000.0
            if rtt > self.options.timeout * 1000.0:
                # Received after -W by the kernel's clock: lost, as for any late reply.
                return Result(seq=seq, outcome=Outcome.TIMEOUT, request=request)
            kind = {ECHO_REPLY: Outcome.REPLY, DEST_UNREACH: Outcome.UNREACHABLE,
                    TIME_EXCEEDED: Outcome.TIME_EXCEEDED}.get(icmp.type)
            if kind is None:
                return None
            if kind is Outcome.REPLY:
                self.stats.received += 1
                self.stats.rtts.append(rtt)
            else:
                self.stats.errors += 1
            return Result(seq=seq, outcome=kind, src=packet[IP].src, size=len(icmp),
                          ttl=packet[IP].ttl, rtt_ms=rtt, code=icmp.code,
                          request=request, reply=packet)
        return None


def format_rtt(ms: float) -> str:
    """Like iputils: three significant decimals for small times, fewer for large ones."""
    if ms < 1:
        return f"{ms:.3f}"
    if ms < 10:
        return f"{ms:.2f}"
    if ms < 100:
        return f"{ms:.1f}"
    return f"{ms:.0f}"


def result_line(result: Result) -> str:
    """One line per probe, as ping prints it."""
    if result.outcome is Outcome.REPLY:
        return (f"{result.size} bytes from {result.src}: icmp_seq={result.seq} "
                f"ttl={result.ttl} time={format_rtt(result.rtt_ms)} ms")
    if result.outcome is Outcome.TIMEOUT:
        return f"no answer for icmp_seq={result.seq} (timeout)"
    return f"From {result.src} icmp_seq={result.seq} {result.text}"


def summary_lines(stats: Statistics) -> list[str]:
    errors = f", +{stats.errors} errors" if stats.errors else ""
    lines = [
        f"--- {stats.host} ping statistics ---",
        f"{stats.transmitted} packets transmitted, {stats.received} received{errors}, "
        f"{stats.loss_percent:g}% packet loss, time {stats.elapsed_ms:.0f}ms",
    ]
    summary = stats.rtt_summary
    if summary is not None:
        lines.append("rtt min/avg/max/mdev = " + "/".join(f"{v:.3f}" for v in summary) + " ms")
    if stats.socket_drops:
        lines.append(f"warning: {stats.socket_drops} frames were dropped by this host's receive "
                     f"queue (the process was too slow); some losses above are ours")
    return lines


def run_ping(host: str, options: PingOptions,
             emit: Callable[[Result], None]) -> Statistics:
    """Run a whole ping, calling ``emit`` for every probe's fate; return the statistics."""
    pinger = Pinger(host, options)
    for result in pinger.run():
        emit(result)
    return pinger.stats
