"""Property tests for DNS: encode -> decode -> encode is byte-exact, and random or mutated
bytes make the decoder raise nothing but wirelab's DecodeError."""

from __future__ import annotations

import pathlib
import struct

from hypothesis import example, given, settings
from hypothesis import strategies as st

from wirelab.errors import BadPointerError, DecodeError
from wirelab.wire.dns import (
    AAAA,
    CNAME,
    MX,
    NS,
    PTR,
    SOA,
    TXT,
    A,
    DNSMessage,
    Question,
    RawRdata,
    Rdata,
    ResourceRecord,
    name_to_labels,
)
from wirelab.wire.pcap import PcapReader

DATA = pathlib.Path(__file__).parent / "data"


def _escape(label: bytes) -> str:
    """Master-file text for a label, escaping more than the codec does (every non-alnum)."""
    return "".join(chr(b) if chr(b).isalnum() and b < 0x80 else f"\\{b:03d}" for b in label)


@st.composite
def names(draw: st.DrawFn) -> str:
    labels = draw(st.lists(st.binary(min_size=1, max_size=63), max_size=6))
    while sum(len(x) + 1 for x in labels) + 1 > 255:
        labels.pop()
    # Draw from a small pool too, so that suffixes repeat and compression has work to do.
    pool = draw(st.sampled_from([[], [b"test"], [b"wirelab", b"test"], [b"a", b"wirelab",
                                                                          b"test"]]))
    labels = (labels + pool)[-4:] if draw(st.booleans()) else labels
    return ".".join(_escape(x) for x in labels)


u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)

rdatas: st.SearchStrategy[Rdata] = st.one_of(
    st.builds(A, st.ip_addresses(v=4).map(str)),
    st.builds(AAAA, st.ip_addresses(v=6).map(str)),
    st.builds(CNAME, names()), st.builds(NS, names()), st.builds(PTR, names()),
    st.builds(MX, u16, names()),
    st.builds(TXT, st.lists(st.binary(max_size=255), max_size=4)),
    st.builds(SOA, names(), names(), u32, u32, u32, u32, u32),
)
raw_records = st.builds(ResourceRecord, names(), st.builds(RawRdata, st.binary(max_size=40)),
                        st.integers(0xFF00, 0xFFFF), u16, u32)
records = st.one_of(
    st.builds(ResourceRecord, names(), rdatas, st.none(), st.just(1), u32), raw_records)

messages = st.builds(
    DNSMessage, id=u16, qr=st.booleans(), opcode=st.integers(0, 15), aa=st.booleans(),
    tc=st.booleans(), rd=st.booleans(), ra=st.booleans(), z=st.booleans(), ad=st.booleans(),
    cd=st.booleans(), rcode=st.integers(0, 15),
    questions=st.lists(st.builds(Question, names(), u16, u16), max_size=3),
    answers=st.lists(records, max_size=4), authorities=st.lists(records, max_size=2),
    additionals=st.lists(records, max_size=2))


@settings(max_examples=400)
@given(messages, st.booleans())
def test_encode_decode_encode_is_byte_exact(msg: DNSMessage, compress: bool) -> None:
    wire = msg.encode(compress)
    decoded = DNSMessage.decode(wire)
    assert decoded.encode(compress) == wire
    # Same meaning: compared after the codec spelled the names (this test escapes more).
    assert DNSMessage.decode(msg.encode(compress=False)) == decoded


@settings(max_examples=200)
@given(messages)
def test_compression_never_changes_the_meaning(msg: DNSMessage) -> None:
    small = DNSMessage.decode(msg.encode(compress=True))
    big = DNSMessage.decode(msg.encode(compress=False))
    assert small == big
    assert len(msg.encode(compress=True)) <= len(msg.encode(compress=False))


@given(names())
def test_name_text_round_trip(name: str) -> None:
    labels = name_to_labels(name)
    wire = DNSMessage(questions=[Question(name)]).encode()
    assert name_to_labels(DNSMessage.decode(wire).questions[0].name) == labels


def _decode_only_decode_errors(data: bytes) -> None:
    try:
        msg = DNSMessage.decode(data)
    except DecodeError:
        return
    # Whatever decodes must encode again and mean the same.  The wire RDLENGTHs are dropped:
    # our compression may spell a name differently from the mutated original.
    for rr in msg.answers + msg.authorities + msg.additionals:
        rr.rdlength = None
    assert DNSMessage.decode(msg.encode()) == msg


@settings(max_examples=1000)
@given(st.binary(max_size=120))
@example(b"\x00" * 12)
def test_random_bytes_raise_only_decode_errors(data: bytes) -> None:
    _decode_only_decode_errors(data)


@settings(max_examples=600)
@given(st.binary(max_size=60), st.integers(0, 4))
def test_random_bytes_after_a_valid_header(tail: bytes, count: int) -> None:
    _decode_only_decode_errors(struct.pack("!6H", 1, 0x8180, 1, count, count, count) + tail)


def _captured_messages() -> list[bytes]:
    out = []
    for packet in PcapReader(DATA / "lo-usec.pcap"):
        frame = packet.data
        if frame[23] == 17 and 53 in struct.unpack_from("!HH", frame, 34):
            out.append(frame[42:])
    return out


CAPTURED = _captured_messages()


@settings(max_examples=1500)
@given(st.sampled_from(CAPTURED), st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)),
                                           min_size=1, max_size=4),
       st.integers(0, 3))
def test_mutated_messages_raise_only_decode_errors(message: bytes,
                                                   edits: list[tuple[int, int]],
                                                   cut: int) -> None:
    data = bytearray(message)
    for position, value in edits:
        data[position % len(data)] = value
    _decode_only_decode_errors(bytes(data[:len(data) - cut]))


@given(st.integers(12, 0x3FFF), st.binary(max_size=50))
def test_forward_or_self_pointers_are_refused(target: int, tail: bytes) -> None:
    # The question name at offset 12 is a bare pointer to 12 (itself) or beyond: refused at
    # offset 12 whatever the bytes that follow, before they are looked at.
    data = struct.pack("!6H", 0, 0, 1, 0, 0, 0) + struct.pack("!H", 0xC000 | target) + tail
    try:
        DNSMessage.decode(data)
    except BadPointerError as exc:
        assert exc.offset == 12 and exc.field == "questions[0].name"
    else:
        raise AssertionError("a pointer that is not backwards was followed")
