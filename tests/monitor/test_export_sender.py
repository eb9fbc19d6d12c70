"""The UDP sender: collector scope, batching, the one-second wait, pacing-free delivery."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from wirelab.errors import WirelabError
from wirelab.monitor.export import ipfix, netflow5
from wirelab.monitor.export.sender import Sender, parse_collector

from .test_export_codecs import conn


@pytest.fixture
def collector() -> Iterator[socket.socket]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(0.2)
        yield s


def received(sock: socket.socket) -> list[bytes]:
    out = []
    while True:
        try:
            out.append(sock.recv(65535))
        except TimeoutError:
            return out


@pytest.mark.parametrize("text, ok", [
    ("127.0.0.1:2055", ("127.0.0.1", 2055)), ("localhost:4739", ("127.0.0.1", 4739)),
    ("[::1]:4739", ("::1", 4739)), ("127.9.9.9:1", ("127.9.9.9", 1)),
])
def test_loopback_collectors_are_accepted(text: str, ok: tuple[str, int]) -> None:
    assert parse_collector(text, env={}) == ok


@pytest.mark.parametrize("text, env, fragment", [
    ("8.8.8.8:2055", {}, "refusing to export to 8.8.8.8"),
    ("198.18.0.20:2055", {}, "refusing"),
    ("10.0.0.1:2055", {"WIRELAB_LAB": "t1"}, "refusing"),
    ("2001:db8::1:2055", {}, "refusing"),
    ("collector.example:2055", {}, "give an IP address"),
    ("127.0.0.1", {}, "expected HOST:PORT"),
    ("127.0.0.1:0", {}, "expected HOST:PORT"),
    ("127.0.0.1:70000", {}, "expected HOST:PORT"),
])
def test_other_collectors_are_refused_in_one_line(text: str, env: dict[str, str],
                                                  fragment: str) -> None:
    with pytest.raises(WirelabError, match=fragment) as info:
        parse_collector(text, env=env)
    assert info.value.exit_code == 2 and "\n" not in str(info.value)


def test_lab_collector_allowed_from_inside_the_lab() -> None:
    assert parse_collector("198.18.0.20:2055", env={"WIRELAB_LAB": "t1"}) == (
        "198.18.0.20", 2055)


def test_v5_waits_for_full_datagrams_then_for_at_most_max_delay(
        collector: socket.socket) -> None:
    sender = Sender("netflow", collector.getsockname(), pps=0, max_delay=3600)
    try:
        for i in range(40):  # 80 unidirectional records
            sender.add(conn(**{"id.orig_p": 1000 + i}))
        grams = received(collector)
        assert [netflow5.decode(g)[0].count for g in grams] == [30, 30]
        sender.tick()  # 20 records have not waited an hour
        assert received(collector) == []
        sender.max_delay = 0
        sender.tick()
        (last,) = received(collector)
        header, flows = netflow5.decode(last)
        assert (header.count, header.flow_sequence) == (20, 60)
        assert sender.pending == []
    finally:
        sender.close()
    assert sender.sent_records == 80 and sender.datagrams == 3


def test_v5_counts_ipv6_as_skipped(collector: socket.socket) -> None:
    sender = Sender("netflow", collector.getsockname(), pps=0)
    sender.add(conn(**{"id.orig_h": "2001:db8::a", "id.resp_h": "2001:db8::14"}))
    sender.add(conn())
    sender.close()
    (gram,) = received(collector)
    assert netflow5.decode(gram)[0].count == 2
    assert sender.skipped == 2


def test_ipfix_fills_messages_and_close_sends_the_rest(collector: socket.socket) -> None:
    sender = Sender("ipfix", collector.getsockname(), pps=0, max_delay=3600)
    for i in range(100):
        sender.add(conn(**{"id.orig_p": 1000 + i}))
    msgs = received(collector)
    sent_before_close = len(msgs)
    sender.close()
    msgs += received(collector)
    assert 0 < sent_before_close < len(msgs)
    dec = ipfix.Decoder()
    assert sum(len(dec.decode(m).flows) for m in msgs) == 200 == sender.sent_records
    record = 47  # bytes of an IPv4 data record under template 256
    # every message but the last was closed only because the next record did not fit
    assert all(len(m) + record > ipfix.MAX_MESSAGE for m in msgs[:-1])
    assert all(len(m) <= ipfix.MAX_MESSAGE for m in msgs)
