"""nmap's normal output rules on hand-made results: which states are hidden and how the
``Not shown`` line, the table and the ``-oN`` file read.  The rules are nmap 7.93's
(portlist.cc isIgnoredState / nextIgnoredState); the lab tests compare with nmap itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from wirelab.recon import report
from wirelab.recon.report import (
    hidden_states,
    latency_text,
    not_shown_line,
    render_file,
    render_normal,
    table,
)
from wirelab.recon.result import PortResult, ScanResult
from wirelab.recon.states import PortState, Reason

OPEN_FILTERED = getattr(PortState, "OPEN_FILTERED", None)


def _result(spec: dict[str, list[int]], scan_type: str = "syn",
            reasons: dict[int, Reason] | None = None) -> ScanResult:
    default = {"open": Reason.SYN_ACK, "closed": Reason.RESET, "filtered": Reason.NO_RESPONSE,
               "open|filtered": Reason.NO_RESPONSE}
    ports = []
    for state, numbers in spec.items():
        for n in numbers:
            reason = (reasons or {}).get(n, default[state])
            ports.append(PortResult(n, PortState(state), reason, 0.00012 if state != "filtered"
                                    else None))
    ports.sort(key=lambda p: p.port)
    return ScanResult("server", "198.18.0.20", scan_type, ports, 1.234, len(ports))


def test_at_most_25_of_a_state_are_listed() -> None:
    few = _result({"open": [22], "closed": list(range(100, 125))})  # 25 closed: all listed
    assert hidden_states(few.ports) == []
    assert not_shown_line(few) is None
    assert len(table(few)) == 1 + 26
    many = _result({"open": [22], "closed": list(range(100, 126))})  # 26: hidden
    assert not_shown_line(many) == "Not shown: 26 closed tcp ports (reset)"
    assert table(many) == ["PORT   STATE SERVICE", "22/tcp open  ssh"]


def test_open_is_never_hidden() -> None:
    result = _result({"open": list(range(1000, 1100))})
    assert hidden_states(result.ports) == []
    assert len(table(result)) == 101


def test_several_states_most_numerous_first_split_by_reason() -> None:
    reasons = {p: Reason.ADMIN_PROHIBITED for p in range(2000, 2007)}
    result = _result({"open": [22], "closed": list(range(1, 22)) + list(range(23, 129)),
                      "filtered": list(range(2000, 2072))}, reasons=reasons)
    assert not_shown_line(result) == ("Not shown: 127 closed tcp ports (reset), "
                                      "65 filtered tcp ports (no-response), "
                                      "7 filtered tcp ports (admin-prohibited)")


def test_tie_goes_to_nmaps_lower_state_number() -> None:
    # closed is state 1 and filtered 3 in nmap's portlist.h
    result = _result({"filtered": list(range(1, 31)), "closed": list(range(100, 130))})
    assert hidden_states(result.ports) == ["closed", "filtered"]


def test_all_hidden_says_so() -> None:
    lines = render_normal(_result({"closed": list(range(1, 101))})).splitlines()
    assert lines[2] == "All 100 scanned ports on server (198.18.0.20) are in ignored states."
    assert lines[3] == "Not shown: 100 closed tcp ports (reset)"


@pytest.mark.skipif(OPEN_FILTERED is None, reason="the engine has no open|filtered state")
def test_udp_open_filtered_hidden_and_udp_service_names() -> None:
    result = _result({"open": [53], "closed": [1, 3], "open|filtered": list(range(600, 640))},
                     scan_type="udp")
    assert not_shown_line(result) == "Not shown: 40 open|filtered udp ports (no-response)"
    rows = table(result)
    assert rows[0] == "PORT   STATE  SERVICE"
    assert rows[1].split() == ["1/udp", "closed", report.service(1, "udp")]
    assert rows[-1].split() == ["53/udp", "open", "domain"]


def test_columns_aligned_and_reason_column() -> None:
    result = _result({"open": [22, 8080], "closed": [23], "filtered": [81]},
                     reasons={81: Reason.ADMIN_PROHIBITED})
    rows = table(result, reason=True)
    assert rows == [
        "PORT     STATE    SERVICE    REASON",
        "22/tcp   open     ssh        syn-ack",
        "23/tcp   closed   telnet     reset",
        "81/tcp   filtered hosts2-ns  admin-prohibited",
        "8080/tcp open     http-proxy syn-ack",
    ]


def test_latency_two_significant_digits_like_nmap() -> None:
    assert latency_text(0.000025) == "0.000025"
    assert latency_text(0.00012) == "0.00012"
    assert latency_text(0.0001) == "0.00010"
    assert latency_text(0.0011) == "0.0011"
    assert latency_text(0.17) == "0.17"
    assert latency_text(1.5) == "1.5"


def test_normal_output_lines() -> None:
    lines = render_normal(_result({"open": [22], "closed": [23]})).splitlines()
    assert lines[0] == "wirelab scan report for server (198.18.0.20)"
    assert lines[1] == "Host is up (0.00012s latency)."
    assert lines[-2:] == ["", "wirelab done: 1 IP address (1 host up) scanned in 1.23 seconds"]


def test_notes_printed_under_the_table() -> None:
    result = _result({"open": [22]})
    result.notes = ["the target rate-limits ICMP: this scan slowed down"]
    lines = render_normal(result).splitlines()
    assert lines[lines.index("22/tcp open  ssh") + 1] == result.notes[0]


def test_file_form_has_nmaps_comment_lines() -> None:
    text = render_file(_result({"open": [22]}), command="wirelab scan server -p 22",
                       started=1795625202.0)
    lines = text.splitlines()
    assert lines[0].startswith("# wirelab 0.1.0 scan initiated ")
    assert lines[0].endswith(" as: wirelab scan server -p 22")
    assert lines[1] == "wirelab scan report for server (198.18.0.20)"
    assert lines[-1].startswith("# wirelab done at ")
    assert lines[-1].endswith(" -- 1 IP address (1 host up) scanned in 1.23 seconds")
    assert text.endswith("\n")


def test_service_names_fall_back_to_etc_services(monkeypatch: pytest.MonkeyPatch) -> None:
    assert report._services_text(Path("/nonexistent/nmap-services")) == ""
    monkeypatch.setattr(report, "_services_text", lambda: "")
    assert report.service(22) == "ssh"  # /etc/services
    assert report.service(65000) == "unknown"


def test_nmap_services_table_when_present() -> None:
    if not report.NMAP_SERVICES.exists():
        pytest.skip("nmap is not installed: no nmap-services table")
    assert report.service(8080) == "http-proxy"
    assert report.service(53, "udp") == "domain"
    assert report.service(4) == "unknown"  # nmap's table says "unknown" for 4/tcp


def test_one_port_lookup_equals_the_whole_table() -> None:
    if not report.NMAP_SERVICES.exists():
        pytest.skip("nmap is not installed: no nmap-services table")
    table = report._nmap_services()
    report._looked_up.clear()  # 24 lookups below: each one reads only its port's lines
    for port in (1, 4, 22, 53, 80, 161, 443, 3389, 8080, 31337, 60, 65000):
        for proto in ("tcp", "udp"):
            assert report._lookup(port, proto) == table.get((port, proto)), (port, proto)
    assert report.table_service(4) == "unknown"
    assert report.service(60, "udp") == "unknown"  # and has no entry for 60/udp
    assert report.table_service(60, "udp") is None


def test_xml_keeps_notes_as_comments() -> None:
    from wirelab.recon.xml import render_xml

    result = _result({"open": [22]})
    result.notes = ["rate limit -- slowed"]
    text = render_xml(result, command="wirelab scan server", started=1795625202.0)
    assert "<!-- rate limit -&#45; slowed -->" in text
