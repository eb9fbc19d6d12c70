"""The half-open SYN scan (nmap ``-sS``).

Each probe is a SYN whose IPv4 and TCP headers come from the wire codecs, sent on an
``IPPROTO_RAW`` socket (send-only, so it does not queue copies of every segment the host
receives).  Answers are read on a separate AF_PACKET socket with a BPF filter compiled by
libpcap (:mod:`wirelab.craft.bpf`), so the kernel hands us only inbound TCP from the target to
our source port and ICMP destination unreachables.

Matching: the initial sequence number of the probe to port P is a keyed cookie,
HMAC-SHA256(key, target, P, source port) cut to 32 bits, with a key drawn for this scan.  A
SYN/ACK or RST answering our SYN acknowledges cookie + 1 (RFC 9293 section 3.10.7.3); an ICMP
error quotes our TCP header's first 8 bytes, sequence number included (RFC 792).  A packet
that does not carry the right cookie for its port is ignored, so stray traffic is never
counted as an answer.  The kernel answers a SYN/ACK to our raw probe with a RST, which closes
the half-open connection on the target for us, as it does for nmap.

Timing: every port is probed, then we wait one retransmission time-out (:mod:`timing`) after
the last probe; ports still silent get one retransmission and a second wait; then they are
"filtered" (no-response).  RTT samples are taken only from probes sent once (Karn's rule).
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import os
import select
import socket
import struct
import time

from wirelab.craft import bpf
from wirelab.errors import PrivilegeError
from wirelab.recon import states
from wirelab.recon.result import PortResult, Progress, ScanResult
from wirelab.recon.timing import TEMPLATES, RTOEstimator, Template, allowed_tries
from wirelab.sockets.raw import open_raw, source_for
from wirelab.wire.icmp import ICMP, ICMPType
from wirelab.wire.ipv4 import IPProto, IPv4
from wirelab.wire.tcp import TCP, TCPFlags

ETH_P_IP = 0x0800
ETH_HLEN = 14
RETRANSMISSIONS = 1
_QUOTED_TCP = struct.Struct("!HHI")  # sport, dport, seq: the first 8 quoted bytes hold them


class Cookies:
    """The keyed initial sequence number of each probe."""

    def __init__(self, target: str, sport: int, key: bytes | None = None) -> None:
        self.key = key if key is not None else os.urandom(16)
        self.target = target
        self.sport = sport
        self._cache: dict[int, int] = {}  # each is needed twice: to send and to match

    def seq(self, dport: int) -> int:
        value = self._cache.get(dport)
        if value is None:
            msg = f"{self.target}|{dport}|{self.sport}".encode()
            value = int.from_bytes(hmac.digest(self.key, msg, hashlib.sha256)[:4], "big")
            self._cache[dport] = value
        return value


def build_probe(src: str, dst: str, sport: int, dport: int, seq: int) -> bytes:
    """IPv4 header + SYN, checksums computed (the kernel fills in the IP id if zero)."""
    segment = TCP(sport, dport, seq=seq, flags=TCPFlags.SYN, window=1024).encode(src, dst)
    return IPv4(ttl=64, proto=IPProto.TCP, src=src, dst=dst, payload=segment).encode()


def open_receiver(target: str, sport: int) -> socket.socket:
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
    except PermissionError:
        raise PrivilegeError("a SYN scan needs CAP_NET_RAW: run as root, in a lab host "
                             "(wirelab lab exec client -- wirelab scan ...), or use "
                             "--type connect") from None
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    expression = (f"inbound and ((tcp and src host {target} and dst port {sport}) "
                  f"or (icmp and icmp[0] = 3))")
    bpf.attach(sock, bpf.compile_filter(expression))
    sock.setblocking(False)
    return sock


def interpret(frame: bytes, cookies: Cookies) -> tuple[int, states.Verdict] | None:
    """(port, verdict) if ``frame`` answers one of our probes, else None."""
    try:
        ip = IPv4.decode(frame, ETH_HLEN)
        if ip.proto == IPProto.TCP and ip.src == cookies.target:
            tcp = TCP.decode(ip.payload)
            if tcp.dport != cookies.sport or tcp.ack != (cookies.seq(tcp.sport) + 1) % 2**32:
                return None
            verdict = states.from_tcp_flags(tcp.flags)
            return None if verdict is None else (tcp.sport, verdict)
        if ip.proto == IPProto.ICMP:
            icmp = ICMP.decode(ip.payload)
            quoted = icmp.quoted if icmp.type == ICMPType.DEST_UNREACHABLE else None
            if quoted is None or quoted.proto != IPProto.TCP or quoted.dst != cookies.target:
                return None
            head = quoted.payload
            if len(head) < _QUOTED_TCP.size:
                return None
            qsport, qdport, qseq = _QUOTED_TCP.unpack_from(head)
            if qsport != cookies.sport or qseq != cookies.seq(qdport):
                return None
            icmp_verdict = states.from_icmp_unreachable(icmp.code)
            return None if icmp_verdict is None else (qdport, icmp_verdict)
    except Exception:  # noqa: BLE001 - a frame we cannot decode is not an answer
        return None
    return None


class _Run:
    """The state of one scan: what was sent when, and what has answered."""

    def __init__(self, cookies: Cookies, rto: RTOEstimator) -> None:
        self.cookies = cookies
        self.rto = rto
        self.sent_at: dict[int, float] = {}
        self.tries: dict[int, int] = {}
        self.done: dict[int, PortResult] = {}
        self.probes = 0

    def drain(self, rx: socket.socket) -> None:
        while True:
            try:
                frame = rx.recv(65535)
            except BlockingIOError:
                return
            self.take(frame, time.monotonic())

    def take(self, frame: bytes, now: float) -> None:
        answer = interpret(frame, self.cookies)
        if answer is None:
            return
        port, (state, reason) = answer
        if port not in self.sent_at or port in self.done:
            return
        rtt = now - self.sent_at[port]
        if self.tries[port] == 1:  # Karn: a retransmitted probe's RTT is ambiguous
            self.rto.sample(rtt)
        self.done[port] = PortResult(port, state, reason, rtt)


def _send(tx: socket.socket, packet: bytes, address: str) -> None:
    while True:
        try:
            tx.sendto(packet, (address, 0))
            return
        except OSError as exc:
            if exc.errno != errno.ENOBUFS:
                raise
            time.sleep(0.001)  # the device queue is full: let it drain


def _round(run: _Run, tx: socket.socket, rx: socket.socket, src: str, address: str,
           ports: list[int]) -> None:
    cookies = run.cookies
    # Every port answered from now on is one of ``ports`` (the rest answered before), so a
    # count tells when all have answered without walking the list on every wake-up.
    answered_before = len(run.done)
    for port in ports:
        probe = build_probe(src, address, cookies.sport, port, cookies.seq(port))
        # Stamped before sending: in the lab the answer can be queued before send() returns.
        run.sent_at[port] = time.monotonic()
        _send(tx, probe, address)
        run.tries[port] = run.tries.get(port, 0) + 1
        run.probes += 1
        if run.probes % 64 == 0:  # answers are read in batches: RTTs are upper bounds
            run.drain(rx)
    last = time.monotonic()
    while len(run.done) - answered_before < len(ports):
        left = last + run.rto.rto - time.monotonic()
        if left <= 0:
            return
        readable, _, _ = select.select([rx], [], [], left)
        if readable:
            run.drain(rx)


def syn_scan(target: str, address: str, ports: list[int], *, tpl: Template = TEMPLATES[4],
             max_retries: int = 6, progress: Progress | None = None) -> ScanResult:
    """SYN-scan ``ports`` of ``address`` (already checked against the scope)."""
    started = time.monotonic()
    retransmissions = allowed_tries(max_retries, 0) - 1
    src = source_for(address, ports[0])
    sport = 32768 + int.from_bytes(os.urandom(2), "big") % 28000
    run = _Run(Cookies(address, sport), RTOEstimator.for_template(tpl))
    with open_receiver(address, sport) as rx, open_raw(socket.AF_INET, hdrincl=True) as tx:
        todo = list(ports)
        for _ in range(1 + retransmissions):
            _round(run, tx, rx, src, address, todo)
            todo = [p for p in ports if p not in run.done]
            if progress is not None:
                progress(len(run.done), len(ports))
            if not todo:
                break
    results = [run.done.get(p) or PortResult(p, *states.NO_ANSWER) for p in ports]
    return ScanResult(target, address, "syn", results, time.monotonic() - started, run.probes)
