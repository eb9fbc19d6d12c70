"""The verifiers on captures built by hand (no lab): each PASS and FAIL reason on its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from wirelab import samples
from wirelab.check import exercise
from wirelab.check.counts import ground_truth, parse_counts
from wirelab.check.model import Evidence, Verdict
from wirelab.check.module1 import _check_request
from wirelab.observe.packets import load
from wirelab.samples import CLIENT, SERVER, tcp4, udp4
from wirelab.wire.custom import Custom
from wirelab.wire.icmp import ICMP, ICMPType
from wirelab.wire.ipv4 import IPProto
from wirelab.wire.tcp import TCPFlags

SYN, ACK, FIN, PSH, RST = (TCPFlags.SYN, TCPFlags.ACK, TCPFlags.FIN, TCPFlags.PSH,
                           TCPFlags.RST)


def judge(tmp_path: Path, ex_id: str, frames: list[bytes]) -> Verdict:
    path = tmp_path / "c.pcap"
    samples.write_pcap(path, [(samples.START_NS + i * 1000, f) for i, f in enumerate(frames)])
    return exercise(ex_id).verify(Evidence(load(path), path))


def test_sample_trace_passes_what_it_holds(tmp_path: Path) -> None:
    path = tmp_path / "sample.pcap"
    samples.write_pcap(path, samples.curriculum_trace())
    for ex_id in ("1.2", "2.1", "2.2", "2.4"):
        verdict = exercise(ex_id).verify(Evidence(load(path), path))
        assert verdict.passed, (ex_id, verdict.reason)
    # it holds two datagrams to port 8000 (1.1's and 1.4's), so 1.1 must say so
    verdict = exercise("1.1").verify(Evidence(load(path), path))
    assert verdict.reason == "2 datagrams to 198.18.0.20:8000, expected one"


def test_udp_answered_fails(tmp_path: Path) -> None:
    verdict = judge(tmp_path, "1.1", [udp4(CLIENT, SERVER, 4000, 8000, b"hi"),
                                      udp4(SERVER, CLIENT, 8000, 4000, b"hi")])
    assert not verdict.passed and verdict.reason.startswith("the server sent something back")


def test_raw_udp_bad_checksum_and_port(tmp_path: Path) -> None:
    good = udp4(CLIENT, SERVER, 12345, 8000, b"hand made")
    assert judge(tmp_path, "1.4", [good]).passed
    broken = bytearray(good)
    broken[-9 - 1] ^= 0xFF  # the low checksum octet (8-octet UDP header then 9 data octets)
    verdict = judge(tmp_path, "1.4", [bytes(broken)])
    assert not verdict.passed and "is wrong" in verdict.reason
    verdict = judge(tmp_path, "1.4", [udp4(CLIENT, SERVER, 5555, 8000, b"x")])
    assert verdict.reason == "source port 5555, expected 12345"


def _handshake(ack_from: int, rst: bool = False) -> list[bytes]:
    frames = [tcp4(CLIENT, SERVER, 40000, 80, 100, 0, SYN),
              tcp4(SERVER, CLIENT, 80, 40000, 900, 101, SYN | ACK)]
    if rst:
        frames.append(tcp4(CLIENT, SERVER, 40000, 80, 101, 0, RST))
    frames.append(tcp4(CLIENT, SERVER, ack_from, 80, 101, 901, ACK))
    return frames


def test_handshake_reasons(tmp_path: Path) -> None:
    assert judge(tmp_path, "2.2", _handshake(40000)).passed
    verdict = judge(tmp_path, "2.2", _handshake(40000, rst=True))
    assert verdict.reason.startswith("the client sent RST")
    verdict = judge(tmp_path, "2.2", _handshake(41000, rst=True))
    assert verdict.reason.startswith("the ACK left from port 41000 but the SYN from port 40000")
    wrong = _handshake(40000)[:2] + [tcp4(CLIENT, SERVER, 40000, 80, 101, 900, ACK)]
    verdict = judge(tmp_path, "2.2", wrong)
    assert verdict.reason.startswith("the ACK has seq=101 ack=900, expected seq=101 ack=901")


def test_ping_without_reply_fails(tmp_path: Path) -> None:
    req = ICMP(type=ICMPType.ECHO_REQUEST, id=1, seq=1, payload=b"x").encode()
    frame = samples.ether(CLIENT, SERVER, samples.ipv4(CLIENT, SERVER, IPProto.ICMP, req))
    verdict = judge(tmp_path, "2.1", [frame])
    assert verdict.reason.startswith("1 echo request(s) but no echo reply")


def test_custom_fields(tmp_path: Path) -> None:
    body = b"This is my custom data"
    wrong_type = Custom(version=2, type=7, payload=body).encode()
    verdict = judge(tmp_path, "2.4", [udp4(CLIENT, SERVER, 999, 12345, wrong_type)])
    assert verdict.reason == "version=2 type=7, the curriculum sends version=2 type=1"
    verdict = judge(tmp_path, "2.4", [udp4(CLIENT, SERVER, 999, 12345, b"ab")])
    assert "too short for the 4-byte custom header" in verdict.reason


@pytest.mark.parametrize(("head", "reason"), [
    (b"GET / HTTP/1.1\r\nHost: s\r\n\r\n", None),
    (b"GET / HTTP/1.1\nHost: s\n\n", "LF only"),
    (b"GET / HTTP/1.1\r\nHost: s\nX: y\r\n\r\n", "bare LF"),
    (b"GET / HTTP/1.1\r\nHost: s\r\n", "not ended by an empty line"),
    (b"POST / HTTP/1.1\r\n\r\n", "expected a GET"),
    (b"hello\r\n\r\n", "not an HTTP/1 request line"),
])
def test_request_head(head: bytes, reason: str | None) -> None:
    got = _check_request(head)
    assert (got is None) if reason is None else (got is not None and reason in got)


def test_parse_counts() -> None:
    curriculum = ("Starting...\n\rHTTP: 1 | DNS: 2\rHTTP: 1 | DNS: 3\n\nSniffing complete. "
                  "Final counts:\n{'HTTP': 1, 'DNS': 3, 'ICMP': 0, 'Other IP': 0}\n")
    assert parse_counts(curriculum) == {"HTTP": 1, "DNS": 3, "ICMP": 0, "Other IP": 0}
    assert parse_counts('{"counts": {"TCP": 4}, "total": 4}') == {"TCP": 4}
    assert parse_counts("no counts here {not a dict}") is None


def test_ground_truth_counts_every_frame(tmp_path: Path) -> None:
    path = tmp_path / "sample.pcap"
    written = samples.write_pcap(path, samples.curriculum_trace())
    truth = ground_truth(path)
    assert sum(truth.values()) == written
    assert truth["ARP"] == 2 and truth["DNS"] == 2 and truth["HTTP"] == 2


def test_http_requests_only_is_an_accepted_reading(tmp_path: Path) -> None:
    path = tmp_path / "sample.pcap"
    samples.write_pcap(path, samples.curriculum_trace())
    truth = ground_truth(path)
    # the sample holds one request and one response: the curriculum's counter (HTTPRequest
    # only) counts the response as TCP, and that is accepted too
    scapy_style = {"HTTP": truth["HTTP"] - 1, "TCP": truth["TCP"] + 1, "DNS": truth["DNS"]}
    ev = Evidence(load(path), path, program_stdout=repr(scapy_style))
    verdict = exercise("2.3").verify(ev)
    assert verdict.passed and "requests only" in verdict.reason
    off_by_one = dict(scapy_style, DNS=truth["DNS"] + 1)
    ev = Evidence(load(path), path, program_stdout=repr(off_by_one))
    verdict = exercise("2.3").verify(ev)
    assert not verdict.passed and f"DNS {truth['DNS'] + 1} (capture: {truth['DNS']})" in \
        verdict.reason


def test_offloaded_checksum_is_not_wrong_but_a_bad_one_is(tmp_path: Path) -> None:
    import socket as so

    from wirelab.wire.checksum import pseudo_int

    body = Custom(version=2, type=1, payload=b"This is my custom data").encode()
    frame = bytearray(udp4(CLIENT, SERVER, 999, 12345, body))
    at = len(frame) - len(body) - 2  # the checksum field: the last 2 octets of the header
    partial = pseudo_int(so.inet_aton(CLIENT[1]), so.inet_aton(SERVER[1]), 17,
                         8 + len(body)) % 0xFFFF
    frame[at:at + 2] = partial.to_bytes(2, "big")  # what the kernel leaves for the NIC
    assert judge(tmp_path, "2.4", [bytes(frame)]).passed
    frame[at:at + 2] = ((partial + 1) % 0xFFFF).to_bytes(2, "big")
    assert judge(tmp_path, "2.4", [bytes(frame)]).reason.startswith("UDP checksum 0x")
