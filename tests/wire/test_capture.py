"""open_capture: the format sniffed from the magic, on paths, streams, pipes and stdin."""

from __future__ import annotations

import io
import pathlib
import re
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wirelab.errors import CaptureFormatError
from wirelab.wire.capture import capture_format, open_capture
from wirelab.wire.pcap import PcapReader, PcapWriter
from wirelab.wire.pcapng import PcapngReader, PcapngWriter

DATA = pathlib.Path(__file__).parent / "data"
FILES = sorted(p.name for p in DATA.glob("*.pcap*"))


@pytest.mark.parametrize("name", FILES)
def test_sniffs_each_vector(name: str) -> None:
    reader = open_capture(DATA / name)
    expected = PcapngReader if name.endswith(".pcapng") else PcapReader
    assert type(reader) is expected
    assert list(reader) == list(expected(DATA / name))


@pytest.mark.parametrize("name", FILES)
def test_sniffs_from_a_stream_with_no_name(name: str) -> None:
    data = (DATA / name).read_bytes()
    assert list(open_capture(io.BytesIO(data))) == list(open_capture(DATA / name))


def test_capture_format() -> None:
    assert capture_format(b"\x4d\x3c\xb2\xa1") == "pcap"
    assert capture_format(b"\xa1\xb2\xc3\xd4") == "pcap"
    assert capture_format(b"\x0a\x0d\x0d\x0a") == "pcapng"
    assert capture_format(b"GET ") is None


_CHILD = """
import sys
from wirelab.wire.capture import open_capture
reader = open_capture("-", on_warning=lambda m: print("warning:", m, file=sys.stderr))
for p in reader:
    print(p.ts_ns, p.caplen, p.orig_len, p.interface_id)
"""


# The pcap file loses its last packet; dumpcap ends the pcapng file with Interface Statistics
# Blocks, so there the cut falls in a block that carries no packet.
@pytest.mark.parametrize(("name", "lost"), [("lo-usec.pcap", 1), ("lo-any-2if.pcapng", 0)])
def test_stdin_is_read_as_a_pipe(name: str, lost: int) -> None:
    data = (DATA / name).read_bytes()
    # Cut the last record short to see the warning travel through the callback.
    done = subprocess.run([sys.executable, "-c", _CHILD], input=data[:-3],
                          capture_output=True, check=True)
    lines = done.stdout.decode().splitlines()
    expected = [f"{p.ts_ns} {p.caplen} {p.orig_len} {p.interface_id}"
                for p in open_capture(DATA / name)]
    assert lines == expected[:len(expected) - lost]
    assert done.stderr.decode().startswith("warning: <stdin>: byte ")
    assert "truncated" in done.stderr.decode()


@pytest.mark.parametrize(("data", "message"), [
    (b"", "byte 0: empty file"),
    (b"GET / HTTP/1.1\r\n", r"byte 0: not a pcap or pcapng file \(magic 0x47455420\)"),
    (b"\xd4\xc3\xb2\xa1\x02\x00", "byte 6: file ends inside the 24-byte global header"),
])
def test_not_a_capture(tmp_path: pathlib.Path, data: bytes, message: str) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(data)
    with pytest.raises(CaptureFormatError, match=re.escape(f"{path}: ") + message):
        open_capture(path)


def test_error_message_is_one_line_for_the_cli(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "bad.pcapng"
    with PcapngWriter(path) as writer:
        writer.add_interface()
        writer.write(b"x", (1, 0), 0)
    data = bytearray(path.read_bytes())
    data[-4] ^= 0xFF  # the trailing length of the last block no longer matches
    path.write_bytes(bytes(data))
    with pytest.raises(CaptureFormatError) as info:
        list(open_capture(path))
    assert "\n" not in str(info.value) and str(info.value).startswith(f"{path}: byte ")


def test_owned_file_is_closed_after_iteration(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "w.pcap"
    with PcapWriter(path) as writer:
        writer.write(b"abc", (1, 0))
    reader = open_capture(path)
    assert len(list(reader)) == 1
    assert reader._input.stream.closed
    stream = io.BytesIO(path.read_bytes())
    list(open_capture(stream))
    assert not stream.closed  # a stream the caller gave stays the caller's


# --- properties: writer -> reader round trip, fuzzed files --------------------------------------

packets = st.lists(st.tuples(st.binary(max_size=300), st.integers(0, 2**32 - 1),
                             st.integers(0, 999_999_999), st.integers(0, 2**32 - 1)),
                   max_size=8)


@settings(max_examples=150)
@given(packets, st.sampled_from(["little", "big"]), st.booleans(), st.integers(1, 400))
def test_pcap_round_trip(items: list[tuple[bytes, int, int, int]], order: str, nano: bool,
                         snaplen: int) -> None:
    out = io.BytesIO()
    with PcapWriter(out, snaplen=snaplen, nanosecond=nano, byteorder=order) as writer:
        for data, sec, ns, orig in items:
            writer.write(data, (sec, ns), orig)
    got = [(p.data, p.ts_sec, p.ts_frac_ns, p.orig_len) for p in open_capture(
        io.BytesIO(out.getvalue()))]
    assert got == [(d[:snaplen], s, ns if nano else ns // 1000 * 1000, o)
                   for d, s, ns, o in items]


@settings(max_examples=150)
@given(packets, st.sampled_from(["little", "big"]),
       st.sampled_from([6, 9, 0, 0x80 | 10, 0x80 | 32]), st.integers(0, 400))
def test_pcapng_round_trip(items: list[tuple[bytes, int, int, int]], order: str, tsresol: int,
                           snaplen: int) -> None:
    out = io.BytesIO()
    with PcapngWriter(out, byteorder=order) as writer:
        writer.add_interface(linktype=1, snaplen=snaplen, tsresol=tsresol)
        writer.add_interface(linktype=101, snaplen=0)
        for i, (data, sec, ns, orig) in enumerate(items):
            writer.write(data, (sec, ns), i % 2, orig)
    reader = open_capture(io.BytesIO(out.getvalue()))
    got = list(reader)
    assert [p.data for p in got] == [d[:snaplen] if i % 2 == 0 and snaplen else d
                                     for i, (d, *_) in enumerate(items)]
    assert [(p.ts_sec, p.orig_len, p.interface_id) for p in got] == [
        (s, o, i % 2) for i, (_, s, _, o) in enumerate(items)]
    # Interface 1 has microseconds; interface 0 its own unit, truncated towards zero.
    assert all(0 <= p.ts_frac_ns <= ns for p, (_, _, ns, _) in zip(got, items, strict=True))


def _read_all(data: bytes) -> None:
    try:
        reader = open_capture(io.BytesIO(data))
        for _ in reader:
            pass
    except CaptureFormatError as exc:
        assert "\n" not in str(exc) and "byte " in str(exc)


@settings(max_examples=500)
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_capture_format_errors(data: bytes) -> None:
    _read_all(data)


@settings(max_examples=300)
@given(st.sampled_from([b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\x3c\x4d", b"\x0a\x0d\x0d\x0a"]),
       st.binary(max_size=200))
def test_random_bytes_after_a_magic(magic: bytes, tail: bytes) -> None:
    _read_all(magic + tail)


_SAMPLES = {name: (DATA / name).read_bytes()[:1500] for name in ["lo-usec.pcap",
                                                                    "lo-any-2if.pcapng"]}


@settings(max_examples=800)
@given(st.sampled_from(sorted(_SAMPLES)),
       st.lists(st.tuples(st.integers(0, 1499), st.integers(0, 255)), min_size=1, max_size=6),
       st.integers(0, 40))
def test_mutated_files_raise_only_capture_format_errors(name: str,
                                                        edits: list[tuple[int, int]],
                                                        cut: int) -> None:
    data = bytearray(_SAMPLES[name])
    for position, value in edits:
        data[position % len(data)] = value
    _read_all(bytes(data[:len(data) - cut]))
