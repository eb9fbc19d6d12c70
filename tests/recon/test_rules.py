"""Port lists, nmap's state rules, probe/answer matching and the RTO, without the network."""

from __future__ import annotations

import errno

import pytest

from wirelab.recon import states
from wirelab.recon.ports import PortSpecError, parse_ports
from wirelab.recon.states import PortState, Reason
from wirelab.recon.syn import Cookies, Prober, build_probe, interpret
from wirelab.recon.timing import MAX_RTO, MIN_RTO, RTOEstimator
from wirelab.wire.icmp import ICMP
from wirelab.wire.ipv4 import IPProto, IPv4
from wirelab.wire.tcp import TCP, TCPFlags

US, TARGET, SPORT = "198.18.0.10", "198.18.0.20", 40000
ETH = bytes(12) + b"\x08\x00"


@pytest.mark.parametrize(("spec", "ports"), [
    ("22", [22]), ("80,22,80", [22, 80]), ("1-3,5", [1, 2, 3, 5]), ("-3", [1, 2, 3]),
    ("65534-", [65534, 65535]), ("0", [0]), (" 7 , 9 ", [7, 9]),
])
def test_parse_ports(spec: str, ports: list[int]) -> None:
    assert parse_ports(spec) == ports


def test_parse_all_ports() -> None:
    assert parse_ports("-") == list(range(1, 65536))


@pytest.mark.parametrize(("spec", "message"), [
    ("http", "not a port number"), ("70000", "above 65535"), ("9-3", "runs backwards"),
    ("22,,80", "empty item"), ("1-2-3", "not a port number"),
])
def test_bad_port_lists(spec: str, message: str) -> None:
    with pytest.raises(PortSpecError, match=message):
        parse_ports(spec)


def test_tcp_flag_rules() -> None:
    assert states.from_tcp_flags(TCPFlags.SYN | TCPFlags.ACK) == (PortState.OPEN, Reason.SYN_ACK)
    assert states.from_tcp_flags(TCPFlags.SYN) == (PortState.OPEN, Reason.SPLIT_HANDSHAKE_SYN)
    assert states.from_tcp_flags(TCPFlags.RST | TCPFlags.ACK) == (PortState.CLOSED, Reason.RESET)
    assert states.from_tcp_flags(TCPFlags.ACK) is None


def test_icmp_rules() -> None:
    filtered = {code for code in range(16) if states.from_icmp_unreachable(code)}
    assert filtered == {0, 1, 2, 3, 9, 10, 13}  # nmap's list for a SYN scan
    assert states.from_icmp_unreachable(13) == (PortState.FILTERED, Reason.ADMIN_PROHIBITED)


def test_connect_rules_never_call_a_timeout_closed() -> None:
    assert states.from_connect_errno(0)[0] == PortState.OPEN
    assert states.from_connect_errno(errno.ECONNREFUSED) == (PortState.CLOSED,
                                                             Reason.CONN_REFUSED)
    for err in (errno.ETIMEDOUT, errno.EHOSTUNREACH, errno.ENETUNREACH):
        assert states.from_connect_errno(err)[0] == PortState.FILTERED


def _tcp_reply(cookies: Cookies, port: int, flags: int, ack: int | None = None) -> bytes:
    ack = (cookies.seq(port) + 1) % 2**32 if ack is None else ack
    seg = TCP(port, SPORT, seq=1234, ack=ack, flags=flags).encode(TARGET, US)
    return ETH + IPv4(proto=IPProto.TCP, src=TARGET, dst=US, payload=seg).encode()


def _icmp_reply(probe: bytes, code: int) -> bytes:
    icmp = ICMP(type=3, code=code, payload=probe[:28]).encode()
    return ETH + IPv4(proto=IPProto.ICMP, src=TARGET, dst=US, payload=icmp).encode()


def test_answers_matched_by_cookie() -> None:
    cookies = Cookies(TARGET, SPORT, key=b"k" * 16)
    assert interpret(_tcp_reply(cookies, 80, TCPFlags.SYN | TCPFlags.ACK), cookies) == (
        80, 0, (PortState.OPEN, Reason.SYN_ACK), 64)
    assert interpret(_tcp_reply(cookies, 23, TCPFlags.RST | TCPFlags.ACK), cookies) == (
        23, 0, (PortState.CLOSED, Reason.RESET), 64)
    probe = build_probe(US, TARGET, SPORT, 82, cookies.seq(82))
    assert interpret(_icmp_reply(probe, 13), cookies) == (
        82, 0, (PortState.FILTERED, Reason.ADMIN_PROHIBITED), 64)


def test_try_number_from_source_port() -> None:
    # Like nmap, the try number is in the source port: base + try.
    cookies = Cookies(TARGET, SPORT, key=b"k" * 16)
    seg = TCP(80, SPORT + 2, seq=1, ack=cookies.seq(80) + 1,
              flags=TCPFlags.SYN | TCPFlags.ACK).encode(TARGET, US)
    frame = ETH + IPv4(proto=IPProto.TCP, src=TARGET, dst=US, payload=seg).encode()
    assert interpret(frame, cookies) == (80, 2, (PortState.OPEN, Reason.SYN_ACK), 64)
    probe = build_probe(US, TARGET, SPORT + 1, 82, cookies.seq(82))
    assert interpret(_icmp_reply(probe, 13), cookies) == (
        82, 1, (PortState.FILTERED, Reason.ADMIN_PROHIBITED), 64)
    too_far = build_probe(US, TARGET, SPORT - 1, 82, cookies.seq(82))  # not one of ours
    assert interpret(_icmp_reply(too_far, 13), cookies) is None


def test_stray_packets_ignored() -> None:
    cookies = Cookies(TARGET, SPORT, key=b"k" * 16)
    wrong_ack = _tcp_reply(cookies, 80, TCPFlags.SYN | TCPFlags.ACK, ack=cookies.seq(81) + 1)
    assert interpret(wrong_ack, cookies) is None
    other_key = Cookies(TARGET, SPORT, key=b"x" * 16)  # another scan's probe
    assert interpret(_tcp_reply(other_key, 80, TCPFlags.RST | TCPFlags.ACK), cookies) is None
    forged = build_probe(US, TARGET, SPORT, 82, cookies.seq(82) ^ 1)
    assert interpret(_icmp_reply(forged, 13), cookies) is None
    probe = build_probe(US, TARGET, SPORT, 82, cookies.seq(82))
    assert interpret(_icmp_reply(probe, 4), cookies) is None  # frag needed says nothing
    assert interpret(ETH + b"\x45garbage", cookies) is None


def test_probe_is_a_valid_syn() -> None:
    wire = build_probe(US, TARGET, SPORT, 443, 0xDEADBEEF)
    ip = IPv4.decode(wire)
    assert ip.checksum_ok and (ip.src, ip.dst, ip.proto) == (US, TARGET, IPProto.TCP)
    tcp = TCP.decode(ip.payload)
    assert (tcp.sport, tcp.dport, tcp.seq, tcp.flags) == (SPORT, 443, 0xDEADBEEF, TCPFlags.SYN)
    assert tcp.checksum_ok(US, TARGET)


def test_fast_probe_equals_codec_probe() -> None:
    cookies = Cookies(TARGET, SPORT, key=b"k" * 16)
    prober = Prober(US, TARGET, SPORT, cookies)
    for port, tryno in [(1, 0), (80, 1), (443, 0), (65535, 5), (8080, 15)]:
        fast = prober.packet(port, tryno)
        ref = build_probe(US, TARGET, SPORT + tryno, port, cookies.seq(port))
        # the kernel fills in total length, id and header checksum: those may differ
        assert fast[:2] + fast[4:10] + fast[12:] == ref[:2] + ref[4:10] + ref[12:]
        tcp = TCP.decode(fast[20:])
        assert tcp.checksum_ok(US, TARGET)


def test_cookies_differ_by_key_target_and_port() -> None:
    one = Cookies(TARGET, SPORT, key=b"k" * 16)
    assert one.seq(80) == Cookies(TARGET, SPORT, key=b"k" * 16).seq(80)
    assert one.seq(80) != Cookies(TARGET, SPORT, key=b"x" * 16).seq(80)
    assert one.seq(80) != Cookies("198.18.0.21", SPORT, key=b"k" * 16).seq(80)
    assert len({one.seq(p) for p in range(1, 1001)}) > 990  # 32-bit values barely collide


def test_rto_follows_rfc6298() -> None:
    est = RTOEstimator()
    assert est.rto == 0.5
    est.sample(0.2)  # SRTT 0.2, RTTVAR 0.1 -> 0.6
    assert est.rto == pytest.approx(0.6)
    est.sample(0.2)  # RTTVAR 0.075, SRTT 0.2 -> 0.5
    assert est.rto == pytest.approx(0.5)
    fast = RTOEstimator()
    fast.sample(0.0001)
    assert fast.rto == MIN_RTO
    slow = RTOEstimator()
    slow.sample(5.0)
    assert slow.rto == MAX_RTO


def test_flag_constants_match_the_codec() -> None:
    assert (states.FIN, states.SYN, states.RST, states.PSH, states.ACK) == (
        TCPFlags.FIN, TCPFlags.SYN, TCPFlags.RST, TCPFlags.PSH, TCPFlags.ACK)
