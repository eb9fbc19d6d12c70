"""``ConversationTable.feed``'s fast path for ``conv ip`` counts what the general path counts.

The fast path reads Ethernet/IPv4 addresses itself and must skip exactly the frames
:class:`~wirelab.monitor.keys.KeyReader` refuses: a wrong version, a header length under 20
bytes, a total length shorter than the header or running past the frame, a frame too short
for the header.  Each case, and frames the fast path hands on (VLAN, IPv6, ARP, raw IP,
fragments), goes through both paths; the tables must be equal, row for row.
"""

from __future__ import annotations

import struct

import pytest

from wirelab import samples
from wirelab.monitor.conv import ConversationTable
from wirelab.monitor.keys import KeyReader
from wirelab.samples import CLIENT, ROUTER, SERVER, START_NS


def _patched(frame: bytes, offset: int, value: bytes) -> bytes:
    return frame[:offset] + value + frame[offset + len(value):]


def frames() -> list[tuple[int, int, bytes, int]]:
    good = samples.udp4(CLIENT, SERVER, 1000, 2000, b"payload")
    total = struct.unpack_from("!H", good, 16)[0]
    cases = [
        good,
        samples.udp4(SERVER, CLIENT, 2000, 1000, b"answer"),
        samples.udp4(ROUTER, CLIENT, 53, 1000, b"x" * 40),
        _patched(good, 14, b"\x65"),  # version 6 in an IPv4 EtherType
        _patched(good, 14, b"\x44"),  # header length 16 bytes
        _patched(good, 16, struct.pack("!H", 19)),  # total length under the header
        _patched(good, 16, struct.pack("!H", total + 1)),  # runs past the frame
        good[:33],  # too short for the IPv4 header
        good[:14 + total - 1],  # cut inside the datagram
        _patched(good, 14, b"\x46") + bytes(4),  # options: a 24-byte header
    ]
    mixed = [data for _, data in samples.mixed_frames(3000, seed=77)]  # VLAN, IPv6, ARP...
    out = [(START_NS + i * 1000, 1, f, len(f)) for i, f in enumerate(cases + mixed)]
    raw = good[14:]
    out.append((START_NS + 10**9, 101, raw, len(raw)))  # raw IP: not the fast path's
    return out


@pytest.mark.parametrize("kind", ["ip", "udp"])  # udp: feed hands every frame to the reader
def test_feed_equals_the_general_path(kind: str) -> None:
    packets = frames()
    fed, added = ConversationTable(kind), ConversationTable(kind)
    fed.feed(packets, KeyReader().read)
    reader = KeyReader()
    for ts, linktype, frame, length in packets:
        keys = reader.read(frame, linktype)
        if keys is not None:
            added.add(keys, ts, length)
    assert len(fed) > 100
    assert list(fed.rows(START_NS)) == list(added.rows(START_NS))
