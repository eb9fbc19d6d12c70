"""Output in Linux traceroute's format (lines copied from traceroute 2.1 runs in the lab), the
JSON, and the mtr-style report table."""

from __future__ import annotations

import datetime as dt

from wirelab.recon.trace import Options, ProbeResult, TraceResult
from wirelab.recon.trace_render import Streamer, header, hop_line, render, to_json
from wirelab.recon.trace_report import HopStats, Report, render_report, report_json

NAMES = {"198.18.0.1": "router.lab", "198.18.1.10": "remote.lab"}


def names(address: str) -> str:
    return NAMES.get(address, address)  # getnameinfo without NI_NAMEREQD: the number


def p(source: str | None, ms: float | None = None, mark: str = "", ttl: int = 1) -> ProbeResult:
    return ProbeResult(ttl, source, None if ms is None else ms / 1000, mark, bool(mark))


def test_header() -> None:
    assert header("remote", "198.18.1.10", 30, 60) == \
        "traceroute to remote (198.18.1.10), 30 hops max, 60 byte packets"


def test_lines_as_traceroute_prints_them() -> None:
    hop = [p("198.18.0.1", 0.103), p("198.18.0.1", 0.013), p("198.18.0.1", 0.012)]
    assert hop_line(1, hop, names) == " 1  router.lab (198.18.0.1)  0.103 ms  0.013 ms  0.012 ms"
    assert hop_line(1, hop, None) == " 1  198.18.0.1  0.103 ms  0.013 ms  0.012 ms"
    assert hop_line(3, [p(None)] * 3, names) == " 3  * * *"
    # a lost first probe: the address is printed with the first answer (seen in the lab)
    assert hop_line(6, [p(None), p("198.18.1.10", 0.090), p("198.18.1.10", 0.022)], None) \
        == " 6  * 198.18.1.10  0.090 ms  0.022 ms"
    # no name: getnameinfo's number, twice
    assert hop_line(2, [p("198.18.2.2", 1.5)], names) == " 2  198.18.2.2 (198.18.2.2)  1.500 ms"
    assert hop_line(12, [p("198.18.2.2", 0.02)], None) == "12  198.18.2.2  0.020 ms"


def test_two_routers_on_one_hop_and_marks() -> None:
    # traceroute.c print_addr(): " %s", one space, after the previous "  %.3f ms"
    hop = [p("198.18.5.1", 0.1), p("198.18.6.1", 0.2), p("198.18.6.1", 0.3)]
    assert hop_line(2, hop, None) == " 2  198.18.5.1  0.100 ms 198.18.6.1  0.200 ms  0.300 ms"
    hop = [p("198.18.5.1", 0.1), p(None), p("198.18.5.1", 0.3)]
    assert hop_line(2, hop, None) == " 2  198.18.5.1  0.100 ms *  0.300 ms"
    hop = [p("198.18.2.2", 0.018, "!X"), p("198.18.2.2", 0.013, "!X")]
    assert hop_line(4, hop, None) == " 4  198.18.2.2  0.018 ms !X  0.013 ms !X"


def result() -> TraceResult:
    hops = [[p("198.18.0.1", 0.1, ttl=1), p(None, ttl=1)],
            [p("198.18.1.10", 0.2, ttl=2), p("198.18.1.10", 0.3, ttl=2)]]
    hops[1] = [ProbeResult(2, "198.18.1.10", 0.0002, "", True)] * 2
    return TraceResult("remote", "198.18.1.10", Options(q=2), hops, True, 0.01)


def test_render_and_stream_agree() -> None:
    res = result()
    text = render(res, names)
    assert text.splitlines() == [
        "traceroute to remote (198.18.1.10), 30 hops max, 60 byte packets",
        " 1  router.lab (198.18.0.1)  0.100 ms *",
        " 2  remote.lab (198.18.1.10)  0.200 ms  0.200 ms"]
    out: list[str] = [header("remote", "198.18.1.10", 30, 60)]
    stream = Streamer(2, 1, names, out.append)
    for i, probe in enumerate(x for hop in res.hops for x in hop):
        stream(i, probe)
    assert "".join(out) == text


def test_json() -> None:
    data = to_json(result(), None)
    assert data["reached"] is True and data["method"] == "udp" and data["paris"] is False
    assert [h["ttl"] for h in data["hops"]] == [1, 2]
    assert data["hops"][0]["probes"] == [{"address": "198.18.0.1", "rtt_ms": 0.1,
                                          "final": False}, {"address": None}]
    assert to_json(result(), names)["hops"][0]["probes"][0]["name"] == "router.lab"


def test_report_table() -> None:
    hops = [HopStats(1, 4, [0.1, 0.3, 0.2], ["198.18.0.1"]),
            HopStats(2, 4, [], []),
            HopStats(3, 4, [1.0, 3.0, 2.0, 2.0], ["198.18.1.10", "198.18.9.9"])]
    rep = Report("remote", "198.18.1.10", dt.datetime(2026, 11, 25, 17, 0, tzinfo=dt.UTC),
                 "client", hops, 4)
    lines = render_report(rep, names).splitlines()
    assert lines[0] == "Start: 2026-11-25T17:00:00+0000"
    assert lines[1].split() == ["HOST:", "client", "Loss%", "Snt", "Last", "Avg", "Best",
                                "Wrst", "StDev"]
    assert lines[2].split() == ["1.|--", "router.lab", "25.0%", "4", "0.2", "0.2", "0.1",
                                "0.3", "0.1"]
    assert lines[3].split() == ["2.|--", "???", "100.0%", "4", "0.0", "0.0", "0.0", "0.0",
                                "0.0"]
    assert lines[4].split()[:8] == ["3.|--", "remote.lab", "0.0%", "4", "2.0", "2.0", "1.0",
                                    "3.0"]
    assert lines[5] == "        198.18.9.9" + " " * 23  # mtr: the other addresses, padded
    # the figures line up under their titles
    assert lines[1].index("StDev") + 5 == len(lines[2])
    data = report_json(rep, None)
    assert data["hops"][2]["stdev"] == 0.816 and data["hops"][1]["loss_pct"] == 100.0
