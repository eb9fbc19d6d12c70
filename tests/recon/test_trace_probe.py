"""Traceroute probes built by the wire codecs: sizes, checksums, what identifies each probe
(classic vs Paris), and how answers are tied back to probes (and strays are not)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wirelab.recon.trace_probe import (
    FINAL,
    HOP,
    METHODS,
    ProbeFactory,
    interpret,
    quote_fields,
    steer,
    unreachable_mark,
)
from wirelab.wire.checksum import checksum_from_int
from wirelab.wire.icmp import ICMP, ICMPType
from wirelab.wire.ipv4 import IPProto, IPv4
from wirelab.wire.tcp import TCP, TCPFlags
from wirelab.wire.udp import UDP

SRC, DST, ROUTER = "198.18.0.10", "198.18.3.2", "198.18.1.2"


def factory(method: str, paris: bool, port: int | None = None) -> ProbeFactory:
    return ProbeFactory(method, SRC, DST, paris=paris, ident=40001, seq_base=777, port=port)


def flow_id(packet: bytes) -> tuple[str, str, int, bytes]:
    """What a per-flow load balancer hashes: addresses, protocol, the first 4 transport bytes
    (the two ports; for ICMP type, code and checksum)."""
    ip = IPv4.decode(packet)
    return ip.src, ip.dst, int(ip.proto), bytes(ip.payload[:4])


def checksums_ok(packet: bytes) -> bool:
    ip = IPv4.decode(packet)
    if ip.proto == IPProto.UDP:
        return bool(UDP.decode(ip.payload).checksum_ok(ip.src, ip.dst))
    if ip.proto == IPProto.TCP:
        return bool(TCP.decode(ip.payload).checksum_ok(ip.src, ip.dst))
    return bool(ICMP.decode(ip.payload).checksum_ok) and ip.checksum_ok


@pytest.mark.parametrize("paris", [False, True])
@pytest.mark.parametrize("method", METHODS)
def test_probes_are_60_bytes_with_valid_checksums(method: str, paris: bool) -> None:
    f = factory(method, paris)
    for index in range(90):
        probe = f.build(index, index // 3 + 1)
        ip = IPv4.decode(probe.packet)
        assert len(probe.packet) == 60  # traceroute's "60 byte packets"
        assert ip.ttl == index // 3 + 1 and ip.checksum_ok
        assert checksums_ok(probe.packet), (method, paris, index)
        assert probe.quote == bytes(ip.payload[:8])


@pytest.mark.parametrize("method", METHODS)
def test_paris_keeps_the_flow_and_still_tells_probes_apart(method: str) -> None:
    probes = [factory(method, True).build(i, i // 3 + 1) for i in range(90)]
    assert len({flow_id(p.packet) for p in probes}) == 1
    assert len({p.quote for p in probes}) == 90  # each probe still identifiable in a quote


@pytest.mark.parametrize("method", METHODS)
def test_classic_changes_the_flow_every_probe(method: str) -> None:
    probes = [factory(method, False).build(i, 1) for i in range(90)]
    assert len({flow_id(p.packet) for p in probes}) == 90
    assert len({p.quote for p in probes}) == 90


def test_classic_udp_ports_as_linux_traceroute() -> None:
    f = factory("udp", False)
    dports = [quote_fields("udp", f.build(i, 1).quote)["dport"] for i in range(5)]
    assert dports == [33434, 33435, 33436, 33437, 33438]
    assert quote_fields("udp", factory("udp", False, port=5000).build(2, 1).quote)["dport"] \
        == 5002


def test_paris_udp_checksum_is_the_probe_number() -> None:
    f = factory("udp", True)
    sums = [quote_fields("udp", f.build(i, 1).quote)["checksum"] for i in range(4)]
    assert sums == [778, 779, 780, 781]  # seq_base + index + 1


def test_paris_icmp_checksum_constant_sequence_counts() -> None:
    f = factory("icmp", True)
    fields = [quote_fields("icmp", f.build(i, 1).quote) for i in range(5)]
    assert len({x["checksum"] for x in fields}) == 1
    assert [x["seq"] for x in fields] == [1, 2, 3, 4, 5]
    assert {x["id"] for x in fields} == {40001}


def test_tcp_probe_is_linux_syn() -> None:
    ip = IPv4.decode(factory("tcp", False).build(0, 1).packet)
    tcp = TCP.decode(ip.payload)
    assert tcp.flags == TCPFlags.SYN and tcp.dport == 80 and tcp.window == 5840
    assert [type(o).__name__ for o in tcp.options] == ["MSS", "SACKPermitted", "Timestamps",
                                                      "NOP", "WindowScale"]


@given(st.integers(0, 2**40), st.integers(1, 0xFFFE))
def test_steer_gives_the_wanted_checksum(total: int, want: int) -> None:
    assert checksum_from_int(total + steer(total, want)) == want


def time_exceeded(probe_packet: bytes, router: str = ROUTER, dst: str = SRC) -> IPv4:
    """What a Linux router sends: IP header + first 8 bytes of the dropped probe (RFC 792)."""
    quoted = bytearray(probe_packet[:28])
    quoted[8] = 1  # the TTL as it arrived
    icmp = ICMP(ICMPType.TIME_EXCEEDED, 0, payload=bytes(quoted)).encode()
    return IPv4.decode(IPv4(ttl=63, proto=IPProto.ICMP, src=router, dst=dst,
                            payload=icmp).encode())


def unreachable(probe_packet: bytes, code: int, source: str = DST) -> IPv4:
    icmp = ICMP(ICMPType.DEST_UNREACHABLE, code, payload=probe_packet[:28]).encode()
    return IPv4.decode(IPv4(proto=IPProto.ICMP, src=source, dst=SRC, payload=icmp).encode())


@pytest.mark.parametrize("paris", [False, True])
@pytest.mark.parametrize("method", METHODS)
def test_time_exceeded_carries_the_probe_quote(method: str, paris: bool) -> None:
    f = factory(method, paris)
    probe = f.build(7, 3)
    answer = interpret(time_exceeded(probe.packet), f)
    assert answer is not None and answer.kind == HOP and answer.source == ROUTER
    assert answer.quote == probe.quote
    assert answer.quote != f.build(8, 3).quote  # the next probe would not match


def test_strays_are_not_answers() -> None:
    f = factory("udp", False)
    probe = f.build(0, 1)
    other_target = ProbeFactory("udp", SRC, "198.18.9.9", ident=40001).build(0, 1)
    other_proto = factory("icmp", False).build(0, 1)
    assert interpret(time_exceeded(other_target.packet), f) is None
    assert interpret(time_exceeded(other_proto.packet), f) is None
    assert interpret(time_exceeded(probe.packet, dst="198.18.0.99"), f) is None
    echo = ICMP(ICMPType.ECHO_REPLY, 0, id=40001, seq=1).encode()
    reply = IPv4.decode(IPv4(proto=IPProto.ICMP, src=DST, dst=SRC, payload=echo).encode())
    assert interpret(reply, f) is None  # an echo reply answers no UDP probe


def test_destination_answers() -> None:
    f = factory("udp", False)
    probe = f.build(4, 2)
    answer = interpret(unreachable(probe.packet, 3), f)
    assert answer is not None and (answer.kind, answer.mark, answer.quote) == (FINAL, "",
                                                                               probe.quote)
    fi = factory("icmp", True)
    probe = fi.build(5, 2)
    ip = IPv4.decode(probe.packet)
    request = ICMP.decode(ip.payload)
    echo = ICMP(ICMPType.ECHO_REPLY, 0, id=request.id, seq=request.seq,
                payload=bytes(request.payload)).encode()
    reply = IPv4.decode(IPv4(proto=IPProto.ICMP, src=DST, dst=SRC, payload=echo).encode())
    answer = interpret(reply, fi)
    assert answer is not None and answer.kind == FINAL and answer.direct == probe.direct
    ft = factory("tcp", False)
    probe = ft.build(6, 2)
    syn = TCP.decode(IPv4.decode(probe.packet).payload)
    for flags in (TCPFlags.SYN | TCPFlags.ACK, TCPFlags.RST | TCPFlags.ACK):
        seg = TCP(syn.dport, syn.sport, seq=0, ack=(syn.seq + 1) % 2**32, flags=flags)
        ip = IPv4.decode(IPv4(src=DST, dst=SRC, payload=seg.encode(DST, SRC)).encode())
        answer = interpret(ip, ft)
        assert answer is not None and answer.direct == probe.direct


@pytest.mark.parametrize(("code", "mark"), [
    (0, "!N"), (1, "!H"), (2, "!P"), (3, ""), (5, "!S"), (6, "!N"), (7, "!H"), (9, "!X"),
    (10, "!X"), (13, "!X"), (14, "!V"), (15, "!C"), (99, "!<99>")])
def test_unreachable_marks_as_linux_traceroute(code: int, mark: str) -> None:
    assert unreachable_mark(code) == mark
    f = factory("udp", False)
    answer = interpret(unreachable(f.build(0, 1).packet, code, ROUTER), f)
    assert answer is not None and answer.kind == FINAL and answer.mark == mark


def test_frag_needed_mark_carries_the_mtu() -> None:
    assert unreachable_mark(4, 1400) == "!F-1400"


@pytest.mark.parametrize("paris", [False, True])
@pytest.mark.parametrize("method", METHODS)
def test_scapy_agrees_on_every_checksum(method: str, paris: bool) -> None:
    """An independent implementation: Scapy recomputes each checksum from scratch (fields
    deleted, packet rebuilt) and must get what the probe carries, payload tweaks included."""
    from scapy.layers.inet import ICMP as SICMP
    from scapy.layers.inet import IP as SIP
    from scapy.layers.inet import TCP as STCP
    from scapy.layers.inet import UDP as SUDP

    layer = {"udp": SUDP, "icmp": SICMP, "tcp": STCP}[method]
    f = factory(method, paris)
    for index in range(12):
        packet = f.build(index, index // 3 + 1).packet
        parsed = SIP(packet)
        rebuilt = parsed.copy()
        del rebuilt.chksum
        del rebuilt[layer].chksum
        again = SIP(bytes(rebuilt))
        assert again.chksum == parsed.chksum
        assert again[layer].chksum == parsed[layer].chksum, (method, paris, index)


def test_fixed_sport_keeps_classic_tcp_on_one_port() -> None:
    f = ProbeFactory("tcp", SRC, DST, ident=40007, seq_base=5, fixed_sport=True)
    fields = [quote_fields("tcp", f.build(i, 1).quote) for i in range(4)]
    assert {(x["sport"], x["dport"]) for x in fields} == {(40007, 80)}
    assert [x["seq"] for x in fields] == [5, 6, 7, 8]
