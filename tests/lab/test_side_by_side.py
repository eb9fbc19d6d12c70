"""Two labs with the same addresses at once, without interfering."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.lab


def test_two_labs_side_by_side(make_lab, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first = make_lab("default")
    second = make_lab("default")
    assert first.name != second.name
    assert set(first.state.netns.values()).isdisjoint(second.state.netns.values())
    # Same addresses in both: each lab's traffic stays in that lab.
    with second.capture("server", tmp_path / "second.pcap", bpf="icmp") as quiet, \
            first.capture("server", tmp_path / "first.pcap", bpf="icmp") as busy:
        result = first.host("client").run(["ping", "-c", "3", "-i", "0.2", "-n", "198.18.0.20"])
        assert result.returncode == 0
        busy_count = busy.wait(timeout=0.5)
        quiet_count = quiet.wait(timeout=0.1)
    assert busy_count == 6  # 3 requests + 3 replies
    assert quiet_count == 0
    # Both work, and each one's services are its own.
    for lab in (first, second):
        assert lab.host("client").run(["curl", "-sf", "http://server/get"]).returncode == 0
    pids = {s.pid for s in first.state.services} & {s.pid for s in second.state.services}
    assert not pids
    # Shaping one lab leaves the other alone.
    first.link("client", "server").shape(delay="40ms")
    fast = second.host("client").run(["ping", "-c", "2", "-i", "0.2", "-n", "198.18.0.20"])
    assert "time=" in fast.stdout
    assert all(float(t.split("=")[1].split()[0]) < 20 for t in fast.stdout.split()
               if t.startswith("time="))


def test_different_topologies_side_by_side(make_lab) -> None:  # type: ignore[no-untyped-def]
    line = make_lab("line:3", services=False)
    star = make_lab("star:3", services=False)
    assert line.host("h1").run(["ping", "-c", "1", "-W", "2", "h3"]).returncode == 0
    assert star.host("h1").run(["ping", "-c", "1", "-W", "2", "h3"]).returncode == 0
