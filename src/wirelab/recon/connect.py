"""The connect() scan (nmap ``-sT``): the kernel's TCP stack does the handshake.

No privilege is needed.  Each probe is a non-blocking ``connect()``; the sockets are watched
with one epoll set.  connect() succeeding means open, refused (the peer's RST) closed, and
anything else filtered (:func:`wirelab.recon.states.from_connect_errno`).

Timing follows the template like the raw scans: a connect() still pending after one RTO
(:class:`wirelab.recon.timing.RTOEstimator`, fed by the time each connect() took to settle)
is abandoned and tried again while :func:`wirelab.recon.timing.allowed_tries` allows it
(nmap's rule: one retransmission unless answers to retransmissions show loss), then the port
is filtered (no-response), never closed.  The lab's RTT is tens of microseconds, so the RTO
sits at the template's minimum (100 ms at -T4), well under Linux's own 1 s SYN
retransmission: each connect() sends one SYN.

How many connects are in flight is capped by the open-file limit (the soft RLIMIT_NOFILE,
raised to the hard limit for the scan, less a margin for the process's other descriptors) and
by the template's parallelism.  Expiry is first-in first-out (every probe has the same RTO),
so checking it costs nothing per pending socket.  An open port's socket is closed with
SO_LINGER {1, 0}, a RST instead of a FIN, so the target does not keep the connection, as nmap
does; refused and abandoned sockets need nothing.

Sockets are reused: a refused socket is back in CLOSE state, and calling connect() on it again
both collects the outcome and makes it reusable (see :meth:`_Connects.poll`), so the bulk of a
large scan costs three system calls a port (connect, epoll_ctl, connect) instead of six
(socket, connect, epoll_ctl add and del, getsockopt, close).  A socket that connected (open) or
is still in SYN-SENT (abandoned) is closed instead.
"""

from __future__ import annotations

import errno
import resource
import select
import socket
import struct
import time
from collections import deque
from collections.abc import Callable

from wirelab.recon import states
from wirelab.recon.result import PortResult, Progress, ScanResult
from wirelab.recon.timing import PROGRESS_EVERY, TEMPLATES, RTOEstimator, Template, allowed_tries

FD_MARGIN = 32
BATCH = 256  # connects started between two polls in the bulk of a scan
EXACT_FIRST = 8  # the first connects are settled at once: their RTTs are the latency shown
MAX_PARALLEL = 4096
LINGER_RST = struct.pack("ii", 1, 0)  # struct linger {l_onoff=1, l_linger=0}: RST on close
_PENDING = (errno.EINPROGRESS, errno.EALREADY)
_ONESHOT = select.EPOLLOUT | select.EPOLLONESHOT
_VERDICTS = {err: states.from_connect_errno(err) for err in
             (0, errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH)}
_REFUSED = _VERDICTS[errno.ECONNREFUSED]


def parallelism() -> int:
    """The connects allowed in flight: the open-file limit (soft raised to hard) less a margin."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, MAX_PARALLEL + FD_MARGIN) if hard != resource.RLIM_INFINITY else (
        MAX_PARALLEL + FD_MARGIN)
    if soft != resource.RLIM_INFINITY and soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            soft = want
        except (ValueError, OSError):
            pass
    return max(1, min(MAX_PARALLEL, soft - FD_MARGIN))


class _Connects:
    """The state of one connect scan."""

    def __init__(self, address: str, ports: list[int], tpl: Template, max_retries: int,
                 progress: Progress | None) -> None:
        self.address = address
        self.ports = ports
        self.tpl = tpl
        self.max_retries = max_retries
        self.progress = progress
        self.rto = RTOEstimator.for_template(tpl)
        self.limit = min(parallelism(), tpl.max_parallelism or MAX_PARALLEL)
        self.done: dict[int, PortResult] = {}
        self.pending: dict[int, tuple[socket.socket, int, int, float]] = {}  # fd -> ...
        self.expiry: deque[tuple[float, int, socket.socket]] = deque()
        self.retry: deque[tuple[int, int]] = deque()
        self.idle: list[socket.socket] = []  # sockets back in CLOSE state, registered
        self.best_try = 0
        self.probes = 0

    def start(self, epoll: select.epoll, port: int, tryno: int) -> None:
        sock = self.idle.pop() if self.idle else None
        fresh = sock is None
        if sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
        began = time.monotonic()
        err = sock.connect_ex((self.address, port))
        self.probes += 1
        if err in _PENDING:
            fd = sock.fileno()
            self.pending[fd] = (sock, port, tryno, began)
            self.expiry.append((began, fd, sock))
            # Armed after connect(): the event then reflects this connect's outcome.
            if fresh:
                epoll.register(fd, _ONESHOT)
            else:
                epoll.modify(fd, _ONESHOT)
            return
        # Finished at once (loopback often does).  The socket is not reused: its state
        # after an immediate answer is not worth reasoning about.
        if not fresh:
            epoll.unregister(sock.fileno())
        self.settle(sock, port, tryno, began, err, reuse=False)

    def settle(self, sock: socket.socket, port: int, tryno: int, began: float, err: int,
               *, reuse: bool, epoll: select.epoll | None = None) -> None:
        rtt = time.monotonic() - began
        if err == 0:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RST)
        if reuse and err != 0:
            self.idle.append(sock)  # refused or unreachable: back to CLOSE, reusable
        else:
            if epoll is not None:
                epoll.unregister(sock.fileno())
            sock.close()
        verdict = _VERDICTS.get(err, states.NO_ANSWER)
        if verdict is states.NO_ANSWER:  # an error that says nothing: treat as silence
            self.silent(port, tryno)
            return
        self.rto.sample(rtt)
        if tryno > self.best_try:
            self.best_try = tryno  # answered only when retried: evidence of loss
        self.done[port] = PortResult(port, verdict[0], verdict[1], rtt, tryno + 1)

    def start_fresh(self, epoll: select.epoll, batch: list[int]) -> None:
        """:meth:`start` for a batch of first tries on idle sockets, everything in locals:
        the bulk of a large scan, where nearly every port refuses at once."""
        idle, pending, expiry = self.idle, self.pending, self.expiry.append
        modify, monotonic, address = epoll.modify, time.monotonic, self.address
        for i, port in enumerate(batch):
            if not idle:
                for rest in batch[i:]:
                    self.start(epoll, rest, 0)
                return
            sock = idle.pop()
            began = monotonic()
            err = sock.connect_ex((address, port))
            self.probes += 1
            if err in _PENDING:
                fd = sock.fileno()
                pending[fd] = (sock, port, 0, began)
                expiry((began, fd, sock))
                modify(fd, _ONESHOT)
            else:
                epoll.unregister(sock.fileno())
                self.settle(sock, port, 0, began, err, reuse=False)

    def silent(self, port: int, tryno: int) -> None:
        if tryno + 1 < allowed_tries(self.max_retries, self.best_try):
            self.retry.append((port, tryno + 1))
        else:
            self.done[port] = PortResult(port, *states.NO_ANSWER, None, tryno + 1)

    def expire(self, epoll: select.epoll, now: float) -> None:
        rto = self.rto.rto
        expiry, pending = self.expiry, self.pending
        while expiry and expiry[0][0] + rto <= now:
            _, fd, sock = expiry.popleft()
            entry = pending.get(fd)
            if entry is None or entry[0] is not sock:
                continue  # settled already (and the descriptor perhaps reused)
            del pending[fd]
            epoll.unregister(fd)
            sock.close()  # still in SYN-SENT: not reusable
            self.silent(entry[1], entry[2])

    def run(self) -> None:
        total = len(self.ports)
        fresh = 0
        delay = self.tpl.scan_delay
        next_start = 0.0
        last_progress = time.monotonic()
        pending = self.pending
        with select.epoll() as epoll:
            while len(self.done) < total:
                now = time.monotonic()
                room = min(BATCH, self.limit - len(pending), total - fresh, len(self.idle))
                if not delay and not self.retry and room > 0 and self.probes >= EXACT_FIRST:
                    self.start_fresh(epoll, self.ports[fresh:fresh + room])
                    fresh += room
                else:
                    started = 0
                    while started < BATCH and len(pending) < self.limit and now >= next_start:
                        if self.retry:
                            port, tryno = self.retry.popleft()
                        elif fresh < total:
                            port, tryno = self.ports[fresh], 0
                            fresh += 1
                        else:
                            break
                        self.start(epoll, port, tryno)
                        started += 1
                        if delay:
                            next_start = time.monotonic() + delay
                            break
                        if self.probes <= EXACT_FIRST:
                            self.poll(epoll, 0)  # settled at once: exact RTTs for the latency
                now = time.monotonic()
                can_start = bool(self.retry or fresh < total) and len(pending) < self.limit
                if can_start and now >= next_start:
                    wait = 0.0
                else:
                    deadlines = [next_start] if can_start else []
                    if self.expiry:
                        deadlines.append(self.expiry[0][0] + self.rto.rto)
                    wait = min(deadlines) - now if deadlines else 0.05
                self.poll(epoll, max(0.0, wait))
                now = time.monotonic()
                self.expire(epoll, now)
                if self.progress is not None and now - last_progress >= PROGRESS_EVERY:
                    last_progress = now
                    self.progress(len(self.done), total)
        if self.progress is not None:
            self.progress(len(self.done), total)

    def poll(self, epoll: select.epoll, timeout: float) -> None:
        pending, address, idle, done = self.pending, self.address, self.idle, self.done
        sample: Callable[[float], None] | None = self.rto.sample
        now = 0.0
        for fd, _ in epoll.poll(timeout, 1024):
            entry = pending.pop(fd, None)
            if entry is None:
                continue
            sock, port, tryno, began = entry
            # connect() again to the same address collects the outcome: it returns the
            # pending error (and clears it) or 0 if connected, and moves a failed socket
            # back to unconnected, so the next connect() can reuse it (Linux,
            # __inet_stream_connect: "Connection was closed by RST, timeout, ICMP error").
            # One system call instead of getsockopt(SO_ERROR) + close() + socket().
            err = sock.connect_ex((address, port))
            if err == errno.ECONNREFUSED and not tryno:  # the bulk of a scan: closed
                now = now or time.monotonic()
                rtt = now - began
                if sample is not None:  # one sample a poll (RFC 6298: one per RTT at least)
                    sample(rtt)
                    sample = None
                idle.append(sock)
                done[port] = PortResult(port, *_REFUSED, rtt, 1)
                continue
            reuse = True
            if err == errno.EISCONN:
                err = 0
            elif err in _PENDING:
                # Still SYN-SENT: an ICMP error that arrived while connect() held the socket
                # is only a "soft" error (tcp_v4_err; RFC 1122 4.2.3.9), kept for SO_ERROR.
                err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err == 0:  # nothing yet: wait on
                    pending[fd] = entry
                    epoll.modify(fd, _ONESHOT)
                    continue
                reuse = False
            self.settle(sock, port, tryno, began, err, reuse=reuse, epoll=epoll)


def connect_scan(target: str, address: str, ports: list[int], *,
                 tpl: Template = TEMPLATES[4], max_retries: int = 6,
                 progress: Progress | None = None) -> ScanResult:
    """connect()-scan ``ports`` of ``address`` (already checked against the scope)."""
    started = time.monotonic()
    run = _Connects(address, ports, tpl, max_retries, progress)
    try:
        run.run()
    finally:
        for sock, *_ in run.pending.values():
            sock.close()
        for sock in run.idle:
            sock.close()
    results = [run.done[p] for p in ports]
    return ScanResult(target, address, "connect", results, time.monotonic() - started,
                      run.probes)

