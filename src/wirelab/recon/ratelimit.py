"""Linux's ICMP rate limits, why they slow UDP scans, and the lab switch that lifts them.

Linux sends ICMP errors sparingly (ip-sysctl.rst, ``net/ipv4/icmp.c``), per network
namespace:

- ``net.ipv4.icmp_ratelimit`` (default 1000 ms): for the ICMP types in
  ``net.ipv4.icmp_ratemask`` (default 6168 = 0x1818: destination unreachable, source quench,
  time exceeded, parameter problem) at most one message a second to each peer, from a token
  bucket that holds up to six (``XRLIM_BURST_FACTOR``): a burst of 6, then 1 a second;
- ``net.ipv4.icmp_msgs_per_sec`` (1000) and ``icmp_msgs_burst`` (50): a bucket shared by all
  peers, for the same types.

A closed UDP port answers with an ICMP port unreachable, so a UDP scan of Linux gets six
quick "closed" answers and then silence that looks like open|filtered.  nmap's man page: "a
Linux-style limit of one packet per second makes a 65,536-port scan take more than 18 hours".
The scan (:class:`wirelab.recon.timing.ProbeLoop`) notices silence that follows ICMP answers
the way an emptied bucket does, paces its probes at one a second and retries the silent
ports; :func:`explain` turns what happened into sentences for ``ScanResult.notes``.

In the lab the limit can be lifted on one host, for the lesson to show both:
``wirelab lab icmp-ratelimit HOST off`` (``Host.icmp_ratelimit(False)``) sets the sysctls
*inside* that host's network namespace (they are per namespace; the root namespace is never
touched).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wirelab.recon.states import Reason, Verdict

if TYPE_CHECKING:
    from wirelab.recon.timing import ProbeLoop

ICMP_REASONS = frozenset({Reason.PORT_UNREACH, Reason.NET_UNREACH, Reason.HOST_UNREACH,
                          Reason.PROTO_UNREACH, Reason.NET_PROHIBITED,
                          Reason.HOST_PROHIBITED, Reason.ADMIN_PROHIBITED})

# Linux's default per-peer limit (net/ipv4/icmp.c, XRLIM_BURST_FACTOR; icmp_ratelimit 1000 ms)
LINUX_BURST = 6
LINUX_INTERVAL = 1.0


def beyond_linux_limit(icmp_answers: int, elapsed: float) -> bool:
    """Whether more ICMP errors came back than Linux's default limit lets through in
    ``elapsed`` seconds (a burst, then one a second): then silence is not a rate limit."""
    return icmp_answers > LINUX_BURST + 1 + elapsed / LINUX_INTERVAL


def from_icmp(verdict: Verdict) -> bool:
    """Whether a verdict came from an ICMP error (which the target may have rate-limited)."""
    return verdict[1] in ICMP_REASONS


def explain(loop: ProbeLoop, address: str) -> list[str]:
    """Sentences for ``ScanResult.notes`` about rate limiting seen during the scan."""
    switch = ("in the lab, `wirelab lab icmp-ratelimit HOST off` lifts both limits on the "
              "target to scan at full speed.")
    if loop.paced_at is None and loop.throttled_at is not None:
        return [f"{address} lost ICMP errors at full speed: {len(loop.rescued)} port(s) "
                f"answered only a retry, so wirelab slowed to one probe every "
                f"{loop.delay * 1000:g} ms and asked the silent ports again (Linux's budget "
                f"shared by all peers, net.ipv4.icmp_msgs_per_sec 1000 after a burst of 50, "
                f"applies even when the per-peer icmp_ratelimit is 0); {switch}"]
    if loop.paced_at is None:
        return []
    delay = loop.delay
    if loop.rescued:
        return [f"{address} rate-limits its ICMP errors: {len(loop.rescued)} port(s) stayed "
                f"silent until wirelab slowed down, then answered with ICMP (Linux's default "
                f"sends a burst of 6 destination unreachables, then 1 a second per peer: "
                f"net.ipv4.icmp_ratelimit=1000 ms), so probes were paced at one every "
                f"{delay:g} s, as nmap does; {switch}"]
    return [f"Silence after ICMP answers from {address} looked like an ICMP rate limit, so "
            f"the silent ports were retried at one probe every {delay:g} s; none answered, "
            f"so they are open|filtered and the limit, if any, did not change the result."]
