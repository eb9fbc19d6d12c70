"""pcapng: byte-exact vectors, a real two-interface capture and our writer checked by tshark."""

from __future__ import annotations

import io
import pathlib
import shutil
import struct

import pytest

from wirelab.errors import CaptureFormatError, EncodeError
from wirelab.wire.pcapng import EPB, IDB, OPB, SPB, PcapngReader, PcapngWriter

from ..helpers import tshark_fields

DATA = pathlib.Path(__file__).parent / "data"
needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")

# Hand-assembled from draft-ietf-opsawg-pcapng sections 4.1-4.3: SHB (version 1.0, section
# length -1), IDB (Ethernet, snaplen 262144, default microseconds), EPB (interface 0, 4 of 60
# bytes captured at 1700000000.123456 s = 0x00060a24_18202240 microseconds).
LE_VECTOR = bytes.fromhex(
    "0a0d0d0a" "1c000000" "4d3c2b1a" "0100" "0000" "ffffffffffffffff" "1c000000"
    "01000000" "14000000" "0100" "0000" "00000400" "14000000"
    "06000000" "24000000" "00000000" "240a0600" "40222018" "04000000" "3c000000" "deadbeef"
    "24000000")
# Big-endian; the IDB carries if_tsresol = 9 (nanoseconds, option 9 of length 1, padded) and
# opt_endofopt; the EPB's timestamp is 1700000000123456789 ns.
BE_VECTOR = bytes.fromhex(
    "0a0d0d0a" "0000001c" "1a2b3c4d" "0001" "0000" "ffffffffffffffff" "0000001c"
    "00000001" "00000020" "0001" "0000" "00040000" "0009000109000000" "00000000" "00000020"
    "00000006" "00000024" "00000000" "17979cfe" "3d85cd15" "00000004" "0000003c" "deadbeef"
    "00000024")


FIELDS = ("frame.time_epoch", "frame.len", "frame.cap_len", "frame.interface_id")


def ours(source: pathlib.Path | io.BytesIO) -> list[list[str]]:
    return [[f"{p.ts_sec}.{p.ts_frac_ns:09d}", str(p.orig_len), str(p.caplen),
             str(p.interface_id)] for p in PcapngReader(source)]


def test_le_vector_decodes() -> None:
    reader = PcapngReader(io.BytesIO(LE_VECTOR))
    (packet,) = list(reader)
    assert (packet.ts_sec, packet.ts_frac_ns) == (1700000000, 123456000)
    assert (packet.caplen, packet.orig_len, packet.linktype, packet.interface_id) == (4, 60, 1, 0)
    assert packet.data == b"\xde\xad\xbe\xef"
    assert reader.byteorder == "<" and reader.interfaces[0].units == 10**6


def test_be_vector_decodes() -> None:
    reader = PcapngReader(io.BytesIO(BE_VECTOR))
    (packet,) = list(reader)
    assert (packet.ts_sec, packet.ts_frac_ns) == (1700000000, 123456789)
    assert reader.byteorder == ">" and reader.interfaces[0].tsresol == 9


@pytest.mark.parametrize(("vector", "order", "tsresol"), [(LE_VECTOR, "little", 6),
                                                          (BE_VECTOR, "big", 9)])
def test_writer_is_byte_exact(vector: bytes, order: str, tsresol: int) -> None:
    out = io.BytesIO()
    with PcapngWriter(out, byteorder=order) as writer:
        writer.add_interface(linktype=1, snaplen=262144, tsresol=tsresol)
        (packet,) = list(PcapngReader(io.BytesIO(vector)))
        writer.write(packet.data, (packet.ts_sec, packet.ts_frac_ns), 0, packet.orig_len)
    assert out.getvalue() == vector


@pytest.mark.tshark
@needs_tshark
@pytest.mark.parametrize("vector", [LE_VECTOR, BE_VECTOR, LE_VECTOR + BE_VECTOR])
def test_vectors_read_by_tshark(tmp_path: pathlib.Path, vector: bytes) -> None:
    path = tmp_path / "v.pcapng"
    path.write_bytes(vector)
    assert tshark_fields(path, *FIELDS) == ours(path)


def test_second_section_switches_byte_order_and_resets_interfaces() -> None:
    reader = PcapngReader(io.BytesIO(LE_VECTOR + BE_VECTOR))
    packets = list(reader)
    assert [p.ts_frac_ns for p in packets] == [123456000, 123456789]
    assert reader.sections == 2 and len(reader.interfaces) == 1 and reader.byteorder == ">"


# --- the real capture ------------------------------------------------------------------------


@pytest.mark.tshark
@needs_tshark
def test_two_interface_capture_matches_tshark() -> None:
    path = DATA / "lo-any-2if.pcapng"
    assert ours(path) == tshark_fields(path, *FIELDS)
    reader = PcapngReader(path)
    packets = list(reader)
    assert [(i.linktype, i.name, i.tsresol) for i in reader.interfaces] == [
        (1, "lo", 9), (113, "any", 9)]
    assert {p.interface_id for p in packets} == {0, 1}
    assert all(p.linktype == (1, 113)[p.interface_id] for p in packets)


# --- our writer, read by tshark: resolutions, offsets, SPB, OPB, unknown blocks ---------------

TIMES = [(1700000000, 0), (1700000001, 123456789), (1700000002, 999999999), (1700000003, 500)]


@pytest.mark.tshark
@needs_tshark
@pytest.mark.parametrize("tsresol", [0, 3, 6, 9, 0x80 | 10, 0x80 | 20, 0x80 | 30])
@pytest.mark.parametrize("order", ["little", "big"])
def test_tsresol_against_tshark(tmp_path: pathlib.Path, tsresol: int, order: str) -> None:
    path = tmp_path / "r.pcapng"
    with PcapngWriter(path, byteorder=order) as writer:
        writer.add_interface(linktype=101, tsresol=tsresol)
        writer.add_interface(linktype=1)
        for i, ts in enumerate(TIMES):
            writer.write(bytes(20 + i), ts, interface_id=(i + 1) % 2)
    mine = ours(path)
    assert mine == tshark_fields(path, *FIELDS)
    units = 2 ** (tsresol & 0x7F) if tsresol & 0x80 else 10**tsresol
    expected_ns = 123456789 * units // 10**9 * 10**9 // units
    assert mine[1][0] == f"1700000001.{expected_ns:09d}"


def test_tsoffset_is_added() -> None:
    out = io.BytesIO()
    with PcapngWriter(out) as writer:
        writer.add_interface(tsoffset=1_000_000_000)
        writer.write(b"abc", (1_700_000_000, 42_000))
    raw = out.getvalue()
    # The EPB stores time relative to the offset: 700000000.000042 s = 0x00027ca5_7357c02a us.
    assert struct.pack("<II", 0x00027CA5, 0x7357C02A) in raw
    (packet,) = list(PcapngReader(io.BytesIO(raw)))
    assert (packet.ts_sec, packet.ts_frac_ns) == (1_700_000_000, 42_000)


@pytest.mark.tshark
@needs_tshark
def test_spb_opb_and_unknown_blocks(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "mixed.pcapng"
    with PcapngWriter(path) as writer:
        writer.add_interface(linktype=1, snaplen=32, name="eth-test")
        writer.write_block(0x99, b"a reserved block type, unknown: skipped")
        writer.write_block(0x80000001, b"a local-use block type: skipped")
        writer.write_block(4, b"\0\0\0\0")  # Name Resolution Block with only opt_endofopt
        writer.write_simple(bytes(range(60)))  # SPB: cut to interface 0's snaplen, 32
        writer.write_simple(b"short")
        ticks = 1700000000_654321
        opb = struct.pack("<HHIIII", 0, 0, ticks >> 32, ticks & 0xFFFFFFFF, 6, 70) + b"sixsix"
        writer.write_block(OPB, opb)
        writer.write(b"epb", (1700000001, 0))
        writer.write_block(5, struct.pack("<III", 0, 0, 0))  # Interface Statistics Block
    reader = PcapngReader(path)
    packets = list(reader)
    assert [(p.caplen, p.orig_len, p.data[:6]) for p in packets] == [
        (32, 60, bytes(range(6))), (5, 5, b"short"), (6, 70, b"sixsix"), (3, 3, b"epb")]
    assert reader.warnings == []
    rows = tshark_fields(path, "frame.len", "frame.cap_len")
    assert rows == [[str(p.orig_len), str(p.caplen)] for p in packets]
    times = [row[0] for row in tshark_fields(path, "frame.time_epoch")]
    assert times[2:] == ["1700000000.654321000", "1700000001.000000000"]
    assert times[:2] == ["", ""]  # an SPB has no timestamp; ours reads as 0
    assert (packets[0].ts_sec, packets[0].ts_frac_ns) == (0, 0)


def test_custom_block_is_skipped() -> None:
    # A Custom Block (4.7, type 0x00000BAD) carries no packet for us; tshark lists it as a
    # frame of its own, which is why it stays out of the tshark comparison above.
    out = io.BytesIO()
    with PcapngWriter(out) as writer:
        writer.add_interface()
        writer.write_block(0x00000BAD, struct.pack("<I", 32473) + b"private enterprise data")
        writer.write(b"only packet", (5, 0))
    assert [p.data for p in PcapngReader(io.BytesIO(out.getvalue()))] == [b"only packet"]


def test_new_section_forgets_interfaces() -> None:
    out = io.BytesIO()
    with PcapngWriter(out, byteorder="big") as writer:
        writer.add_interface(linktype=1)
        writer.add_interface(linktype=113)
        writer.write(b"a", (1, 0), 1)
        writer.new_section()
        writer.add_interface(linktype=101)
        writer.write(b"b", (2, 0), 0)
        with pytest.raises(EncodeError, match="no interface 1"):
            writer.write(b"c", (3, 0), 1)
    packets = list(PcapngReader(io.BytesIO(out.getvalue())))
    assert [(p.data, p.linktype, p.interface_id) for p in packets] == [(b"a", 113, 1),
                                                                        (b"b", 101, 0)]
    # An EPB naming interface 1 after the second SHB is refused by the reader as well.
    bad = out.getvalue() + _block(">", EPB, struct.pack(">IIIII", 1, 0, 0, 0, 0))
    with pytest.raises(CaptureFormatError, match="interface 1, but the section has 1"):
        list(PcapngReader(io.BytesIO(bad)))


# --- independent writers: Scapy and dpkt -------------------------------------------------------


def test_reads_scapy_pcapng(tmp_path: pathlib.Path) -> None:
    from scapy.layers.inet import IP, UDP
    from scapy.utils import PcapNgWriter

    path = tmp_path / "scapy.pcapng"
    frames = [IP(src="198.18.0.1", dst="198.18.0.2") / UDP(sport=i, dport=53) for i in range(4)]
    writer = PcapNgWriter(str(path))
    for i, frame in enumerate(frames):
        frame.time = 1700000000 + i / 4
        writer.write(frame)
    writer.close()
    packets = list(PcapngReader(path))
    assert [p.data for p in packets] == [bytes(f) for f in frames]
    assert [p.timestamp for p in packets] == [1700000000 + i / 4 for i in range(4)]


def test_reads_dpkt_pcapng() -> None:
    import dpkt

    out = io.BytesIO()
    writer = dpkt.pcapng.Writer(out, snaplen=100, linktype=1)
    writer.writepkt(b"x" * 150, ts=1700000000.5)
    packets = list(PcapngReader(io.BytesIO(out.getvalue())))
    assert [(p.caplen, p.ts_sec, p.ts_frac_ns) for p in packets] in (
        [(150, 1700000000, 500_000_000)], [(100, 1700000000, 500_000_000)])


# --- corruption and truncation ---------------------------------------------------------------


def _block(order: str, block_type: int, body: bytes, length: int | None = None,
           trailer: int | None = None) -> bytes:
    size = 12 + len(body) if length is None else length
    return (struct.pack(order + "II", block_type, size) + body
            + struct.pack(order + "I", size if trailer is None else trailer))


SHB_LE = LE_VECTOR[:28]
IDB_LE = LE_VECTOR[28:48]


@pytest.mark.parametrize(("data", "message"), [
    (b"", "byte 0: empty"),
    (b"\xd4\xc3\xb2\xa1" + bytes(24), "byte 0: not a pcapng file"),
    (SHB_LE[:8] + b"\x11\x22\x33\x44" + SHB_LE[12:], "byte 8: .*byte-order magic 0x11223344"),
    (SHB_LE[:12] + b"\x02\x00" + SHB_LE[14:], "byte 12: pcapng version 2.0"),
    (SHB_LE[:10], "byte 0: file ends inside the first Section Header Block"),
    (SHB_LE + _block("<", 0xBAD, b"\0" * 2, length=14), "byte 32: .*total length 14: not a "
                                                        "multiple of 4"),
    (SHB_LE + _block("<", 0xBAD, b"", length=8), "byte 32: .*total length 8"),
    (SHB_LE + _block("<", 0xBAD, b"\0" * 4, trailer=20), "byte 40: .*trailing length 20 "
                                                         "differs from leading length 16"),
    (SHB_LE + struct.pack("<II", 0xBAD, 512 * 1024 * 1024), "byte 32: .*536870912 > "),
    (SHB_LE + IDB_LE + _block("<", EPB, struct.pack("<IIIII", 0, 0, 0, 99, 99) + bytes(8)),
     "byte 48: captured length 99 overruns"),
    (SHB_LE + _block("<", EPB, struct.pack("<IIIII", 0, 0, 0, 0, 0)),
     "byte 28: packet block names interface 0, but the section has 0"),
    (SHB_LE + _block("<", SPB, b"\0\0\0\0"), "byte 28: .*interface 0"),
    (SHB_LE + _block("<", IDB, struct.pack("<HHI", 1, 0, 0) + struct.pack("<HH", 9, 40)),
     "byte 28: Interface Description Block: option 9 of 40 bytes overruns"),
])
def test_corrupt_structure_is_a_capture_format_error(data: bytes, message: str) -> None:
    with pytest.raises(CaptureFormatError, match=message):
        list(PcapngReader(io.BytesIO(data)))


@pytest.mark.parametrize("cut", [1, 4, 8, 20, 33])
def test_truncated_last_block_warns(cut: int) -> None:
    data = LE_VECTOR + LE_VECTOR[48:]  # two EPBs; the second loses its tail
    seen: list[str] = []
    reader = PcapngReader(io.BytesIO(data[:-cut]), on_warning=seen.append)
    assert len(list(reader)) == 1
    assert seen == reader.warnings and len(seen) == 1
    assert "byte 84: file ends inside a block" in seen[0] and "after 1 packets" in seen[0]
