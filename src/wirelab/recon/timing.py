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
UDP scan delay is 1 s in every template: Linux answers closed UDP ports with ICMP port
unreachables at about one a second, and the scan must be able to slow down to that.

The RTO follows RFC 6298 section 2: SRTT and RTTVAR follow each sample (alpha 1/8, beta 1/4),
RTO = SRTT + 4 * RTTVAR, clamped to the template's bounds.  Samples come only from probes
answered at their first try (Karn's rule, RFC 6298 section 3), since the answer to a
retransmitted probe could belong to either copy.
"""

from __future__ import annotations

from dataclasses import dataclass

from wirelab.errors import ExitCode, WirelabError


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
