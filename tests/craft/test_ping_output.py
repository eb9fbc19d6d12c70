"""ping's arithmetic and lines, independent of the network."""

from __future__ import annotations

import math
import statistics

import pytest

from wirelab.craft.ping import (
    Outcome,
    PingOptions,
    Result,
    Statistics,
    format_rtt,
    result_line,
    summary_lines,
    validate,
)
from wirelab.errors import EncodeError


def test_mdev_is_the_population_standard_deviation() -> None:
    rtts = [0.5, 1.5, 2.0, 10.25, 3.0]
    stats = Statistics(host="h", address="198.18.0.1", transmitted=6, received=5, rtts=rtts)
    low, avg, high, mdev = stats.rtt_summary  # type: ignore[misc]
    assert (low, high) == (0.5, 10.25)
    assert avg == pytest.approx(statistics.fmean(rtts))
    assert mdev == pytest.approx(statistics.pstdev(rtts))
    assert stats.loss_percent == pytest.approx(100 / 6)


def test_summary_like_iputils() -> None:
    stats = Statistics(host="remote", address="198.18.1.10", transmitted=4, received=3,
                       errors=1, rtts=[1.0, 2.0, 3.0], elapsed_ms=3004.4)
    lines = summary_lines(stats)
    assert lines[0] == "--- remote ping statistics ---"
    assert lines[1] == ("4 packets transmitted, 3 received, +1 errors, 25% packet loss, "
                        "time 3004ms")
    assert lines[2] == f"rtt min/avg/max/mdev = 1.000/2.000/3.000/{math.sqrt(2 / 3):.3f} ms"


def test_no_reply_no_rtt_line() -> None:
    stats = Statistics(host="h", address="a", transmitted=2)
    assert len(summary_lines(stats)) == 2 and stats.loss_percent == 100


def test_lines() -> None:
    reply = Result(seq=3, outcome=Outcome.REPLY, src="198.18.1.10", size=64, ttl=63,
                   rtt_ms=12.345)
    assert result_line(reply) == "64 bytes from 198.18.1.10: icmp_seq=3 ttl=63 time=12.3 ms"
    exceeded = Result(seq=1, outcome=Outcome.TIME_EXCEEDED, src="198.18.0.1", code=0)
    assert result_line(exceeded) == "From 198.18.0.1 icmp_seq=1 Time to live exceeded"
    unreachable = Result(seq=2, outcome=Outcome.UNREACHABLE, src="198.18.0.1", code=1)
    assert result_line(unreachable) == "From 198.18.0.1 icmp_seq=2 Destination Host Unreachable"
    assert "timeout" in result_line(Result(seq=4, outcome=Outcome.TIMEOUT))


@pytest.mark.parametrize("ms,text", [(0.0456, "0.046"), (4.567, "4.57"), (45.67, "45.7"),
                                     (456.7, "457")])
def test_rtt_precision(ms: float, text: str) -> None:
    assert format_rtt(ms) == text


@pytest.mark.parametrize("options", [PingOptions(count=0), PingOptions(size=70000),
                                     PingOptions(ttl=0), PingOptions(ttl=256),
                                     PingOptions(timeout=0)])
def test_bad_options(options: PingOptions) -> None:
    with pytest.raises(EncodeError):
        validate(options)
