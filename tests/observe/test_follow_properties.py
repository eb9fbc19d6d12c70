"""Reassembly properties: whatever the segmentation, arrival order, duplicates and overlapping
retransmissions, and wherever the initial sequence number sits in the 2**32 space, following
the stream gives back exactly the bytes that were sent, each delivered once and in order."""

from __future__ import annotations

import pathlib
import tempfile

from hypothesis import given, settings
from hypothesis import strategies as st

from wirelab.observe import Reassembler, follow, load

from .helpers import MOD, PSH_ACK, Talk

isns = st.one_of(st.integers(0, MOD - 1), st.integers(MOD - 3000, MOD - 1),
                 st.integers(0, 50))


@st.composite
def deliveries(draw: st.DrawFn, max_size: int = 2000) -> tuple[bytes, list[tuple[int, int]]]:
    """Some data and the (start, end) ranges sent for it, in arrival order.

    Every byte is covered at least once (the pieces of a segmentation, shuffled); extra
    ranges anywhere are duplicates or overlapping retransmissions.
    """
    data = draw(st.binary(min_size=1, max_size=max_size))
    cuts = sorted(draw(st.sets(st.integers(1, max(len(data) - 1, 1)), max_size=12)))
    edges = [0, *[c for c in cuts if c < len(data)], len(data)]
    pieces = list(zip(edges, edges[1:], strict=False))
    extra = draw(st.lists(st.tuples(st.integers(0, len(data) - 1), st.integers(1, 400)),
                          max_size=8))
    pieces += [(a, min(a + n, len(data))) for a, n in extra]
    order = draw(st.permutations(pieces))
    return data, list(order)


@settings(max_examples=300, deadline=None)
@given(deliveries(), isns)
def test_reassembler_recovers_the_bytes(sent: tuple[bytes, list[tuple[int, int]]],
                                        isn: int) -> None:
    data, ranges = sent
    r = Reassembler()
    r.syn(isn)
    out = bytearray()
    for a, b in ranges:
        for offset, piece in r.segment((isn + 1 + a) % MOD, data[a:b]):
            assert offset == len(out)  # in order, nothing twice
            out += piece
    for offset, piece in r.finish():
        assert offset == len(out)
        out += piece
    assert bytes(out) == data
    assert r.gaps == []


@settings(max_examples=60, deadline=None)
@given(deliveries(600), deliveries(600), isns, isns)
def test_follow_through_a_pcap_file(client: tuple[bytes, list[tuple[int, int]]],
                                    server: tuple[bytes, list[tuple[int, int]]],
                                    cisn: int, sisn: int) -> None:
    """Both directions interleaved, written as a real pcap and read back."""
    talk = Talk(cisn=cisn, sisn=sisn)
    talk.handshake()
    cdata, cranges = client
    sdata, sranges = server
    for i in range(max(len(cranges), len(sranges))):
        if i < len(cranges):
            a, b = cranges[i]
            talk.pkt("c", 1 + a, PSH_ACK, cdata[a:b], ack=1)
        if i < len(sranges):
            a, b = sranges[i]
            talk.pkt("s", 1 + a, PSH_ACK, sdata[a:b], ack=1)
    with tempfile.TemporaryDirectory(prefix="wlobs-") as tmp:
        packets = load(talk.write(pathlib.Path(tmp) / "t.pcap"))
    fs = follow(packets, 0)
    assert (fs.client_bytes, fs.server_bytes) == (cdata, sdata)
    assert fs.gaps == []
    assert fs.data() == b"".join(c.data for c in fs.segments)


@settings(max_examples=200, deadline=None)
@given(deliveries(), st.integers(0, MOD - 1))
def test_without_the_syn_the_lowest_byte_seen_starts_the_stream(
        sent: tuple[bytes, list[tuple[int, int]]], first: int) -> None:
    """A capture started mid-connection, segments reordered: still every byte, in order."""
    data, ranges = sent
    talk = Talk(cisn=first - 1)
    for a, b in ranges:
        talk.pkt("c", 1 + a, PSH_ACK, data[a:b], ack=1)
    assert follow(talk.observed, 0).client_bytes == data
