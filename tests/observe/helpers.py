"""Helpers for the observe tests: real loopback captures, tshark as the oracle, and TCP
conversations built by hand with wirelab.wire's codecs and written with PcapWriter."""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest

from wirelab.observe import Observed, TcpInfo, load, number_streams
from wirelab.wire.ethernet import Ethernet, EtherType
from wirelab.wire.ipv4 import IPProto, IPv4
from wirelab.wire.pcap import PcapWriter
from wirelab.wire.tcp import TCP, TCPFlags, TCPOption
from wirelab.wire.udp import UDP

from ..helpers import read_until

MOD = 1 << 32
ACK = TCPFlags.ACK
PSH_ACK = TCPFlags.PSH | TCPFlags.ACK
FIN_ACK = TCPFlags.FIN | TCPFlags.ACK

needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")


# --- tshark ------------------------------------------------------------------------------


def tshark_fields(path: str | os.PathLike[str], fields: list[str],
                  display_filter: str | None = None) -> list[dict[str, str]]:
    """One dict per frame: field -> value ("" when absent), from ``tshark -T fields``."""
    argv = ["tshark", "-r", os.fspath(path), "-T", "fields", "-E", "separator=\t",
            "-E", "occurrence=f", "-e", "frame.number"]
    for name in fields:
        argv += ["-e", name]
    if display_filter:
        argv += ["-Y", display_filter]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60).stdout
    rows = []
    for line in out.splitlines():
        values = line.split("\t")
        rows.append(dict(zip(["frame.number", *fields], values, strict=True)))
    return rows


ANALYSIS_FIELDS = [
    "tcp.analysis.retransmission", "tcp.analysis.fast_retransmission",
    "tcp.analysis.spurious_retransmission", "tcp.analysis.out_of_order",
    "tcp.analysis.lost_segment", "tcp.analysis.ack_lost_segment", "tcp.analysis.keep_alive",
    "tcp.analysis.keep_alive_ack", "tcp.analysis.window_update",
    "tcp.analysis.duplicate_ack", "tcp.analysis.zero_window",
    "tcp.analysis.zero_window_probe", "tcp.analysis.zero_window_probe_ack",
    "tcp.analysis.reused_ports",
]


def tshark_marks(path: str | os.PathLike[str]) -> dict[int, set[str]]:
    """Frame number -> the tcp.analysis.* fields tshark sets on it (TCP frames only)."""
    rows = tshark_fields(path, ANALYSIS_FIELDS, "tcp")
    return {int(r["frame.number"]): {f for f in ANALYSIS_FIELDS if r[f] != ""} for r in rows}


# --- loopback capture --------------------------------------------------------------------


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LoopbackCapture:
    """A finished loopback capture: did it get everything?"""

    path: pathlib.Path
    dropped: int = 0
    """Packets tcpdump reported "dropped by kernel" (its buffer overflowed)."""
    complete: bool = True
    """Whether ``until`` held before tcpdump was stopped."""

    @property
    def ok(self) -> bool:
        return self.complete and self.dropped == 0


DROPPED = re.compile(rb"(\d+) packets? dropped by kernel")


@contextmanager
def loopback_capture(path: pathlib.Path, bpf: str,
                     until: Callable[[list[Observed]], bool] | None = None
                     ) -> Iterator[LoopbackCapture]:
    """tcpdump on ``lo`` (see :func:`capture`); skips the test where it cannot run."""
    if os.geteuid() != 0:
        pytest.skip("capturing on lo needs root (CAP_NET_RAW)")
    with capture(path, bpf, until=until) as result:
        yield result


@contextmanager
def capture(path: pathlib.Path, bpf: str, *, iface: str = "lo",
            popen: Callable[..., subprocess.Popen[bytes]] = subprocess.Popen,
            until: Callable[[list[Observed]], bool] | None = None
            ) -> Iterator[LoopbackCapture]:
    """tcpdump on ``iface`` writing ``path`` while the block runs; stopped by PID (SIGINT).

    ``popen`` runs it elsewhere (a lab host's ``Host.popen``).  ``--immediate-mode``
    matters: without it libpcap hands packets over in blocks that are only released after a
    timeout, and packets still in the current block when SIGINT arrives are never written.
    ``-B`` gives it a 64 MiB buffer.  The pcap goes to tcpdump's stdout, a file we opened,
    so it belongs to us whatever user tcpdump runs as.  On a busy machine tcpdump may still
    lag behind or drop packets: after the block we wait until ``until(packets in the
    file)`` holds (the traffic's last packet is in), and the result says whether the
    capture is whole (``ok``), so that a test can run its exchange again rather than judge
    a partial file.
    """
    if shutil.which("tcpdump") is None:
        pytest.skip("tcpdump not installed")
    argv = ["tcpdump", "-i", iface, "-n", "-U", "--immediate-mode", "-B", "65536",
            "-w", "-", bpf]
    with open(path, "wb") as out:
        proc = popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.PIPE)
    result = LoopbackCapture(path)
    try:
        read_until(proc, b"listening on", timeout=10)
        yield result
        if until is not None:
            result.complete = wait_until(path, until)
        _wait_stable(path)
    finally:
        stderr = b""
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                stderr = proc.communicate(timeout=10)[1]
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
        found = DROPPED.search(stderr)
        result.dropped = int(found.group(1)) if found else 0


def wait_until(path: pathlib.Path, until: Callable[[list[Observed]], bool],
               limit: float = 10.0) -> bool:
    """Poll the capture file until ``until(its packets)`` holds; False after ``limit`` s."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if path.exists() and until(load(path)):
            return True
        time.sleep(0.1)
    return False


def tcp_closed(streams: int) -> Callable[[list[Observed]], bool]:
    """``until`` for ``streams`` TCP connections: each has a FIN from both sides and an ACK
    after them (the last packet of a graceful close, RFC 9293 3.6)."""

    def check(packets: list[Observed]) -> bool:
        numbers = number_streams(packets)
        for s in range(streams):
            fins: set[tuple[str, int | None]] = set()
            done = False
            for p in numbers.tcp_packets(packets, s):
                assert p.tcp is not None
                if p.tcp.flags & TCPFlags.FIN:
                    fins.add((p.src, p.sport))
                elif len(fins) == 2:
                    done = True
            if not done:
                return False
        return True

    return check


def _wait_stable(path: pathlib.Path, quiet: float = 0.25, limit: float = 5.0) -> None:
    """Return once the file has not grown for ``quiet`` seconds (the last packets are in)."""
    deadline = time.monotonic() + limit
    size, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now = path.stat().st_size if path.exists() else 0
        if now != size:
            size, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        time.sleep(0.05)


# --- conversations built by hand ---------------------------------------------------------

CLIENT_MAC, SERVER_MAC = "02:00:00:00:00:01", "02:00:00:00:00:02"


def tcp_frame(src: str, dst: str, sport: int, dport: int, seq: int, ack: int, flags: int,
              payload: bytes = b"", window: int = 65535,
              options: list[TCPOption] | None = None) -> bytes:
    seg = TCP(sport=sport, dport=dport, seq=seq % MOD, ack=ack % MOD, flags=flags,
              window=window, options=options or [], payload=payload).encode(src=src, dst=dst)
    ip = IPv4(proto=IPProto.TCP, src=src, dst=dst, payload=seg).encode()
    return Ethernet(dst=SERVER_MAC, src=CLIENT_MAC, type=EtherType.IPV4, payload=ip).encode()


def udp_frame(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    dgram = UDP(sport=sport, dport=dport, payload=payload).encode(src=src, dst=dst)
    ip = IPv4(proto=IPProto.UDP, src=src, dst=dst, payload=dgram).encode()
    return Ethernet(dst=SERVER_MAC, src=CLIENT_MAC, type=EtherType.IPV4, payload=ip).encode()


@dataclass
class Talk:
    """A TCP conversation written segment by segment, in any order, with exact numbers.

    ``rel`` numbers are Wireshark's relative ones: 0 is the SYN, 1 the first data byte.
    Timestamps advance by ``step_ns`` per packet unless ``dt_ns`` says otherwise.
    """

    client: tuple[str, int] = ("192.0.2.1", 40000)
    server: tuple[str, int] = ("192.0.2.2", 80)
    cisn: int = 1_000_000
    sisn: int = 7_000_000
    start_ns: int = 1_700_000_000 * 10**9
    step_ns: int = 1_000_000
    frames: list[tuple[int, bytes]] = field(default_factory=list)
    observed: list[Observed] = field(default_factory=list)
    now_ns: int = 0

    def pkt(self, side: str, rel: int, flags: int, data: bytes = b"", ack: int | None = None,
            window: int = 65535, dt_ns: int | None = None,
            options: list[TCPOption] | None = None) -> None:
        src, dst = (self.client, self.server) if side == "c" else (self.server, self.client)
        isn, peer_isn = (self.cisn, self.sisn) if side == "c" else (self.sisn, self.cisn)
        seq = (isn + rel) % MOD
        abs_ack = (peer_isn + ack) % MOD if ack is not None else 0
        self.now_ns += self.step_ns if dt_ns is None else dt_ns
        ts = self.start_ns + self.now_ns
        self.frames.append((ts, tcp_frame(src[0], dst[0], src[1], dst[1], seq, abs_ack, flags,
                                          data, window, options)))
        self.observed.append(Observed(
            len(self.observed) + 1, ts, 0, src[0], dst[0], IPProto.TCP, src[1],
            dst[1], TcpInfo(seq, abs_ack, int(flags), window, len(data), data)))

    def handshake(self) -> None:
        self.pkt("c", 0, TCPFlags.SYN)
        self.pkt("s", 0, TCPFlags.SYN | TCPFlags.ACK, ack=1)
        self.pkt("c", 1, ACK, ack=1)

    def write(self, path: str | os.PathLike[str]) -> str:
        with PcapWriter(path, nanosecond=True) as out:
            for ts, frame in self.frames:
                out.write(frame, divmod(ts, 10**9))
        return os.fspath(path)
