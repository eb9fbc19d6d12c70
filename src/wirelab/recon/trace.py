"""``wirelab trace``: traceroute over raw sockets (UDP, ICMP echo or TCP SYN probes).

The pieces: :mod:`trace_probe` builds each probe with the wire codecs and says which answer
belongs to which probe; :mod:`trace_schedule` is Linux traceroute's loop (16 probes in flight,
adaptive waits, stop at the destination); this module opens the sockets and runs the loop;
:mod:`trace_render` prints Linux traceroute's lines, the JSON and the mtr-style report.

Sockets: probes go out on an ``IPPROTO_RAW`` socket (we write the IPv4 header, TTL included;
raw(7)), answers come in on an AF_PACKET socket with a BPF filter compiled by libpcap (only
inbound ICMP, plus TCP from the target for ``tcp``), as :mod:`wirelab.recon.syn` does.  Each
answer is time-stamped by the kernel when it arrived (``SO_TIMESTAMPNS``, as traceroute uses
``SO_TIMESTAMP``), so Python's wake-up latency is not counted in the round-trip time.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import select
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from wirelab.craft import bpf
from wirelab.errors import ExitCode, NetworkError, WirelabError
from wirelab.recon.scope import check_scope, resolve
from wirelab.recon.trace_probe import (
    FINAL,
    METHODS,
    PACKET_LEN,
    Probe,
    ProbeFactory,
    interpret,
)
from wirelab.recon.trace_schedule import Scheduler, Slot, Wait
from wirelab.sockets.raw import open_raw, source_for
from wirelab.wire.ipv4 import IPv4

ETH_HLEN = 14
SO_TIMESTAMPNS = 35  # asm-generic/socket.h (SO_TIMESTAMPNS_OLD); also SCM_TIMESTAMPNS
_TIMESPEC = struct.Struct("@qq")


class TraceUsageError(WirelabError):
    exit_code = ExitCode.USAGE


@dataclass(frozen=True, slots=True)
class Options:
    """Everything a trace needs besides the target."""

    method: str = "udp"
    paris: bool = False
    q: int = 3
    max_hops: int = 30
    first_hop: int = 1
    port: int | None = None
    wait: Wait = field(default_factory=Wait)
    sim: int = 16
    sport: int | None = None  # traceroute --sport: the UDP / TCP source port, fixed

    def check(self) -> None:
        if self.method not in METHODS:
            raise TraceUsageError(f"unknown method {self.method!r}: one of {', '.join(METHODS)}")
        if not 1 <= self.q <= 10:
            raise TraceUsageError(f"-q {self.q}: 1..10 probes per hop")
        if not 1 <= self.max_hops <= 255:
            raise TraceUsageError(f"-m {self.max_hops}: 1..255 hops")
        if not 1 <= self.first_hop <= self.max_hops:
            raise TraceUsageError(f"-f {self.first_hop}: 1..max hops ({self.max_hops})")
        if self.port is not None and not 0 <= self.port <= 65535:
            raise TraceUsageError(f"-p {self.port}: a port is 0..65535")
        if self.sport is not None and not 1 <= self.sport <= 65535:
            raise TraceUsageError(f"--sport {self.sport}: a port is 1..65535")
        if not 1 <= self.sim <= 256:
            raise TraceUsageError(f"-N {self.sim}: 1..256 probes at once")


@dataclass(frozen=True, slots=True)
class ProbeResult:
    ttl: int
    source: str | None  # None: no answer ("*")
    rtt: float | None  # seconds
    mark: str = ""
    final: bool = False


@dataclass
class TraceResult:
    target: str
    address: str
    options: Options
    hops: list[list[ProbeResult]]  # hop i (TTL first_hop + i): its probes in order
    reached: bool
    elapsed: float

    @property
    def packet_len(self) -> int:
        return PACKET_LEN


def open_receiver(method: str, target: str) -> socket.socket:
    expression = "inbound and icmp"
    if method == "tcp":
        expression = f"inbound and (icmp or (tcp and src host {target}))"
    sock = bpf.open_ip_receiver(
        expression, refusal="trace sends raw probes and needs CAP_NET_RAW: run as root, or "
        "in a lab host (wirelab lab exec client -- wirelab trace ...)")
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    return sock


class Prober:
    """The sockets and the probe bookkeeping of one trace (or one ``--report`` session)."""

    def __init__(self, factory: ProbeFactory, tx: socket.socket, rx: socket.socket) -> None:
        self.factory = factory
        self.tx = tx
        self.rx = rx
        self.by_quote: dict[bytes, int] = {}
        self.by_direct: dict[tuple[int, ...], int] = {}

    def send(self, index: int, ttl: int) -> float:
        probe: Probe = self.factory.build(index, ttl)
        self.by_quote[probe.quote] = index
        if probe.direct is not None:
            self.by_direct[probe.direct] = index
        stamp = time.time()  # before sending: on a veth the answer can beat sendto()'s return
        while True:
            try:
                self.tx.sendto(probe.packet, (self.factory.dst, 0))
                return stamp
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:
                    time.sleep(0.001)
                    continue
                if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
                    # No route: the kernel refused it before it left; it will time out.
                    return stamp
                raise NetworkError(f"sending a probe to {self.factory.dst} failed: "
                                   f"{exc.strerror}") from None

    def receive(self, until: float,
                take: Callable[[int, float, str, str, bool], None]) -> None:
        """Wait until ``until`` (time.time()) or the first readable batch; pass answers on."""
        left = max(0.0, until - time.time())
        readable, _, _ = select.select([self.rx], [], [], left)
        if not readable:
            return
        while True:
            try:
                frame, ancillary, _, _ = self.rx.recvmsg(65535, 64)
            except BlockingIOError:
                return
            stamp = _kernel_time(ancillary)
            self._take(frame, stamp, take)

    def _take(self, frame: bytes, stamp: float,
              take: Callable[[int, float, str, str, bool], None]) -> None:
        try:
            answer = interpret(IPv4.decode(frame, ETH_HLEN), self.factory)
        except WirelabError:
            return  # malformed: not an answer
        if answer is None:
            return
        if answer.quote is not None:
            index = self.by_quote.get(answer.quote)
        else:
            index = self.by_direct.get(answer.direct) if answer.direct else None
        if index is None:
            return  # a stray: an error about somebody else's packet
        take(index, stamp, answer.source, answer.mark, answer.kind == FINAL)


def _kernel_time(ancillary: list[tuple[int, int, bytes]]) -> float:
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS \
                and len(data) >= _TIMESPEC.size:
            sec, nsec = _TIMESPEC.unpack_from(data)
            return float(sec + nsec / 1e9)
    return time.time()


def _result(slot: Slot, ttl: int) -> ProbeResult:
    if slot.source is None:
        return ProbeResult(ttl, None, None)
    return ProbeResult(ttl, slot.source, slot.rtt, slot.mark, slot.final)


def run_schedule(prober: Prober, sched: Scheduler, offset: int = 0,
                 on_probe: Callable[[int, ProbeResult], None] | None = None) -> None:
    """Drive ``sched`` to the end; probe ``n`` of it is probe ``offset + n`` on the wire."""
    def take(index: int, stamp: float, source: str, mark: str, final: bool) -> None:
        sched.answer(index - offset, stamp, source, mark, final)

    while True:
        now = time.time()
        # Read everything that arrived up to now before deciding what has timed out: on a
        # busy machine an answer can sit in the socket past its probe's (short, "here")
        # deadline although the kernel stamped it in time.
        prober.receive(now, take)
        to_send, report = sched.step(now)
        if on_probe is not None:
            for index in report:
                on_probe(index, _result(sched.slots[index], sched.ttl(index)))
        for index in to_send:
            sched.sent(index, prober.send(offset + index, sched.ttl(index)))
        if sched.finished:
            return
        deadline = sched.deadline()
        if deadline is None:
            return
        prober.receive(deadline, take)


def _resolve(target: str) -> str:
    try:
        if ipaddress.ip_address(target).version == 6:
            raise TraceUsageError(f"{target}: IPv6 is not traced yet (IPv4 only)")
    except ValueError:
        pass  # a name
    return resolve(target)


def open_prober(target: str, opts: Options, address: str | None = None) -> Prober:
    """Resolve, check the scope, open the sockets (the caller closes them via close())."""
    opts.check()
    address = address or _resolve(target)
    check_scope(address, verb="trace")
    src = source_for(address, opts.port or 33434)
    seed = int.from_bytes(os.urandom(6), "big")
    ident = 32768 + (seed & 0xFFFF) % 28000 if opts.sport is None else opts.sport
    factory = ProbeFactory(opts.method, src, address, paris=opts.paris, port=opts.port,
                           ident=ident, seq_base=seed >> 16,
                           fixed_sport=opts.sport is not None)
    rx = open_receiver(opts.method, address)
    try:
        tx = open_raw(socket.AF_INET, hdrincl=True)
    except BaseException:
        rx.close()
        raise
    return Prober(factory, tx, rx)


def close(prober: Prober) -> None:
    prober.tx.close()
    prober.rx.close()


def trace(target: str, opts: Options,
          on_probe: Callable[[int, ProbeResult], None] | None = None,
          on_start: Callable[[str], None] | None = None) -> TraceResult:
    """Trace the path to ``target``; ``on_start`` gets the address once the sockets are
    open (traceroute prints its header then), ``on_probe`` each probe's result in order."""
    started = time.monotonic()
    opts.check()
    address = _resolve(target)
    prober = open_prober(target, opts, address)
    if on_start is not None:
        on_start(address)
    sched = Scheduler(opts.max_hops, opts.q, opts.sim, opts.wait, opts.first_hop)
    try:
        run_schedule(prober, sched, on_probe=on_probe)
    finally:
        close(prober)
    first = (opts.first_hop - 1) * opts.q
    hops = []
    for start in range(first, sched.end, opts.q):
        hops.append([_result(sched.slots[i], sched.ttl(i)) for i in range(start, start + opts.q)])
    reached = any(p.final and p.source == address for hop in hops[-1:] for p in hop)
    return TraceResult(target, address, opts, hops, reached, time.monotonic() - started)
