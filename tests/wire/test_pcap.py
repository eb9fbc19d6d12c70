"""Classic pcap: byte-exact vectors, real captures cross-checked with tshark, errors, writer."""

from __future__ import annotations

import io
import os
import pathlib
import shutil
import struct

import pytest

from wirelab.errors import CaptureFormatError, EncodeError
from wirelab.wire.pcap import CapturedPacket, PcapReader, PcapWriter

from ..helpers import tshark_fields

DATA = pathlib.Path(__file__).parent / "data"
needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")

# Hand-assembled from draft-ietf-opsawg-pcap sections 4 and 5: a little-endian microsecond
# file, snaplen 262144, LINKTYPE_ETHERNET, one 4-byte record of original length 60 taken at
# 1700000000.123456 s.  ``test_vector_read_by_tshark`` has tshark confirm the reading.
LE_USEC = bytes.fromhex(
    "d4c3b2a1" "0200" "0400" "00000000" "00000000" "00000400" "01000000"
    "00f15365" "40e20100" "04000000" "3c000000" "deadbeef")
# The same packet, big-endian, nanosecond magic 0xa1b23c4d, raw IP (101), snaplen 65535.
BE_NSEC = bytes.fromhex(
    "a1b23c4d" "0002" "0004" "00000000" "00000000" "0000ffff" "00000065"
    "6553f100" "075bcd15" "00000004" "0000003c" "deadbeef")


def ours(path: pathlib.Path) -> list[list[str]]:
    with PcapReader(path) as reader:
        return [[f"{p.ts_sec}.{p.ts_frac_ns:09d}", str(p.orig_len), str(p.caplen)]
                for p in reader]


def test_le_usec_vector_decodes() -> None:
    (packet,) = list(PcapReader(io.BytesIO(LE_USEC)))
    assert (packet.ts_sec, packet.ts_frac_ns) == (1700000000, 123456000)
    assert (packet.caplen, packet.orig_len, packet.linktype) == (4, 60, 1)
    assert packet.data == b"\xde\xad\xbe\xef" and packet.truncated
    assert packet.timestamp == pytest.approx(1700000000.123456)


def test_be_nsec_vector_decodes() -> None:
    reader = PcapReader(io.BytesIO(BE_NSEC))
    assert (reader.byteorder, reader.nanosecond, reader.snaplen) == (">", True, 65535)
    (packet,) = list(reader)
    assert (packet.ts_sec, packet.ts_frac_ns) == (1700000000, 123456789)
    assert (packet.linktype, packet.caplen, packet.orig_len) == (101, 4, 60)


@pytest.mark.parametrize(("vector", "kwargs"), [
    (LE_USEC, {"linktype": 1, "snaplen": 262144}),
    (BE_NSEC, {"linktype": 101, "snaplen": 65535, "nanosecond": True, "byteorder": "big"}),
])
def test_writer_is_byte_exact(vector: bytes, kwargs: dict[str, object]) -> None:
    out = io.BytesIO()
    with PcapWriter(out, **kwargs) as writer:  # type: ignore[arg-type]
        (packet,) = list(PcapReader(io.BytesIO(vector)))
        writer.write_packet(packet)
    assert out.getvalue() == vector


@pytest.mark.tshark
@needs_tshark
@pytest.mark.parametrize("vector", [LE_USEC, BE_NSEC])
def test_vector_read_by_tshark(tmp_path: pathlib.Path, vector: bytes) -> None:
    path = tmp_path / "v.pcap"
    path.write_bytes(vector)
    assert tshark_fields(path, "frame.time_epoch", "frame.len", "frame.cap_len") == ours(path)
    assert ours(path)[0][1:] == ["60", "4"]


# --- real captures (tests/wire/data/README.md says how each was made) ------------------------

CAPTURES = {
    "lo-usec.pcap": (1, False),  # tcpdump -i lo: Ethernet, microseconds
    "lo-nsec-snap200.pcap": (1, True),  # tcpdump -s 200 --time-stamp-precision=nano
    "lo-rawip.pcap": (101, False),  # editcap -C 14 -T rawip: raw IP
    "any-sll.pcap": (113, False),  # tcpdump -i any -y LINUX_SLL: Linux cooked
    "any-sll-nsec-editcap.pcap": (113, True),  # editcap -F nsecpcap
}


@pytest.mark.parametrize("name", sorted(CAPTURES))
def test_real_capture_header(name: str) -> None:
    linktype, nano = CAPTURES[name]
    with PcapReader(DATA / name) as reader:
        packets = list(reader)
        assert (reader.linktype, reader.nanosecond, reader.byteorder) == (linktype, nano, "<")
        assert reader.warnings == []
    assert len(packets) > 10
    assert all(p.linktype == linktype and len(p.data) == p.caplen for p in packets)


@pytest.mark.tshark
@needs_tshark
@pytest.mark.parametrize("name", sorted(CAPTURES))
def test_real_capture_matches_tshark(name: str) -> None:
    expected = tshark_fields(DATA / name, "frame.time_epoch", "frame.len", "frame.cap_len")
    assert ours(DATA / name) == expected


def test_snaplen_cuts_are_reported() -> None:
    packets = list(PcapReader(DATA / "lo-nsec-snap200.pcap"))
    cut = [p for p in packets if p.truncated]
    assert cut and all(p.caplen == 200 < p.orig_len for p in cut)
    assert max(p.orig_len for p in cut) == 1442  # the 1400-byte UDP datagram, in Ethernet
    assert any(p.ts_frac_ns % 1000 for p in packets)  # real nanosecond digits


def test_same_packets_in_usec_and_rawip_files() -> None:
    ether = list(PcapReader(DATA / "lo-usec.pcap"))
    raw = list(PcapReader(DATA / "lo-rawip.pcap"))
    assert [p.data[14:] for p in ether] == [p.data for p in raw]
    assert [p.ts_ns for p in ether] == [p.ts_ns for p in raw]


def test_editcap_nsec_rewrite_keeps_timestamps() -> None:
    usec = list(PcapReader(DATA / "any-sll.pcap"))
    nsec = list(PcapReader(DATA / "any-sll-nsec-editcap.pcap"))
    assert [(p.ts_ns, p.data) for p in usec] == [(p.ts_ns, p.data) for p in nsec]


# --- an independent writer: Scapy ------------------------------------------------------------


def test_reads_scapy_big_endian_nanosecond_file(tmp_path: pathlib.Path) -> None:
    from scapy.utils import PcapWriter as ScapyWriter

    path = tmp_path / "scapy.pcap"
    frames = [bytes([i]) * (20 + i) for i in range(5)]
    writer = ScapyWriter(str(path), linktype=101, endianness=">", nano=True, sync=True)
    writer.write_header(None)  # write_packet() alone does not emit the global header
    for i, frame in enumerate(frames):
        writer.write_packet(frame, sec=1700000000 + i, usec=i * 111_111_111)
    writer.close()
    assert path.read_bytes()[:4] == b"\xa1\xb2\x3c\x4d"
    packets = list(PcapReader(path))
    assert [p.data for p in packets] == frames
    assert [(p.ts_sec, p.ts_frac_ns) for p in packets] == [
        (1700000000 + i, i * 111_111_111) for i in range(5)]


# --- our writer, read back by tshark ----------------------------------------------------------


@pytest.mark.tshark
@needs_tshark
@pytest.mark.parametrize("byteorder", ["little", "big"])
@pytest.mark.parametrize("nano", [False, True])
def test_writer_output_read_by_tshark(tmp_path: pathlib.Path, byteorder: str,
                                      nano: bool) -> None:
    path = tmp_path / "w.pcap"
    with PcapWriter(path, linktype=1, snaplen=64, nanosecond=nano, byteorder=byteorder) as w:
        for i in range(20):
            w.write(bytes(range(256))[: 10 + 7 * i], ts=(1700000000 + i, 987654321 * i % 10**9))
    rows = tshark_fields(path, "frame.time_epoch", "frame.len", "frame.cap_len")
    assert rows == ours(path)
    assert [r[2] for r in rows] == [str(min(10 + 7 * i, 64)) for i in range(20)]
    assert rows[3][0] == ("1700000003.962962963" if nano else "1700000003.962962000")


def test_writer_timestamp_forms() -> None:
    out = io.BytesIO()
    with PcapWriter(out, nanosecond=True) as w:
        w.write(b"a", ts=1.25)
        w.write(b"b", ts=(7, 5))
        w.write(b"c")  # now
    packets = list(PcapReader(io.BytesIO(out.getvalue())))
    assert [(p.ts_sec, p.ts_frac_ns) for p in packets[:2]] == [(1, 250_000_000), (7, 5)]
    assert packets[2].ts_sec > 1_600_000_000


def test_writer_rejects_out_of_range() -> None:
    with pytest.raises(EncodeError, match="pcap record"):
        PcapWriter(io.BytesIO()).write(b"x", ts=(2**32, 0))
    with pytest.raises(EncodeError, match="byte order"):
        PcapWriter(io.BytesIO(), byteorder="middle")


# --- truncation and corruption ---------------------------------------------------------------


def _two_records() -> bytes:
    out = io.BytesIO()
    with PcapWriter(out) as w:
        w.write(b"first packet", ts=(1, 0))
        w.write(b"second packet", ts=(2, 0))
    return out.getvalue()


@pytest.mark.parametrize("cut", [1, 5, 13, 16, 20])
def test_truncated_last_record_warns_and_keeps_the_rest(cut: int) -> None:
    data = _two_records()[:-cut]
    seen: list[str] = []
    reader = PcapReader(io.BytesIO(data), on_warning=seen.append)
    packets = list(reader)
    assert [p.data for p in packets] == [b"first packet"]
    assert reader.warnings == seen and len(seen) == 1
    assert "byte 52" in seen[0] and "truncated" in seen[0] and "after 1 packets" in seen[0]


def test_clean_end_has_no_warning() -> None:
    reader = PcapReader(io.BytesIO(_two_records()))
    assert len(list(reader)) == 2 and reader.warnings == []


@pytest.mark.parametrize(("data", "message"), [
    (b"", "byte 0: empty"),
    (b"\x00" * 24, r"byte 0: not a pcap file \(magic 0x00000000\)"),
    (b"\x0a\x0d\x0d\x0a" + bytes(20), "pcapng"),
    (b"\x34\xcd\xb2\xa1" + bytes(20), "modified"),
    (LE_USEC[:10], "byte 10: file ends inside the 24-byte global header"),
    (LE_USEC[:4] + b"\x01\x00" + LE_USEC[6:], "byte 4: version 1.4"),
])
def test_corrupt_header_is_a_capture_format_error(data: bytes, message: str) -> None:
    with pytest.raises(CaptureFormatError, match=message):
        PcapReader(io.BytesIO(data))


def test_absurd_caplen_names_its_offset() -> None:
    data = bytearray(_two_records())
    struct.pack_into("<I", data, 24 + 16 + 12 + 8, 300 * 1024 * 1024)
    reader = PcapReader(io.BytesIO(bytes(data)))
    with pytest.raises(CaptureFormatError, match="byte 60: record captured length 314572800"):
        list(reader)


def test_missing_file_is_a_capture_format_error(tmp_path: pathlib.Path) -> None:
    with pytest.raises(CaptureFormatError, match="cannot open"):
        PcapReader(tmp_path / "nope.pcap")


# --- streaming ---------------------------------------------------------------------------------


def test_reads_from_a_pipe() -> None:
    read_end, write_end = os.pipe()
    data = (DATA / "lo-usec.pcap").read_bytes()
    pid = os.fork()
    if pid == 0:  # the child feeds the pipe in small pieces, as a live capture would
        os.close(read_end)
        for i in range(0, len(data), 100):
            os.write(write_end, data[i:i + 100])
        os._exit(0)
    os.close(write_end)
    with open(read_end, "rb", buffering=0) as raw:  # unbuffered: short reads happen
        packets = list(PcapReader(raw))
    os.waitpid(pid, 0)
    assert packets == list(PcapReader(DATA / "lo-usec.pcap"))


def test_reader_is_a_lazy_iterator() -> None:
    reader = PcapReader(DATA / "lo-usec.pcap")
    first = next(reader)
    assert isinstance(first, CapturedPacket) and reader.count == 1
    assert iter(reader) is reader
    reader.close()
