"""Link shaping: delay visible in round-trip times, loss visible in counts, rate in speed."""

from __future__ import annotations

import re
import subprocess
import time

import pytest

from wirelab.lab.lab import Lab
from wirelab.lab.topology import from_toml

from ..helpers import reaped

pytestmark = pytest.mark.lab


def _rtts(lab: Lab, count: int, src: str = "client", dst: str = "198.18.0.20",
          interval: str = "0.05") -> tuple[int, int, list[float]]:
    result = lab.host(src).run(["ping", "-n", "-c", str(count), "-i", interval, "-W", "2",
                                dst], timeout=120)
    sent, received = map(int, re.search(r"(\d+) packets transmitted, (\d+) received",
                                        result.stdout).groups())  # type: ignore[union-attr]
    times = [float(t) for t in re.findall(r"time=([\d.]+) ms", result.stdout)]
    return sent, received, times


def _answered(lab: Lab, count: int, interval: str, deadline: int = 20
              ) -> tuple[int, list[int], list[float]]:
    """Ping until ``count`` replies came or ``deadline`` s passed: (sent, seqs answered, RTTs).

    Why not ``-c N -W 2`` alone: once any reply came, ping waits only 2 x the largest RTT seen
    (iputils ``__schedule_exit``; ping(8) on -W) after its last request, so on a loaded machine
    a delayed reply that comes a little late is counted as lost though nothing lost it.  With
    ``-w`` ping waits for ``count`` replies and keeps sending meanwhile; a lost packet shows as
    a gap in the answered sequence numbers, and the requests still in flight when the
    ``count``-th reply came are the only ones unanswered.
    """
    result = lab.host("client").run(["ping", "-n", "-c", str(count), "-i", interval, "-w",
                                     str(deadline), "198.18.0.20"], timeout=deadline + 30)
    sent = int(re.search(r"(\d+) packets transmitted", result.stdout).group(1))  # type: ignore[union-attr]
    seqs = [int(s) for s in re.findall(r"icmp_seq=(\d+) ttl=", result.stdout)]
    times = [float(t) for t in re.findall(r"time=([\d.]+) ms", result.stdout)]
    return sent, seqs, times


def _assert_no_gap(count: int, sent: int, seqs: list[int]) -> None:
    assert len(seqs) >= count, (sent, seqs)
    assert sorted(set(seqs)) == list(range(1, max(seqs) + 1)), (sent, seqs)


def test_delay_50ms_gives_rtt_of_at_least_100ms(lab: Lab) -> None:
    _, _, before = _rtts(lab, 3)
    assert max(before) < 20
    lab.link("client", "server").shape(delay="50ms")
    sent, seqs, times = _answered(lab, 5, "0.05")
    _assert_no_gap(5, sent, seqs)  # a delay-only shaper loses nothing
    assert min(times) >= 100.0, times
    assert max(times) < 300.0, times
    lab.link("client", "server").clear()
    _, _, after = _rtts(lab, 3)
    assert max(after) < 20, after


def test_reshaping_under_traffic_loses_no_packet(lab: Lab) -> None:
    # Reshaping or clearing a link stops that host's shaper while it holds packets; the kernel
    # drops whatever a queue's socket still holds when it closes, so the shaper must verdict
    # them all first (it used to lose ~8 of 100 here).
    link = lab.link("client", "server")
    link.shape(delay="30ms")
    ping = lab.host("client").popen(["ping", "-n", "-c", "100", "-i", "0.02", "-w", "30",
                                     "198.18.0.20"], stdout=subprocess.PIPE, text=True)
    with reaped(ping):
        time.sleep(0.3)
        link.shape(delay="10ms")
        link.clear()
        out, _ = ping.communicate(timeout=60)
    sent = int(re.search(r"(\d+) packets transmitted", out).group(1))  # type: ignore[union-attr]
    _assert_no_gap(100, sent, [int(s) for s in re.findall(r"icmp_seq=(\d+) ttl=", out)])


def test_delay_on_one_link_only(lab: Lab) -> None:
    lab.link("router", "remote").shape(delay="30ms")
    _, _, local = _rtts(lab, 3)  # client <-> server does not cross router-remote
    _, _, far = _rtts(lab, 3, dst="198.18.1.10")
    assert max(local) < 20
    assert min(far) >= 60.0


def test_loss_is_visible_in_counts(lab: Lab) -> None:
    lab.link("client", "server").shape(loss="30%")
    sent, received, _ = _rtts(lab, 100, interval="0.01")
    # Each round trip survives with p = 0.7 * 0.7 = 0.49; 100 of them all surviving, or
    # fewer than 20 surviving, are both beyond one in a billion.
    assert sent == 100
    assert 20 <= received < 90, received


def test_jitter_spreads_rtts(lab: Lab) -> None:
    lab.link("client", "server").shape(delay="40ms", jitter="20ms")
    _, _, times = _rtts(lab, 30, interval="0.02")
    assert min(times) >= 40.0  # two legs of at least 20 ms each
    assert max(times) - min(times) > 10.0, times


def test_rate_limits_throughput(lab: Lab) -> None:
    lab.link("client", "server").shape(rate="2mbit")
    result = lab.host("client").run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{speed_download}",
         "http://198.18.0.20/bytes/500000"], timeout=60)
    speed_bits = float(result.stdout) * 8
    assert 1_000_000 < speed_bits < 2_400_000, speed_bits


def test_status_reports_shaping(lab: Lab) -> None:
    lab.link("client", "server").shape(delay="20ms", loss="1%", rate="10mbit")
    ifaces = lab.status()["hosts"]["client"]["interfaces"]
    assert ifaces[0]["shaping"] == "delay 20ms loss 1% rate 10mbit"
    assert ifaces[0]["shaped_by"] in ("netem", "nfqueue")
    assert "tbf" in ifaces[0]["qdisc"] or "netem" in ifaces[0]["qdisc"]
    lab.link("client", "server").clear()
    assert lab.status()["hosts"]["client"]["interfaces"][0]["shaping"] == "none"


def test_topology_file_shaping_applies_at_up(make_lab) -> None:  # type: ignore[no-untyped-def]
    topo = from_toml("""
[hosts.a]
[hosts.b]
[[links]]
a = "a"
b = "b"
delay = "25ms"
""", "slow")
    lab = make_lab(topo, services=False)
    address = lab.host("b").ip
    _, _, times = _rtts(lab, 3, src="a", dst=address)
    assert min(times) >= 50.0, times


def test_link_between_unconnected_hosts_is_refused(lab: Lab) -> None:
    from wirelab.errors import LabError

    with pytest.raises(LabError, match="share no segment"):
        lab.link("client", "remote")
