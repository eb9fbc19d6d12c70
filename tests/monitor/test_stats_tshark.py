"""Cross-check: ``wirelab stats conv|endpoints --json`` equals tshark's -z tables, every number.

Two captures: several thousand seeded mixed packets from :mod:`wirelab.samples` (VLAN tags,
IPv4 and IPv6 fragments, ICMP errors quoting a datagram, DNS, ARP), and real traffic: tcpdump
on ``lo`` while urllib fetches pages from a Python ``http.server`` on 127.0.0.1.  tshark's
text tables are parsed (:mod:`tests.monitor.tshark_text`) and compared row by row.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from wirelab.cli.stats import stats
from wirelab.monitor.conv import printed_duration
from wirelab.monitor.phs import TRANSPORT

from .conftest import mixed_pcap
from .tshark_text import (
    cut_below,
    parse_conv,
    parse_endpoints,
    parse_io,
    parse_phs,
    size_text,
    tcp_bytes_by_direction,
    tshark_tables,
)

pytestmark = [
    pytest.mark.tshark,
    pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed"),
]
KINDS = ("ip", "ipv6", "tcp", "udp")


def ours(capture: Path, statistic: str) -> dict[str, list[dict[str, object]]]:
    result = CliRunner().invoke(stats, [str(capture), statistic, "--json"])
    assert result.exit_code == 0, result.output
    data: dict[str, list[dict[str, object]]] = json.loads(result.output)
    return data


def assert_conv_equal(capture: Path, mine: dict[str, list[dict[str, object]]] | None = None,
                      time_slack: float = 0.0) -> int:
    """Every conversation of every kind equals tshark's; returns how many were compared.

    ``mine``: our JSON (default: ``wirelab stats CAPTURE conv`` on the same file).
    ``time_slack``: seconds our times may differ from the file's (a live capture stamps in
    nanoseconds, tcpdump's pcap keeps microseconds); 0 demands tshark's printed figures.
    """
    mine = mine if mine is not None else ours(capture, "conv")
    compared = 0
    for kind in KINDS:
        theirs = parse_conv(tshark_tables(str(capture), [f"conv,{kind}"]))
        rows = {frozenset((str(r["a"]), str(r["b"]))): r for r in mine[kind]}
        assert set(rows) == set(theirs), kind
        for key, t in theirs.items():
            o = rows[key]
            for name in ("a", "b", "frames_ab", "frames_ba", "frames"):
                assert o[name] == t[name], (kind, name, t, o)
            for name in ("bytes_ab", "bytes_ba", "bytes"):
                assert size_text(int(o[name])) == t[name], (kind, name, t, o)  # type: ignore[call-overload]
            # tshark prints the start with 9 decimals and the duration with 4
            start, duration = float(o["rel_start"]), float(o["duration"])  # type: ignore[arg-type]
            assert abs(start - float(t["rel_start"])) <= 1e-9 + time_slack, (kind, t, o)
            if time_slack:
                assert abs(duration - float(t["duration"])) <= 0.00005 + time_slack, (t, o)
            else:
                printed = printed_duration(start, duration)
                assert f"{printed:.4f}" == t["duration_text"], (kind, t, o)
            compared += 1
    return compared


def assert_endpoints_equal(capture: Path,
                           mine: dict[str, list[dict[str, object]]] | None = None) -> int:
    mine = mine if mine is not None else ours(capture, "endpoints")
    compared = 0
    for kind in KINDS:
        ports = kind in ("tcp", "udp")
        theirs = parse_endpoints(tshark_tables(str(capture), [f"endpoints,{kind}"]), ports)
        rows = {(str(r["address"]), int(r.get("port", 0))):  # type: ignore[call-overload]
                tuple(r[n] for n in ("packets", "bytes", "tx_packets", "tx_bytes",
                                     "rx_packets", "rx_bytes")) for r in mine[kind]}
        assert rows == theirs, kind
        compared += len(rows)
    return compared


def assert_phs_equal(capture: Path, mine_json: dict[str, list[dict[str, object]]] | None = None,
                     cut: bool = True) -> int:
    """Our hierarchy equals tshark's, nodes in the same order; returns the node count.

    ``cut``: both trees cut below the transport layer, for captures of random payloads
    where tshark's heuristics claim some (rx, vxlan...); test_stats_phs checks below.
    """
    theirs = parse_phs(tshark_tables(str(capture), ["io,phs"]))
    mine = {tuple(str(r["path"]).split("/")): (r["frames"], r["bytes"])
            for r in (mine_json or ours(capture, "phs"))["phs"]}
    if cut:
        theirs, mine = cut_below(theirs, TRANSPORT), cut_below(mine, TRANSPORT)  # type: ignore[arg-type]
    assert mine == theirs
    assert list(mine) == list(theirs)
    return len(mine)


def assert_io_equal(capture: Path, interval: str,
                    mine_json: dict[str, list[dict[str, object]]] | None = None) -> int:
    """Frames and bytes of every interval equal tshark's -z io,stat; returns the count."""
    theirs = parse_io(tshark_tables(str(capture), [f"io,stat,{interval}"]))
    if mine_json is None:
        result = CliRunner().invoke(stats, [str(capture), "io", "--interval", interval,
                                            "--json"])
        assert result.exit_code == 0, result.output
        mine_json = json.loads(result.output)
    mine: list[dict[str, float]] = mine_json["io"]  # type: ignore[assignment]
    assert [(r["frames"], r["bytes"]) for r in mine] == [(f, b) for _, f, b in theirs]
    # tshark prints starts rounded to the interval's decimals
    for r, (start, _, _) in zip(mine, theirs, strict=True):
        assert abs(r["start"] - start) <= float(interval) / 2
    return len(mine)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return mixed_pcap(tmp_path_factory.mktemp("stats"), 6000, seed=808)


def test_conversations_equal_tshark_on_mixed_traffic(mixed: Path) -> None:
    assert assert_conv_equal(mixed) > 1000  # every kind has rows: fragments, IPv6, DNS...


def test_endpoints_equal_tshark_on_mixed_traffic(mixed: Path) -> None:
    assert assert_endpoints_equal(mixed) > 1000


@pytest.mark.parametrize("interval", ["1", "0.1", "0.0137"])
def test_io_intervals_equal_tshark_on_mixed_traffic(mixed: Path, interval: str) -> None:
    # the capture lasts about 15 s: one row per interval, empty ones included
    assert assert_io_equal(mixed, interval) >= 15


def test_protocol_hierarchy_equals_tshark_on_mixed_traffic(mixed: Path) -> None:
    # eth, arp, ip, ip/udp, ip/data (fragments), ip/icmp, ip/tcp, vlan/ip/udp, ipv6/...
    assert assert_phs_equal(mixed) >= 14


def test_stats_equal_tshark_on_loopback_http(loopback_http: Path) -> None:
    # the probe connection plus three fetches: at least four TCP conversations
    assert assert_conv_equal(loopback_http) >= 5  # 4 tcp + the 127.0.0.1 ip pair
    assert assert_endpoints_equal(loopback_http) >= 5
    assert assert_phs_equal(loopback_http) == 3  # eth, ip, tcp
    assert assert_io_equal(loopback_http, "0.01") >= 2
    # tshark's conversation table prints kB above 10,000 bytes: check the exact figures
    # against frame.len summed per direction by tshark itself
    exact = tcp_bytes_by_direction(str(loopback_http))
    convs = ours(loopback_http, "conv")["tcp"]
    assert any(int(c["bytes_ba"]) >= 10_000 for c in convs)  # type: ignore[call-overload]
    for c in convs:
        a, b = str(c["a"]), str(c["b"])
        assert (c["frames_ab"], c["bytes_ab"]) == exact.get((a, b), (0, 0))
        assert (c["frames_ba"], c["bytes_ba"]) == exact.get((b, a), (0, 0))
    assert sum(int(c["frames"]) for c in convs) == sum(  # type: ignore[call-overload]
        f for f, _ in exact.values())
