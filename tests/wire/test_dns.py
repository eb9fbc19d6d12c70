"""DNS: byte-exact vectors, real captured messages checked against tshark and Scapy, errors,
the builder helpers, and glibc's resolver as a real peer of the encoder."""

from __future__ import annotations

import os
import pathlib
import shutil
import struct
import subprocess
import sys

import pytest

from wirelab.errors import (
    BadFieldError,
    BadPointerError,
    EncodeError,
    TrailingDataError,
    TruncatedError,
)
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
    Opcode,
    QClass,
    QType,
    Question,
    RawRdata,
    Rcode,
    ResourceRecord,
    frame_tcp,
    name_to_labels,
)
from wirelab.wire.pcap import PcapReader, PcapWriter

DATA = pathlib.Path(__file__).parent / "data"
needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")

# Hand-assembled from RFC 1035 4.1.1-4.1.2: ID 0x1234, RD set, one question "www.wirelab.test"
# type A class IN.
QUERY = bytes.fromhex(
    "1234" "0100" "0001" "0000" "0000" "0000"
    "03777777" "07776972656c6162" "0474657374" "00" "0001" "0001")
# Its answer with compression (RFC 1035 4.1.4): the owner name is a pointer to the question's
# name at offset 12 (c00c); the CNAME target "web" + pointer to "wirelab.test" at offset 16
# (c010); the A record's owner points at that target, at offset 46 (c02e).
RESPONSE = bytes.fromhex(
    "1234" "8580" "0001" "0002" "0000" "0000"
    "03777777" "07776972656c6162" "0474657374" "00" "0001" "0001"
    "c00c" "0005" "0001" "0000012c" "0006" "03776562" "c010"
    "c02e" "0001" "0001" "0000003c" "0004" "c6120007")


def test_query_vector() -> None:
    msg = DNSMessage.decode(QUERY)
    assert (msg.id, msg.qr, msg.opcode, msg.rd, msg.rcode) == (0x1234, False, Opcode.QUERY,
                                                               True, Rcode.NOERROR)
    assert msg.questions == [Question("www.wirelab.test", QType.A, QClass.IN)]
    assert (msg.qdcount, msg.ancount, msg.nscount, msg.arcount) == (1, 0, 0, 0)
    assert msg.encode() == QUERY
    assert DNSMessage.query("www.wirelab.test", id=0x1234).encode() == QUERY


def test_response_vector_with_compression() -> None:
    msg = DNSMessage.decode(RESPONSE)
    assert (msg.qr, msg.aa, msg.rd, msg.ra, msg.flags) == (True, True, True, True, 0x8580)
    assert msg.answers == [
        ResourceRecord("www.wirelab.test", CNAME("web.wirelab.test"), QType.CNAME, QClass.IN,
                       300, 6),
        ResourceRecord("web.wirelab.test", A("198.18.0.7"), QType.A, QClass.IN, 60, 4),
    ]
    assert msg.encode() == RESPONSE
    built = DNSMessage.decode(QUERY).reply([
        ResourceRecord("www.wirelab.test", CNAME("web.wirelab.test"), ttl=300),
        ResourceRecord("web.wirelab.test", A("198.18.0.7"), ttl=60)], ra=True)
    assert built.encode() == RESPONSE
    uncompressed = built.encode(compress=False)
    assert len(uncompressed) == len(RESPONSE) + 16 + 12 + 16  # three names spelled out
    assert DNSMessage.decode(uncompressed).answers == built.answers


# --- messages captured on loopback (glibc queries, Scapy-built responses) ----------------------


def _dns_payloads() -> list[tuple[int, bytes]]:
    """(frame number, UDP payload) of every port-53 datagram in the Ethernet capture."""
    out = []
    for number, packet in enumerate(PcapReader(DATA / "lo-usec.pcap"), 1):
        frame = packet.data
        if frame[12:14] != b"\x08\x00" or frame[23] != 17:
            continue
        udp = 14 + (frame[14] & 0x0F) * 4
        sport, dport, length = struct.unpack_from("!HHH", frame, udp)
        if DNS_PORT in (sport, dport):
            out.append((number, frame[udp + 8:udp + length]))
    return out


DNS_PORT = 53
CAPTURED = _dns_payloads()


def test_capture_holds_the_expected_messages() -> None:
    assert len(CAPTURED) == 16
    types = [DNSMessage.decode(m).questions[0].qtype for _, m in CAPTURED[::2]]
    assert types == [QType.A, QType.AAAA, QType.MX, QType.TXT, QType.NS, QType.SOA, QType.PTR,
                     QType.A]


@pytest.mark.parametrize(("number", "message"), CAPTURED, ids=[str(n) for n, _ in CAPTURED])
def test_captured_message_round_trips_byte_exact(number: int, message: bytes) -> None:
    # The responder compressed with Scapy's dns_compress; ours makes the same choices.
    assert DNSMessage.decode(message).encode(compress=True) == message


TSHARK_FIELDS = (
    "dns.id", "dns.flags.response", "dns.flags.rcode", "dns.count.queries",
    "dns.count.answers", "dns.count.auth_rr", "dns.count.add_rr", "dns.qry.name",
    "dns.qry.type", "dns.resp.name", "dns.resp.type", "dns.resp.ttl", "dns.a", "dns.aaaa",
    "dns.cname", "dns.mx.preference", "dns.mx.mail_exchange", "dns.ns", "dns.ptr.domain_name",
    "dns.soa.mname", "dns.soa.rname", "dns.soa.serial_number", "dns.soa.refresh_interval",
    "dns.txt")


def _as_tshark(msg: DNSMessage) -> list[str]:
    """Our decoding laid out as tshark prints those fields (lists joined by commas)."""
    records = msg.answers + msg.authorities + msg.additionals

    def each(kind: type, attr: str) -> str:
        return ",".join(str(getattr(r.rdata, attr)) for r in records
                        if type(r.rdata) is kind)

    txt = ",".join(s.decode() for r in records if isinstance(r.rdata, TXT)
                   for s in r.rdata.strings)
    return [
        f"0x{msg.id:04x}", str(int(msg.qr)), str(int(msg.rcode)) if msg.qr else "",
        str(msg.qdcount), str(msg.ancount), str(msg.nscount), str(msg.arcount),
        ",".join(q.name for q in msg.questions), ",".join(str(int(q.qtype)) for q in msg.questions),
        ",".join(r.name for r in records), ",".join(str(int(r.rtype or 0)) for r in records),
        ",".join(str(r.ttl) for r in records), each(A, "address"), each(AAAA, "address"),
        each(CNAME, "target"), each(MX, "preference"), each(MX, "exchange"), each(NS, "target"),
        each(PTR, "target"), each(SOA, "mname"), each(SOA, "rname"), each(SOA, "serial"),
        each(SOA, "refresh"), txt,
    ]


@pytest.mark.tshark
@needs_tshark
def test_captured_messages_match_tshark() -> None:
    argv = ["tshark", "-r", str(DATA / "lo-usec.pcap"), "-Y", "dns", "-T", "fields",
            "-E", "separator=|", "-e", "frame.number"]
    for name in TSHARK_FIELDS:
        argv += ["-e", name]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    rows = {int(line.split("|")[0]): line.split("|")[1:] for line in out.splitlines()}
    assert sorted(rows) == [n for n, _ in CAPTURED]
    for number, message in CAPTURED:
        assert _as_tshark(DNSMessage.decode(message)) == rows[number], f"frame {number}"


def test_captured_messages_match_scapy() -> None:
    from scapy.layers.dns import DNS

    for number, message in CAPTURED:
        theirs, msg = DNS(message), DNSMessage.decode(message)
        assert (theirs.id, theirs.qr, theirs.rcode) == (msg.id, msg.qr, msg.rcode)
        assert [q.qname.decode().rstrip(".") for q in theirs.qd] == [q.name for q in msg.questions]
        for section, ours in ((theirs.an, msg.answers), (theirs.ns, msg.authorities),
                              (theirs.ar, msg.additionals)):
            assert [(r.rrname.decode().rstrip("."), r.type, r.ttl) for r in section] == [
                (r.name, r.rtype, r.ttl) for r in ours], f"frame {number}"
            for rr, mine in zip(section, ours, strict=True):
                if isinstance(mine.rdata, (A, AAAA)):
                    assert rr.rdata == mine.rdata.address
                elif isinstance(mine.rdata, (CNAME, NS, PTR)):
                    assert rr.rdata.decode().rstrip(".") == mine.rdata.target
                elif isinstance(mine.rdata, MX):
                    assert (rr.preference, rr.exchange.decode().rstrip(".")) == (
                        mine.rdata.preference, mine.rdata.exchange)
                elif isinstance(mine.rdata, TXT):
                    assert rr.rdata == mine.rdata.strings
                elif isinstance(mine.rdata, SOA):
                    assert (rr.mname.decode().rstrip("."), rr.serial, rr.minimum) == (
                        mine.rdata.mname, mine.rdata.serial, mine.rdata.minimum)


@pytest.mark.tshark
@needs_tshark
def test_our_encoding_read_by_tshark(tmp_path: pathlib.Path) -> None:
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether

    query = DNSMessage.query("mail.wirelab.test", QType.MX, id=0xBEEF)
    reply = query.reply(
        [ResourceRecord("mail.wirelab.test", MX(5, "mx1.wirelab.test"), ttl=30),
         ResourceRecord("mail.wirelab.test", TXT([b"hello", b"world"]), ttl=31)],
        authorities=[ResourceRecord("wirelab.test", SOA("ns1.wirelab.test",
                                                        "root.wirelab.test", 7, 8, 9, 10, 11),
                                    ttl=32)],
        additionals=[ResourceRecord("mx1.wirelab.test", AAAA("2001:db8::25"), ttl=33),
                     ResourceRecord("0.0.18.198.in-addr.arpa", PTR("mx1.wirelab.test"))])
    path = tmp_path / "ours.pcap"
    with PcapWriter(path) as writer:
        for msg in (query, reply):
            frame = Ether() / IP(src="198.18.0.1", dst="198.18.0.2") / UDP(sport=5353 + 1,
                                                                           dport=53)
            writer.write(bytes(frame / msg.encode()), ts=(1700000000, 0))
    argv = ["tshark", "-r", str(path), "-T", "fields", "-E", "separator=|"]
    for name in TSHARK_FIELDS:
        argv += ["-e", name]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    rows = [line.split("|") for line in out.splitlines()]
    assert rows == [_as_tshark(DNSMessage.decode(m.encode())) for m in (query, reply)]
    assert rows[1][TSHARK_FIELDS.index("dns.mx.mail_exchange")] == "mx1.wirelab.test"


# --- malformed input ------------------------------------------------------------------------

HEADER_1Q = bytes.fromhex("0000 0000 0001 0000 0000 0000")


@pytest.mark.parametrize(("data", "error", "message"), [
    (QUERY[:5], TruncatedError, r"DNS\.header at byte 0: truncated: needs 12 bytes, 5 left"),
    (QUERY[:20], TruncatedError, r"DNS\.questions\[0\]\.name at byte 16: truncated"),
    (QUERY[:-2], TruncatedError, r"DNS\.questions\[0\]\.qtype at byte 30"),
    (RESPONSE[:-3], TruncatedError, r"DNS\.answers\[1\]\.rdata at byte 64"),
    (RESPONSE[:34], TruncatedError, r"DNS\.answers\[0\]\.name at byte 34"),
    (HEADER_1Q + b"\xc0", TruncatedError, "pointer cut in half"),
    (HEADER_1Q + b"\x05ab", TruncatedError, r"name at byte 12: .*label of 5 bytes, 2 left"),
    (HEADER_1Q + b"\x41abc\x00\x00\x01\x00\x01", BadFieldError, "reserved label type 0x40"),
    (HEADER_1Q + b"\x81abc\x00\x00\x01\x00\x01", BadFieldError, "reserved label type 0x80"),
    (HEADER_1Q + b"\xc0\x0c\x00\x01\x00\x01", BadPointerError,
     r"questions\[0\]\.name at byte 12: bad compression pointer: pointer to 12 is not before 12"),
    (HEADER_1Q + b"\x01a\xc0\x14\x00\x01\x00\x01\x00", BadPointerError, "pointer to 20 is not "
                                                                       "before 12"),
    (QUERY + b"\0", TrailingDataError, r"DNS\.trailing at byte 34: trailing data: 1 bytes"),
])
def test_malformed(data: bytes, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        DNSMessage.decode(data)


def test_pointer_loop_is_impossible() -> None:
    # Two names pointing at each other: the question name (offset 12) is "abc" then a pointer
    # to the answer's owner (22), which points back to 12.  Followed naively this loops
    # forever; the backwards rule stops it at the first forward jump.
    data = (bytes.fromhex("0000 8000 0001 0001 0000 0000") + b"\x03abc\xc0\x16"
            + b"\x00\x01\x00\x01" + b"\xc0\x0c" + struct.pack("!HHIH", 0xFF00, 1, 0, 0))
    assert data[22:24] == b"\xc0\x0c"
    with pytest.raises(BadPointerError,
                       match=r"questions\[0\]\.name at byte 16: .*pointer to 22 is not before 12"):
        DNSMessage.decode(data)


def test_each_pointer_must_go_below_the_previous_target() -> None:
    # Answer 0 (owner: root, unknown type) carries as RDATA, at offset 30, "b" + a pointer to
    # 34 where "c" + root lies.  Answer 1's owner (offset 37) points to 30.  The jump 32 -> 34
    # lands below the start of the name being read (37) but above the previous target (30):
    # refused, as dnspython does, so that every jump strictly decreases the offset.
    data = (bytes.fromhex("0000 8000 0001 0002 0000 0000") + b"\x01a\x00\x00\x01\x00\x01"
            + b"\x00" + struct.pack("!HHIH", 0xFF00, 1, 0, 7) + b"\x01b\xc0\x22\x01c\x00"
            + b"\xc0\x1e" + struct.pack("!HHIH", 1, 1, 0, 4) + bytes(4))
    assert data[30:37] == b"\x01b\xc0\x22\x01c\x00" and data[37:39] == b"\xc0\x1e"
    with pytest.raises(BadPointerError, match=r"answers\[1\]\.name at byte 32: .*pointer to "
                                              r"34 is not before 30"):
        DNSMessage.decode(data)


def _pointer_chain(count: int) -> bytes:
    """``count`` questions, each a 63-byte label and a pointer to the name before it."""
    data = bytearray(struct.pack("!6H", 0, 0, count, 0, 0, 0))
    previous = None
    for _ in range(count):
        start = len(data)
        data += b"\x3f" + b"x" * 63
        data += b"\x00" if previous is None else struct.pack("!H", 0xC000 | previous)
        data += b"\x00\x01\x00\x01"
        previous = start
    return bytes(data)


def test_name_longer_than_255_through_pointers() -> None:
    names = [q.name for q in DNSMessage.decode(_pointer_chain(3)).questions]
    assert [len(name) for name in names] == [63, 127, 191]  # 3 * 64 + 1 = 193 bytes: fine
    with pytest.raises(BadFieldError, match=r"questions\[3\]\.name .*longer than 255"):
        DNSMessage.decode(_pointer_chain(4))  # 4 * 64 + 1 = 257 bytes


@pytest.mark.parametrize(("rtype", "rdata", "message"), [
    (QType.A, b"\x01\x02\x03", r"answers\[0\]\.rdata at byte .*A RDATA is 3 bytes, not 4"),
    (QType.AAAA, bytes(4), "AAAA RDATA is 4 bytes, not 16"),
    (QType.MX, b"\x00\x0a\x00\x99", r"answers\[0\]\.rdlength .*RDATA ends 1 bytes before"),
    (QType.SOA, b"\x00\x00" + bytes(19), r"answers\[0\]\.rdata\.serial .*truncated"),
    (QType.TXT, b"\x05abc", r"answers\[0\]\.rdata\.string .*truncated"),
])
def test_rdata_bounded_by_rdlength(rtype: int, rdata: bytes, message: str) -> None:
    data = (bytes.fromhex("0000 8000 0000 0001 0000 0000") + b"\x00"
            + struct.pack("!HHIH", rtype, 1, 0, len(rdata)) + rdata)
    with pytest.raises((BadFieldError, TruncatedError), match=message):
        DNSMessage.decode(data)


def test_allow_trailing_keeps_and_resends() -> None:
    msg = DNSMessage.decode(QUERY + b"pad", allow_trailing=True)
    assert msg.trailing == b"pad" and msg.encode() == QUERY + b"pad"


def test_decode_at_offset_reports_absolute_offsets() -> None:
    frame = b"\xee" * 42 + QUERY
    assert DNSMessage.decode(frame, 42).encode() == QUERY
    with pytest.raises(TruncatedError, match="at byte 72"):
        DNSMessage.decode(frame[:-2], 42)
    bad = frame[:42] + HEADER_1Q + b"\xc0\x0c"
    with pytest.raises(BadPointerError, match="at byte 54: .*pointer to 12 is not before 12"):
        DNSMessage.decode(bad, 42)


def test_unknown_and_opt_records_stay_raw() -> None:
    opt = ResourceRecord("", RawRdata(b"\x00\x0a\x00\x08" + bytes(8)), QType.OPT, 1232, 0)
    srv = ResourceRecord("_x._udp.wirelab.test", RawRdata(b"\x00\x01\x00\x02\x00\x35\x00"),
                         QType.SRV)
    ch_a = ResourceRecord("version.bind", RawRdata(b"\x00\x01"), QType.A, QClass.CH)
    msg = DNSMessage(id=7, qr=True, answers=[srv, ch_a], additionals=[opt])
    back = DNSMessage.decode(msg.encode())
    assert back.additionals[0].rdata == opt.rdata and back.additionals[0].rclass == 1232
    assert back.answers[0].rdata == srv.rdata  # SRV: not decoded here, kept as bytes
    assert back.answers[1].rdata == ch_a.rdata  # A outside class IN has no fixed format


# --- encoding ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "message"), [
    ("a" * 64 + ".test", "label of 64 bytes > 63"),
    (".".join(["a" * 63] * 4), "257 bytes on the wire > 255"),
    ("a..b", "empty label"),
    ("bücher.test", "not ASCII"),
    ("a\\", "lone backslash"),
    ("a\\300b", "escape"),
])
def test_bad_names_refused(name: str, message: str) -> None:
    with pytest.raises(EncodeError, match=message):
        DNSMessage.query(name).encode()


def test_255_byte_name_is_the_limit() -> None:
    name = ".".join(["a" * 63] * 3 + ["b" * 61])
    assert sum(len(x) + 1 for x in name_to_labels(name)) + 1 == 255
    assert DNSMessage.decode(DNSMessage.query(name).encode()).questions[0].name == name


@pytest.mark.parametrize("label", [b"a.b", b"back\\slash", b"\x00\xff sp", b"*", b"_srv-1"])
def test_awkward_labels_round_trip(label: bytes) -> None:
    wire = b"\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00" + bytes([len(label)]) + label
    wire += b"\x04test\x00\x00\x01\x00\x01"
    msg = DNSMessage.decode(wire)
    assert msg.encode() == wire
    assert name_to_labels(msg.questions[0].name) == [label, b"test"]


def test_root_name_and_trailing_dot() -> None:
    assert name_to_labels("") == name_to_labels(".") == []
    assert name_to_labels("wirelab.test.") == [b"wirelab", b"test"]
    msg = DNSMessage(questions=[Question(".", QType.NS)])
    assert DNSMessage.decode(msg.encode()).questions[0].name == ""


def test_counts_computed_or_as_given() -> None:
    msg = DNSMessage.query("a.test", id=1)
    assert msg.encode()[4:12] == b"\x00\x01\x00\x00\x00\x00\x00\x00"
    msg.ancount = 3  # a lie, sent as given: the decoder then finds the answers missing
    assert msg.encode()[6:8] == b"\x00\x03"
    with pytest.raises(TruncatedError, match=r"answers\[0\]\.name"):
        DNSMessage.decode(msg.encode())


def test_rdlength_as_given() -> None:
    rr = ResourceRecord("a.test", A("198.18.0.1"), rdlength=5)
    wire = DNSMessage(answers=[rr]).encode()
    assert wire[-6:-4] == b"\x00\x05"


@pytest.mark.parametrize(("msg", "message"), [
    (DNSMessage(id=70000), "header"),
    (DNSMessage(answers=[ResourceRecord("a", A("1.2.3"))]), "A address"),
    (DNSMessage(answers=[ResourceRecord("a", AAAA("1.2.3.4"))]), "AAAA address"),
    (DNSMessage(answers=[ResourceRecord("a", TXT([b"x" * 256]))]), "TXT string of 256"),
    (DNSMessage(answers=[ResourceRecord("a", RawRdata(b"x"))]), "rtype is None"),
    (DNSMessage(answers=[ResourceRecord("a", A("1.2.3.4"), ttl=-1)]), "TTL"),
    (DNSMessage(answers=[ResourceRecord("a", MX(70000, "b"))]), "MX preference"),
])
def test_encode_errors(msg: DNSMessage, message: str) -> None:
    with pytest.raises(EncodeError, match=message):
        msg.encode()


def test_compression_matches_suffixes_only_exactly() -> None:
    msg = DNSMessage(questions=[Question("WWW.Wirelab.test")],
                     answers=[ResourceRecord("www.wirelab.test", A("198.18.0.1"))])
    wire = msg.encode()
    # Only "test" is shared byte for byte; case differs in the rest (kept so decoding then
    # encoding gives the same bytes).
    assert b"\x03www\x07wirelab\xc0" in wire
    assert DNSMessage.decode(wire).answers[0].name == "www.wirelab.test"


def test_query_and_reply_helpers() -> None:
    query = DNSMessage.query("www.wirelab.test", QType.AAAA)
    assert 0 <= query.id <= 0xFFFF and query.rd and not query.qr
    reply = query.reply([ResourceRecord("www.wirelab.test", AAAA("2001:db8::1"), ttl=5)],
                        rcode=Rcode.NOERROR)
    assert (reply.id, reply.qr, reply.aa, reply.rd, reply.questions) == (
        query.id, True, True, True, query.questions)
    assert reply.questions[0] is not query.questions[0]
    back = DNSMessage.decode(reply.encode())
    assert back.answers[0].rdata == AAAA("2001:db8::1") and back.ancount == 1
    nx = query.reply(rcode=Rcode.NXDOMAIN)
    assert DNSMessage.decode(nx.encode()).rcode == Rcode.NXDOMAIN


def test_flags_word_bits() -> None:
    msg = DNSMessage(qr=True, opcode=Opcode.UPDATE, aa=True, tc=True, rd=True, ra=True, z=True,
                     ad=True, cd=True, rcode=Rcode.REFUSED)
    assert msg.flags == 0b1_0101_1_1_1_1_1_1_1_0101
    back = DNSMessage.decode(msg.encode())
    assert (back.opcode, back.z, back.ad, back.cd, back.rcode) == (Opcode.UPDATE, True, True,
                                                                  True, Rcode.REFUSED)
    assert DNSMessage.decode(struct.pack("!HH", 0, 0x300F) + bytes(8)).opcode == 6  # unknown


def test_tcp_framing() -> None:
    msg = DNSMessage.decode(QUERY)
    assert msg.encode_tcp() == b"\x00\x22" + QUERY == frame_tcp(QUERY)
    assert DNSMessage.decode_tcp(msg.encode_tcp()).encode() == QUERY
    with pytest.raises(TruncatedError, match="announces 34 bytes, 33 present"):
        DNSMessage.decode_tcp(msg.encode_tcp()[:-1])
    with pytest.raises(TrailingDataError, match="1 bytes after the framed message"):
        DNSMessage.decode_tcp(msg.encode_tcp() + b"\0")


# --- a real peer: glibc's stub resolver asks a responder that answers with our encoder -------

_RESOLVER_LAB = r"""
import pathlib, socket, subprocess, tempfile, threading
from wirelab.wire.dns import A, AAAA, CNAME, DNSMessage, QType, ResourceRecord

subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
server.bind(("127.0.0.1", 53))
seen = []

def serve():
    while True:
        data, peer = server.recvfrom(4096)
        query = DNSMessage.decode(data)
        seen.append(int(query.questions[0].qtype))
        name = query.questions[0].name
        answers = [ResourceRecord(name, CNAME("web.wirelab.test"), ttl=30)]
        if query.questions[0].qtype == QType.A:
            answers.append(ResourceRecord("web.wirelab.test", A("198.18.0.7"), ttl=30))
        elif query.questions[0].qtype == QType.AAAA:
            answers.append(ResourceRecord("web.wirelab.test", AAAA("2001:db8::7"), ttl=30))
        server.sendto(query.reply(answers, ra=True).encode(compress=True), peer)

threading.Thread(target=serve, daemon=True).start()
conf = pathlib.Path(tempfile.mkdtemp(prefix="wirelab-test-")) / "resolv.conf"
try:
    conf.write_text("nameserver 127.0.0.1\noptions edns0 attempts:1 timeout:2\n")
    subprocess.run(["mount", "--bind", str(conf), "/etc/resolv.conf"], check=True)
    infos = socket.getaddrinfo("www.wirelab.test", 80, type=socket.SOCK_STREAM)
    canon = socket.getaddrinfo("www.wirelab.test", 80, socket.AF_INET, socket.SOCK_STREAM,
                               flags=socket.AI_CANONNAME)[0][3]
    print(sorted({info[4][0] for info in infos}), canon, sorted(set(seen)))
finally:
    conf.unlink()
    conf.parent.rmdir()
"""


@pytest.mark.lab
def test_glibc_resolver_accepts_our_compressed_answers() -> None:
    if shutil.which("unshare") is None:
        pytest.skip("unshare(1) not installed")
    # A private network + mount namespace: its own loopback, its own /etc/resolv.conf view.
    argv = ["unshare", "-mn"] if os.geteuid() == 0 else ["unshare", "-rmn"]
    done = subprocess.run(argv + [sys.executable, "-c", _RESOLVER_LAB], capture_output=True,
                          text=True, timeout=30)
    if done.returncode and "Operation not permitted" in done.stderr:
        pytest.skip(f"cannot create namespaces here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ("['198.18.0.7', '2001:db8::7'] web.wirelab.test "
                                   f"[{int(QType.A)}, {int(QType.AAAA)}]")
