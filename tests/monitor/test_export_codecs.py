"""NetFlow v5 and IPFIX encoders: byte layouts from the specs, round trips, splitting rules."""

from __future__ import annotations

import socket
import struct
from collections import Counter

import pytest

from wirelab.errors import DecodeError, EncodeError, TruncatedError
from wirelab.monitor.export import ipfix, netflow5
from wirelab.monitor.export.records import UniFlow, history_flags, split

T0 = 1_764_079_200_000  # epoch ms


def uni(i: int, src: str = "198.18.0.10", dst: str = "198.18.0.20") -> UniFlow:
    return UniFlow(src, dst, 40000 + i, 80, 6, 3 + i, 180 + i, T0 + i, T0 + 1000 + 7 * i, 0x1B)


# --- NetFlow v5 ----------------------------------------------------------------------------


def test_v5_datagram_bytes_match_ciscos_layout() -> None:
    """One record laid out by hand from Cisco's table (independent of the module's struct)."""
    flow = UniFlow("198.18.0.10", "198.18.0.20", 40000, 80, 6, 9, 1234, T0 + 5, T0 + 2005, 0x1B)
    exp = netflow5.Exporter(boot_ms=T0)
    data = exp.datagram([flow])
    now = T0 + 2005
    expected = (
        "0005" "0001" + f"{2005:08x}" + f"{now // 1000:08x}" + f"{(now % 1000) * 10**6:08x}"
        + "00000000" "00" "00" "0000"                      # sequence, engine type/id, sampling
        + "c612000a" "c6120014" "00000000" "0000" "0000"   # src, dst, nexthop, input, output
        + f"{9:08x}" + f"{1234:08x}" + f"{5:08x}" + f"{2005:08x}"  # dPkts dOctets first last
        + f"{40000:04x}" "0050" "00" "1b" "06" "00"          # ports, pad1, flags, proto, tos
        + "0000" "0000" "00" "00" "0000"                     # AS, masks, pad2
    )
    assert data.hex() == expected
    assert len(data) == 24 + 48


def test_v5_round_trip_30_per_datagram_and_sequence_counts_records() -> None:
    flows = [uni(i) for i in range(65)]
    exp = netflow5.Exporter()
    grams = list(exp.datagrams(flows))
    assert [len(g) for g in grams] == [24 + 30 * 48, 24 + 30 * 48, 24 + 5 * 48]
    decoded: list[UniFlow] = []
    seqs = []
    for g in grams:
        header, records = netflow5.decode(g)
        seqs.append(header.flow_sequence)
        assert header.count == len(records)
        decoded += records
    assert seqs == [0, 30, 60]
    assert decoded == flows
    assert exp.sequence == 65


def test_v5_uptime_is_counted_from_boot_and_header_time_is_export_time() -> None:
    exp = netflow5.Exporter()
    header, _ = netflow5.decode(exp.datagram([uni(3), uni(1)]))
    # boot = earliest first; export time = latest last
    assert exp.boot_ms == T0 + 1
    last = T0 + 1000 + 21
    assert header.sys_uptime == last - (T0 + 1)
    assert header.unix_secs * 1000 + header.unix_nsecs // 10**6 == last


def test_v5_a_flow_older_than_boot_moves_boot_back() -> None:
    """Flows leave as they end: a long flow that started first may come after short ones."""
    exp = netflow5.Exporter()
    later, older = uni(9), uni(2)
    first = netflow5.decode(exp.datagram([later]))
    second = netflow5.decode(exp.datagram([older]))
    assert exp.boot_ms == older.first_ms
    assert first[1] == [later] and second[1] == [older]  # absolute times intact in both
    assert second[0].sys_uptime == older.last_ms - older.first_ms


def test_v5_skips_ipv6_and_refuses_bad_counts() -> None:
    exp = netflow5.Exporter()
    grams = list(exp.datagrams([uni(0), uni(1, "2001:db8::a", "2001:db8::14")]))
    assert len(grams) == 1 and netflow5.decode(grams[0])[0].count == 1
    assert exp.skipped == 1
    with pytest.raises(EncodeError, match="1 to 30"):
        exp.datagram([uni(i) for i in range(31)])


def test_v5_decode_errors() -> None:
    good = netflow5.Exporter().datagram([uni(0)])
    with pytest.raises(TruncatedError, match="NetFlow5.header"):
        netflow5.decode(good[:20])
    with pytest.raises(TruncatedError, match="NetFlow5.records"):
        netflow5.decode(good[:-1])
    with pytest.raises(DecodeError, match="version"):
        netflow5.decode(b"\x00\x09" + good[2:])


# --- IPFIX ---------------------------------------------------------------------------------


def test_ipfix_template_set_layout() -> None:
    ts = ipfix.template_set()
    set_id, length = struct.unpack_from("!HH", ts)
    assert set_id == 2 and length == len(ts)
    tid, count = struct.unpack_from("!HH", ts, 4)
    assert (tid, count) == (256, 10)
    ies = [struct.unpack_from("!HH", ts, 8 + 4 * i) for i in range(count)]
    assert ies == [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (6, 2), (1, 8), (2, 8),
                   (152, 8), (153, 8)]


def test_ipfix_round_trip_v4_and_v6_with_sequence_of_data_records() -> None:
    flows = [uni(i) if i % 3 else uni(i, f"2001:db8::{i + 1:x}", "2001:db8::14")
             for i in range(100)]
    exp = ipfix.Exporter(domain=7, template_every=3)
    msgs = list(exp.messages_for(flows))
    assert all(len(m) <= ipfix.MAX_MESSAGE for m in msgs)
    dec = ipfix.Decoder()
    out: list[UniFlow] = []
    seen = 0
    for i, m in enumerate(msgs):
        version, length, _t, seq, domain = struct.unpack_from("!HHIII", m)
        assert (version, length, domain) == (10, len(m), 7)
        assert seq == seen  # RFC 7011 3.1: data records sent before this message
        msg = dec.decode(m)
        assert msg.templates == ([256, 257] if i % 3 == 0 else [])
        seen += len(msg.flows)
        out += msg.flows
    assert sorted(out, key=lambda f: f.sport) == sorted(flows, key=lambda f: f.sport)
    assert exp.sequence == 100


def test_ipfix_export_time_and_data_before_template() -> None:
    exp = ipfix.Exporter(template_every=1000)
    first, *_ = exp.messages_for([uni(0)])
    second = exp.message([uni(5)])
    assert struct.unpack_from("!I", second, 4)[0] == (T0 + 1035) // 1000
    fresh = ipfix.Decoder()
    assert fresh.decode(second).flows == []  # no template yet: records cannot be read
    assert fresh.decode(first).flows == [uni(0)]
    assert fresh.decode(second).flows == [uni(5)]


def test_ipfix_decode_errors() -> None:
    m = ipfix.Exporter().message([uni(0)])
    with pytest.raises(TruncatedError, match="IPFIX.header"):
        ipfix.Decoder().decode(m[:10])
    with pytest.raises(DecodeError, match="version"):
        ipfix.Decoder().decode(b"\x00\x05" + m[2:])
    with pytest.raises(DecodeError, match="set length"):
        ipfix.Decoder().decode(m[:16] + b"\x00\x02\x00\x01" + m[20:])


# --- bidirectional to unidirectional -------------------------------------------------------


def conn(**over: object) -> dict[str, object]:
    r: dict[str, object] = {
        "ts": 1764079200.25, "uid": "Cx", "id.orig_h": "198.18.0.10", "id.orig_p": 40000,
        "id.resp_h": "198.18.0.20", "id.resp_p": 80, "proto": "tcp", "duration": 1.5,
        "orig_bytes": 50, "resp_bytes": 900, "conn_state": "SF", "history": "ShADadFf",
        "orig_pkts": 5, "resp_pkts": 4, "orig_ip_bytes": 310, "resp_ip_bytes": 1110,
    }
    r.update(over)
    return r


def test_split_gives_both_directions_with_ip_bytes_and_flags() -> None:
    a, b = split(conn())
    assert (a.src, a.sport, a.dst, a.dport, a.packets, a.octets) == (
        "198.18.0.10", 40000, "198.18.0.20", 80, 5, 310)
    assert (b.src, b.sport, b.dst, b.dport, b.packets, b.octets) == (
        "198.18.0.20", 80, "198.18.0.10", 40000, 4, 1110)
    assert (a.first_ms, a.last_ms) == (b.first_ms, b.last_ms) == (1764079200250, 1764079201750)
    assert a.tcp_flags == 0x02 | 0x10 | 0x01  # S A D F
    assert b.tcp_flags == 0x12 | 0x01  # h a d f
    assert a.proto == 6 and a.ip_bytes


def test_split_one_way_flow_and_payload_fallback() -> None:
    r = conn(history="S", conn_state="S0", resp_pkts=0, resp_bytes=0, orig_pkts=2,
             orig_ip_bytes=None)
    (only,) = split(r)
    assert only.tcp_flags == 0x02 and only.packets == 2 and only.octets == 50
    assert not only.ip_bytes


def test_split_icmp_pairs_and_others() -> None:
    echo = conn(proto="icmp", **{"id.orig_p": 8, "id.resp_p": 0}, history="")
    req, rep = split(echo)
    assert (req.proto, req.sport, req.dport, rep.dport, req.tcp_flags) == (1, 0, 8 * 256, 0, 0)
    unreach = conn(proto="icmp", **{"id.orig_p": 3, "id.resp_p": 3}, resp_pkts=0)
    assert [f.dport for f in split(unreach)] == [3 * 256 + 3]
    v6 = conn(proto="icmp", **{"id.orig_h": "2001:db8::a", "id.resp_h": "2001:db8::14",
                               "id.orig_p": 128, "id.resp_p": 129})
    assert [(f.proto, f.dport) for f in split(v6)] == [(58, 128 * 256), (58, 129 * 256)]


def test_history_flags_reads_case_as_direction() -> None:
    assert history_flags("ShAdFr", True) == 0x02 | 0x10 | 0x01
    assert history_flags("ShAdFr", False) == 0x12 | 0x10 | 0x04


# --- properties ----------------------------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_v4 = st.ip_addresses(v=4).map(str)
# the text form socket.inet_ntop gives, as flows and collectors write addresses
_v6 = st.ip_addresses(v=6).map(lambda a: socket.inet_ntop(socket.AF_INET6, a.packed))
_u16 = st.integers(0, 0xFFFF)
_u32 = st.integers(0, 0xFFFFFFFF)


@st.composite
def uniflows(draw: st.DrawFn, v6: bool = False) -> UniFlow:
    addr = _v6 if v6 else _v4
    first = draw(st.integers(T0, T0 + 10**9))
    return UniFlow(draw(addr), draw(addr), draw(_u16), draw(_u16), draw(st.integers(0, 255)),
                   draw(_u32), draw(_u32), first, first + draw(st.integers(0, 10**8)),
                   draw(st.integers(0, 255)))


@settings(max_examples=60, deadline=None)
@given(st.lists(uniflows(), min_size=1, max_size=70))
def test_v5_round_trip_property(flows: list[UniFlow]) -> None:
    exp = netflow5.Exporter()
    out = [f for g in exp.datagrams(flows) for f in netflow5.decode(g)[1]]
    assert out == flows


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(uniflows(), uniflows(v6=True)), min_size=1, max_size=70),
       st.integers(1, 5))
def test_ipfix_round_trip_property(flows: list[UniFlow], every: int) -> None:
    exp = ipfix.Exporter(template_every=every)
    dec = ipfix.Decoder()
    out = [f for m in exp.messages_for(flows) for f in dec.decode(m).flows]
    assert Counter(out) == Counter(flows)  # IPv4 and IPv6 go in separate data sets


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_decoders_raise_only_decode_errors(data: bytes) -> None:
    for decode in (netflow5.decode, ipfix.Decoder().decode):
        try:
            decode(data)
        except DecodeError:
            pass


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_ipfix_decoder_after_a_template_raises_only_decode_errors(tail: bytes) -> None:
    dec = ipfix.Decoder()
    dec.decode(ipfix.Exporter().message([uni(0)]))
    header = struct.pack("!HHIII", 10, 16 + len(tail), 0, 0, 0)
    try:
        dec.decode(header + tail)
    except DecodeError:
        pass
