"""Timing: nmap's ``-T0`` .. ``-T5`` templates and the retransmission time-out.

The templates carry nmap's values (nmap 7.93, ``nmap.cc`` case 'T' and the defaults in
``NmapOps.cc``; the man page, section "Timing and Performance", states the -T4 and -T5 ones:
"-T4 does the equivalent of --max-rtt-timeout 1250ms --min-rtt-timeout 100ms
--initial-rtt-timeout 500ms --max-retries 6 and sets the maximum TCP and SCTP scan delay to
10ms.  T5 does the equivalent of --max-rtt-timeout 300ms --min-rtt-timeout 50ms
--initial-rtt-timeout 250ms --max-retries 2 ..." and "The main effects of T0 are serializing
the scan so only one port is scanned at a time, and waiting five minutes between sending each
probe.  T1 and T2 are similar but they only wait 15 seconds and 0.4 seconds"):

====  ===========  ========  ========  =======  ==========  ============  ===========
 -T   initial RTO  min RTO   max RTO   retries  scan delay  max TCP dly   parallelism
====  ===========  ========  ========  =======  ==========  ============  ===========
 0    300 s        100 ms    300 s     10       300 s       300 s         1
 1    15 s         100 ms    15 s      10       15 s        15 s          1
 2    1 s          100 ms    10 s      10       400 ms      1 s           1
 3    1 s          100 ms    10 s      10       0           1 s           dynamic
 4    500 ms       100 ms    1250 ms   6        0           10 ms         dynamic
 5    250 ms       50 ms     300 ms    2        0           5 ms          dynamic
====  ===========  ========  ========  =======  ==========  ============  ===========

(For -T0 and -T1, nmap's ``setInitialRttTimeout`` raises the maximum to the initial value, and
the scan delay is also the floor of the dynamic delay, so the maximum equals it.)  The maximum
UDP scan delay is 1 s from -T2 up (nmap's default, which -T4 and -T5 leave alone): Linux
answers closed UDP ports with ICMP port unreachables at about one a second, and the scan must
be able to slow down to that.

The RTO follows RFC 6298 section 2: SRTT and RTTVAR follow each sample (alpha 1/8, beta 1/4),
RTO = SRTT + 4 * RTTVAR, clamped to the template's bounds.  Samples come only from answers to
the latest copy of a probe; since the try number travels in the probe's source port (as in
nmap), an answer says which copy it answers and Karn's ambiguity (RFC 6298 section 3) does not
arise.

:class:`ProbeLoop` is the engine the raw scans (SYN, UDP) share: it sends, matches, times out,
retransmits by nmap's evidence-of-loss rule (:func:`allowed_tries`) and paces itself when the
target rate-limits its ICMP errors.  The connect scan applies the same rules to sockets.
"""

from __future__ import annotations

import bisect
import errno
import select
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from wirelab.errors import ExitCode, WirelabError
from wirelab.recon import ratelimit
from wirelab.recon.result import PortResult, Progress, ScanResult
from wirelab.recon.states import Verdict


class TimingError(WirelabError):
    """A ``-T`` level outside 0..5."""

    exit_code = ExitCode.USAGE


@dataclass(frozen=True, slots=True)
class Template:
    """One ``-T`` level: nmap's name and values, times in seconds."""

    level: int
    name: str
    initial_rto: float
    min_rto: float
    max_rto: float
    max_retries: int
    scan_delay: float  # the least delay between two probes to the host
    max_tcp_delay: float  # how far the dynamic delay may grow for TCP
    max_udp_delay: float  # ... and for UDP
    max_parallelism: int | None  # None: dynamic (nmap's congestion window)


TEMPLATES: dict[int, Template] = {
    0: Template(0, "paranoid", 300.0, 0.1, 300.0, 10, 300.0, 300.0, 300.0, 1),
    1: Template(1, "sneaky", 15.0, 0.1, 15.0, 10, 15.0, 15.0, 15.0, 1),
    2: Template(2, "polite", 1.0, 0.1, 10.0, 10, 0.4, 1.0, 1.0, 1),
    3: Template(3, "normal", 1.0, 0.1, 10.0, 10, 0.0, 1.0, 1.0, None),
    4: Template(4, "aggressive", 0.5, 0.1, 1.25, 6, 0.0, 0.010, 1.0, None),
    5: Template(5, "insane", 0.25, 0.05, 0.3, 2, 0.0, 0.005, 1.0, None),
}
DEFAULT_LEVEL = 4
"""wirelab's default is -T4 (nmap's is -T3): the lab is the "reasonably modern and reliable
network" for which the man page recommends -T4."""

# Kept for callers of the first version, which had -T4's bounds only.
INITIAL_RTO = TEMPLATES[4].initial_rto
MIN_RTO = TEMPLATES[4].min_rto
MAX_RTO = TEMPLATES[4].max_rto


def template(level: int) -> Template:
    """The template of ``-T<level>``."""
    try:
        return TEMPLATES[level]
    except KeyError:
        raise TimingError(f"bad timing level {level}: -T0 to -T5") from None


@dataclass(slots=True)
class RTOEstimator:
    srtt: float | None = None
    rttvar: float = 0.0
    initial: float = INITIAL_RTO
    minimum: float = MIN_RTO
    maximum: float = MAX_RTO

    @classmethod
    def for_template(cls, tpl: Template) -> RTOEstimator:
        return cls(initial=tpl.initial_rto, minimum=tpl.min_rto, maximum=tpl.max_rto)

    def sample(self, rtt: float) -> None:
        if self.srtt is None:  # first measurement (RFC 6298 2.2)
            self.srtt, self.rttvar = rtt, rtt / 2
            return
        self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - rtt)  # 2.3
        self.srtt = 0.875 * self.srtt + 0.125 * rtt

    @property
    def rto(self) -> float:
        if self.srtt is None:
            return self.initial
        return min(self.maximum, max(self.minimum, self.srtt + 4 * self.rttvar))


def allowed_tries(max_retries: int, best_late_try: int) -> int:
    """How many times a silent port may be probed, given the evidence of loss so far.

    nmap's rule (``scan_engine.cc``, ``allowedTryno``): a port is retransmitted while its try
    number is at most one more than the highest try number that ever got an answer, capped by
    ``--max-retries``.  On a reliable network answers come at try 0, so a silent port gets
    one retransmission and is then filtered ("If a network seems reliable and the target hosts
    aren't rate limiting, Nmap usually only does one retransmission", nmap(1)); a port that
    answered only at try 2 is evidence of loss (or rate limiting) and buys every other silent
    port a try more.  ``best_late_try`` is that highest answered try number (0-based).
    """
    return 1 + min(max_retries, best_late_try + 1)


# --- the probe loop shared by the raw scans (SYN, UDP) -------------------------------------

Answer = tuple[int, int, Verdict, int]
"""What a prober makes of a frame that answers a probe: (port, try number, verdict, TTL of
the answering IP packet)."""


class Prober(Protocol):
    """What :class:`ProbeLoop` needs from a scan type: a socket to wait on, a way to send
    the probe for (port, try) and a way to collect the answers received so far."""

    rx: socket.socket | None

    def send(self, dport: int, tryno: int) -> None: ...

    def read_answers(self) -> list[Answer]: ...


def recv_all(sock: socket.socket) -> list[bytes]:
    """Every frame queued on non-blocking ``sock`` (each cut to FRAME_SNAP bytes)."""
    frames = []
    recv = sock.recv
    while True:
        try:
            frames.append(recv(FRAME_SNAP))
        except BlockingIOError:
            return frames


BATCH = 64  # probes sent between two reads of the answers
EXACT_FIRST = 8  # the first probes' answers are read right away: their RTTs are exact
MAX_IN_FLIGHT = 8192  # dynamic parallelism: the cap on ports awaiting an answer
PROGRESS_EVERY = 0.05  # seconds: progress() at most 20 times a second
FRAME_SNAP = 256  # bytes read of a frame: up to the quoted transport header of an ICMP error
PORTS = 65536  # per-port arrays are indexed by port number
# Seconds between probes once ICMP errors are seen lost without the per-peer limit: 500/s,
# half of Linux's budget shared by all peers (net.ipv4.icmp_msgs_per_sec, default 1000).
SHARED_BUDGET_DELAY = 0.002


class ProbeLoop:
    """Send every probe, match answers, retransmit and give up, within a template's bounds.

    - Probes go out as fast as the template allows (its scan delay, its parallelism), in
      batches, reading the answers between batches so the receive buffer never overflows.
    - A probe is timed out one RTO after it was sent (:class:`RTOEstimator`, fed by every
      answer to the latest copy of a probe: the try number in the answer makes it exact).
    - A timed-out port is retransmitted while :func:`allowed_tries` says so, else its verdict
      is ``silence``.  An answer after that still wins (it carries a valid cookie).
    - ``icmp_limited`` (UDP): a predicate saying whether a verdict came from an ICMP error,
      which the target may rate-limit (:mod:`wirelab.recon.ratelimit`).  When silence follows
      ICMP answers the way a token bucket empties, the loop paces its probes to the template's
      maximum UDP scan delay, and the tries sent before that do not count against the port.

    The per-port state lives in flat arrays indexed by port number (a -p- scan touches every
    entry once or twice; a dict lookup and a method call per answer cost more than the
    answer's parsing).  Every probe has the same RTO, so time-outs expire first in, first out
    from one queue, whatever the number of probes in flight.
    """

    def __init__(self, ports: list[int], tpl: Template, max_retries: int, *,
                 silence: Verdict, progress: Progress | None = None,
                 icmp_limited: Callable[[Verdict], bool] | None = None) -> None:
        self.ports = ports
        self.tpl = tpl
        self.max_retries = max_retries
        self.silence = silence
        self.progress = progress
        self.icmp_limited = icmp_limited
        self.rto = RTOEstimator.for_template(tpl)
        self.delay = tpl.scan_delay
        self.window = tpl.max_parallelism or MAX_IN_FLIGHT
        self.done: dict[int, PortResult] = {}
        self.tries = bytearray(PORTS)  # probes sent to each port
        self.waiting = bytearray(PORTS)  # 1 + try number of its outstanding probe, or 0
        self.last_sent = [0.0] * PORTS  # when the latest probe to it went out
        self.in_flight = 0
        self.timeouts: deque[tuple[float, int, int]] = deque()  # (sent, port, try)
        self.retry: deque[tuple[int, int]] = deque()
        self.best_try = 0  # highest (counted) try number that got an answer
        self.probes = 0
        self.elapsed = 0.0
        self.started = 0.0
        # rate-limit bookkeeping (only with icmp_limited)
        self.order: dict[int, int] = {}  # port -> rank of its first probe
        self.icmp_ranks: list[int] = []  # sorted ranks of first probes answered by ICMP
        self.free: dict[int, int] = {}  # tries that do not count (sent before pacing)
        self.paced_at: float | None = None  # when the loop slowed down for a rate limit
        self.throttled_at: float | None = None  # ... for lost ICMP errors (a shared budget)
        self.rescued: list[int] = []  # ports whose ICMP answer came only once paced

    # -- the loop ---------------------------------------------------------------------------

    def run(self, prober: Prober) -> None:
        rx = prober.rx
        assert rx is not None
        started = self.started = time.monotonic()
        ports, total = self.ports, len(self.ports)
        retry, done = self.retry, self.done
        fresh = 0
        next_send = 0.0
        last_progress = started
        while len(done) < total:
            now = time.monotonic()
            sent = 0
            if not retry and not self.delay and self.probes >= EXACT_FIRST:
                # the bulk of a large scan: first probes, back to back
                sent = min(BATCH, total - fresh, self.window - self.in_flight)
                if sent > 0:
                    self._send_fresh(prober, ports[fresh:fresh + sent])
                    fresh += sent
            while sent < BATCH and self.in_flight < self.window and now >= next_send:
                if retry:
                    port, tryno = retry.popleft()
                    if port in done:
                        continue
                elif fresh < total:
                    port, tryno = ports[fresh], 0
                    fresh += 1
                else:
                    break
                stamp = self._send(prober, port, tryno)
                sent += 1
                if self.probes <= EXACT_FIRST:
                    self._drain(rx, prober)  # read at once: exact RTTs for the latency
                if self.delay:
                    next_send = stamp + self.delay
                    break
            self._drain(rx, prober)
            now = time.monotonic()
            self._expire(now)
            if self.progress is not None and now - last_progress >= PROGRESS_EVERY:
                last_progress = now
                self.progress(len(done), total)
            if len(done) >= total:
                break
            sendable = bool(retry or fresh < total) and self.in_flight < self.window
            if sendable and now >= next_send:
                continue
            wake = self.timeouts[0][0] + self.rto.rto if self.timeouts else now + 0.05
            if sendable:
                wake = min(wake, next_send)
            if wake > now:
                select.select([rx], [], [], wake - now)
        self.elapsed = time.monotonic() - started
        if self.progress is not None:
            self.progress(len(done), total)

    def _send(self, prober: Prober, port: int, tryno: int) -> float:
        stamp = time.monotonic()  # before send(): in the lab the answer can beat its return
        while True:
            try:
                prober.send(port, tryno)
                break
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    raise
                time.sleep(0.001)  # the device queue is full: let it drain
        if tryno == 0 and self.icmp_limited is not None:
            self.order[port] = self.probes
        self.probes += 1
        self.tries[port] = tryno + 1
        self.last_sent[port] = stamp
        self.waiting[port] = tryno + 1
        self.in_flight += 1
        self.timeouts.append((stamp, port, tryno))
        return stamp

    def _send_fresh(self, prober: Prober, batch: list[int]) -> None:
        """:meth:`_send` for a batch of first probes, with everything in locals."""
        send, monotonic = prober.send, time.monotonic
        tries, waiting, last_sent = self.tries, self.waiting, self.last_sent
        timeout = self.timeouts.append
        order, rank = (self.order if self.icmp_limited is not None else None), self.probes
        for port in batch:
            stamp = monotonic()
            try:
                send(port, 0)
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    raise
                self._resend(prober, port)
            tries[port] = 1
            waiting[port] = 1
            last_sent[port] = stamp
            timeout((stamp, port, 0))
            if order is not None:
                order[port] = rank
            rank += 1
        self.probes = rank
        self.in_flight += len(batch)

    @staticmethod
    def _resend(prober: Prober, port: int) -> None:
        while True:
            time.sleep(0.001)  # the device queue is full: let it drain
            try:
                prober.send(port, 0)
                return
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    raise

    def _drain(self, rx: socket.socket, prober: Prober) -> None:
        """Read and apply every answer queued on ``rx`` (the hot path of a large scan)."""
        done, tries, waiting, last_sent = self.done, self.tries, self.waiting, self.last_sent
        sample: Callable[[float], None] | None = self.rto.sample
        silent_reason = self.silence[1]
        now = time.monotonic()
        for port, tryno, verdict, ttl in prober.read_answers():
            known = done.get(port)
            if known is not None and known.reason != silent_reason:
                continue  # a duplicate
            sent = tries[port]
            if tryno >= sent:
                continue  # not a probe we sent (cannot happen with a valid cookie)
            rtt = None
            if tryno == sent - 1:  # the latest copy: its RTT is unambiguous
                rtt = now - last_sent[port]
                if rtt < 0.0:
                    rtt = 0.0
                if sample is not None:
                    sample(rtt)
                    sample = None  # one sample a read of the queue is plenty (RFC 6298 asks
                    # for at least one per RTT), and the rest were queued at the same time
            if waiting[port] == tryno + 1:
                waiting[port] = 0
                self.in_flight -= 1
            if tryno or self.icmp_limited is not None:
                self._bookkeep(port, tryno, verdict)
            done[port] = PortResult(port, verdict[0], verdict[1], rtt, sent, ttl)

    def _bookkeep(self, port: int, tryno: int, verdict: Verdict) -> None:
        """Evidence of loss and of rate limiting, from an answer (rarely needed)."""
        counted = tryno - self.free.get(port, 0)
        if counted > self.best_try:
            self.best_try = counted  # evidence of loss: other silent ports get a try more
        if self.icmp_limited is not None and self.icmp_limited(verdict):
            if tryno == 0:
                bisect.insort(self.icmp_ranks, self.order[port])
            elif self.paced_at is not None:
                if self.free.get(port, 0) > 0:
                    self.rescued.append(port)
            else:
                # A retry answered with ICMP: the error for an earlier try was lost.  With the
                # per-peer limit off, what remains is the budget all peers share
                # (icmp_msgs_per_sec, 1000/s after a burst of 50): slow below it.
                if self.throttled_at is None:
                    self._throttle(time.monotonic())
                self.rescued.append(port)

    def _expire(self, now: float) -> None:
        rto = self.rto.rto
        timeouts, waiting = self.timeouts, self.waiting
        while timeouts and timeouts[0][0] + rto <= now:
            _, port, tryno = timeouts.popleft()
            if waiting[port] != tryno + 1:
                continue  # answered, or a newer copy is out
            waiting[port] = 0
            self.in_flight -= 1
            if self.icmp_limited is not None and self.paced_at is None and tryno == 0:
                self._maybe_pace(port, now)
            counted = self.tries[port] - self.free.get(port, 0)
            if counted < allowed_tries(self.max_retries, self.best_try):
                self.retry.append((port, tryno + 1))
            else:
                self.done[port] = PortResult(port, *self.silence, None, self.tries[port])

    def _maybe_pace(self, port: int, now: float) -> None:
        """Silence after ICMP answers, the way a token bucket empties: slow down.

        Linux sends a burst of ICMP errors to one peer, then about one a second
        (net.ipv4.icmp_ratelimit).  So a silent probe sent *after* the ICMP answers stopped
        (at most one later probe answered: a refilled token) is probably a rate-limited
        answer, not a filter -- unless more ICMP answers came than Linux's limit would have
        let through by now (a lifted limit, or not Linux).  From here on probes are paced at
        the template's maximum UDP scan delay and earlier tries are free.  A filtered port
        that merely follows closed ones costs paced retries, never a wrong verdict.
        """
        if not self.icmp_ranks:
            return
        if ratelimit.beyond_linux_limit(len(self.icmp_ranks), now - self.started):
            return  # more ICMP errors than a Linux limit allows: this silence is a filter
        rank = self.order[port]
        later = len(self.icmp_ranks) - bisect.bisect_right(self.icmp_ranks, rank)
        if later > 1:
            return
        self.paced_at = now
        self.delay = max(self.delay, self.tpl.max_udp_delay)
        for other in self.order:
            if other not in self.done:
                self.free[other] = self.tries[other]

    def _throttle(self, now: float) -> None:
        """ICMP errors lost at full speed: probe at :data:`SHARED_BUDGET_DELAY` from now on,
        and the tries sent before do not count (each silent port is asked again)."""
        self.throttled_at = now
        self.delay = max(self.delay, SHARED_BUDGET_DELAY)
        for other in self.order:
            if other not in self.done:
                self.free[other] = self.tries[other]

    def result(self, target: str, address: str, scan_type: str) -> ScanResult:
        ports = [self.done[p] for p in self.ports]
        return ScanResult(target, address, scan_type, ports, self.elapsed, self.probes)
