"""Cross-check: every field ``wirelab dissect --json`` prints equals tshark's on the same file.

The capture is several thousand mixed packets made by :mod:`wirelab.samples` (VLAN, IPv6 with
fragment headers, IPv4 fragments, TCP options, DNS with compression, ICMP errors quoting a
datagram, ARP), written as pcap and as a two-interface pcapng (Ethernet and raw IP).  tshark
is the independent oracle: its output is parsed with ``-T fields``, one column per field.

Each (layer, field) that wirelab prints is either compared with a named tshark field or listed
in ``NOT_IN_TSHARK`` with the reason; a field in neither fails the test, so a new field cannot
slip past the oracle unnoticed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from wirelab import samples
from wirelab.wire.pcapng import PcapngWriter

pytestmark = [
    pytest.mark.tshark,
    pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed"),
]

N_PACKETS = 4000


def _int(text: str) -> int:
    return int(text, 0)


def _bool(text: str) -> bool:
    return text in ("1", "True")


def _status(text: str) -> bool | None:
    # tshark's checksum status: 0 bad, 1 good, 2 unverified (e.g. UDP checksum 0), 3 not present
    return {"0": False, "1": True}.get(text)


_FLAG_LETTERS = ("FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR")


def _flag_str(text: str) -> str:
    """tshark's ``·······AP···`` (one column a bit, FIN rightmost) as ``"PSH, ACK"``."""
    bits = text[::-1][:8]
    return ", ".join(name for name, ch in zip(_FLAG_LETTERS, bits, strict=True) if ch != "\u00b7")


# (layer, field) -> (tshark field, parse, transform of wirelab's value)
Same = Callable[[Any], Any]
_id: Same = lambda v: v  # noqa: E731

FIELDS: dict[tuple[str, str], tuple[str, Callable[[str], Any], Same]] = {
    ("Ethernet", "dst"): ("eth.dst", str, _id),
    ("Ethernet", "src"): ("eth.src", str, _id),
    ("Ethernet", "type"): ("eth.type", _int, _id),
    ("ARP", "hwtype"): ("arp.hw.type", _int, _id),
    ("ARP", "ptype"): ("arp.proto.type", _int, _id),
    ("ARP", "hwlen"): ("arp.hw.size", _int, _id),
    ("ARP", "plen"): ("arp.proto.size", _int, _id),
    ("ARP", "op"): ("arp.opcode", _int, _id),
    ("ARP", "sha"): ("arp.src.hw_mac", str, _id),
    ("ARP", "spa"): ("arp.src.proto_ipv4", str, _id),
    ("ARP", "tha"): ("arp.dst.hw_mac", str, _id),
    ("ARP", "tpa"): ("arp.dst.proto_ipv4", str, _id),
    ("IPv4", "version"): ("ip.version", _int, _id),
    ("IPv4", "ihl"): ("ip.hdr_len", _int, lambda v: v * 4),
    ("IPv4", "tos"): ("ip.dsfield", _int, _id),
    ("IPv4", "total_length"): ("ip.len", _int, _id),
    ("IPv4", "id"): ("ip.id", _int, _id),
    ("IPv4", "flags"): ("ip.flags", _int, _id),
    ("IPv4", "frag_offset"): ("ip.frag_offset", _int, _id),
    ("IPv4", "ttl"): ("ip.ttl", _int, _id),
    ("IPv4", "proto"): ("ip.proto", _int, _id),
    ("IPv4", "checksum"): ("ip.checksum", _int, _id),
    ("IPv4", "checksum_ok"): ("ip.checksum.status", _status, _id),
    ("IPv4", "src"): ("ip.src", str, _id),
    ("IPv4", "dst"): ("ip.dst", str, _id),
    ("IPv6", "version"): ("ipv6.version", _int, _id),
    ("IPv6", "traffic_class"): ("ipv6.tclass", _int, _id),
    ("IPv6", "flow_label"): ("ipv6.flow", _int, _id),
    ("IPv6", "payload_length"): ("ipv6.plen", _int, _id),
    ("IPv6", "next_header"): ("ipv6.nxt", _int, _id),
    ("IPv6", "hop_limit"): ("ipv6.hlim", _int, _id),
    ("IPv6", "src"): ("ipv6.src", str, _id),
    ("IPv6", "dst"): ("ipv6.dst", str, _id),
    ("ICMP", "type"): ("icmp.type", _int, _id),
    ("ICMP", "code"): ("icmp.code", _int, _id),
    ("ICMP", "checksum"): ("icmp.checksum", _int, _id),
    ("ICMP", "checksum_ok"): ("icmp.checksum.status", _status, _id),
    ("ICMPv6", "type"): ("icmpv6.type", _int, _id),
    ("ICMPv6", "code"): ("icmpv6.code", _int, _id),
    ("ICMPv6", "checksum"): ("icmpv6.checksum", _int, _id),
    ("ICMPv6", "checksum_ok"): ("icmpv6.checksum.status", _status, _id),
    ("ICMPv6", "id"): ("icmpv6.echo.identifier", _int, _id),
    ("ICMPv6", "seq"): ("icmpv6.echo.sequence_number", _int, _id),
    ("UDP", "sport"): ("udp.srcport", _int, _id),
    ("UDP", "dport"): ("udp.dstport", _int, _id),
    ("UDP", "length"): ("udp.length", _int, _id),
    ("UDP", "checksum"): ("udp.checksum", _int, _id),
    ("UDP", "checksum_ok"): ("udp.checksum.status", _status, _id),
    ("TCP", "sport"): ("tcp.srcport", _int, _id),
    ("TCP", "dport"): ("tcp.dstport", _int, _id),
    ("TCP", "seq"): ("tcp.seq_raw", _int, _id),
    ("TCP", "ack"): ("tcp.ack_raw", _int, _id),
    ("TCP", "data_offset"): ("tcp.hdr_len", _int, lambda v: v * 4),
    ("TCP", "flags"): ("tcp.flags", _int, _id),
    ("TCP", "reserved"): ("tcp.flags.res", _int, _id),
    ("TCP", "window"): ("tcp.window_size_value", _int, _id),
    ("TCP", "checksum"): ("tcp.checksum", _int, _id),
    ("TCP", "checksum_ok"): ("tcp.checksum.status", _status, _id),
    ("TCP", "urgent"): ("tcp.urgent_pointer", _int, _id),
    ("TCP", "payload_length"): ("tcp.len", _int, _id),
    ("TCP", "flag_names"): ("tcp.flags.str", lambda s: _flag_str(s), _id),
    ("DNS", "id"): ("dns.id", _int, _id),
    ("DNS", "qr"): ("dns.flags.response", _bool, _id),
    ("DNS", "opcode"): ("dns.flags.opcode", _int, _id),
    ("DNS", "tc"): ("dns.flags.truncated", _bool, _id),
    ("DNS", "rd"): ("dns.flags.recdesired", _bool, _id),
    ("DNS", "qdcount"): ("dns.count.queries", _int, _id),
    ("DNS", "ancount"): ("dns.count.answers", _int, _id),
    ("DNS", "nscount"): ("dns.count.auth_rr", _int, _id),
    ("DNS", "arcount"): ("dns.count.add_rr", _int, _id),
}

# Fields tshark shows only in responses (RFC 1035: meaningful there only).
RESPONSE_ONLY = {("DNS", "aa"): "dns.flags.authoritative", ("DNS", "ra"): "dns.flags.recavail",
                 ("DNS", "rcode"): "dns.flags.rcode"}

# Fields compared below by hand (lists and structures), with the tshark fields they use.
STRUCTURED = {
    ("Ethernet", "vlan"): ["vlan.id", "vlan.priority", "vlan.etype"],
    ("IPv6", "ext_headers"): ["ipv6.fraghdr.nxt", "ipv6.fraghdr.offset", "ipv6.fraghdr.more",
                              "ipv6.fraghdr.ident"],
    ("TCP", "options"): ["tcp.option_kind", "tcp.options.mss_val", "tcp.options.wscale.shift",
                         "tcp.options.timestamp.tsval", "tcp.options.timestamp.tsecr",
                         "tcp.options.sack_le", "tcp.options.sack_re"],
    ("ICMP", "id"): ["icmp.ident"],
    ("ICMP", "seq"): ["icmp.seq"],
    ("DNS", "questions"): ["dns.qry.name", "dns.qry.type", "dns.qry.class"],
    ("DNS", "answers"): ["dns.resp.name", "dns.resp.type", "dns.resp.ttl", "dns.a", "dns.aaaa",
                         "dns.cname"],
}

NOT_IN_TSHARK = {
    ("IPv4", "options"): "the generated traffic carries no IPv4 options; covered by vectors",
    ("ICMP", "rest"): "the raw 4 bytes after the checksum; tshark splits them (id/seq, MTU)",
    ("ICMPv6", "rest"): "the raw 4 bytes after the checksum; compared as id/seq",
    ("ICMP", "payload_length"): "derived (frame length minus headers)",
    ("ICMPv6", "payload_length"): "derived (frame length minus headers)",
    ("UDP", "payload_length"): "derived; tshark's data.len is absent for DNS payloads",
    ("DNS", "z"): "tshark folds the reserved bit into dns.flags.z only for queries",
    ("DNS", "authorities"): "the generated traffic has no authority records",
    ("DNS", "additionals"): "the generated traffic has no additional records",
    ("Custom", "version"): "tshark has no dissector for the curriculum's custom header",
    ("Custom", "type"): "tshark has no dissector for the curriculum's custom header",
    ("Custom", "length"): "tshark has no dissector for the curriculum's custom header",
    ("Custom", "length_ok"): "tshark has no dissector for the curriculum's custom header",
    ("Custom", "payload_length"): "tshark has no dissector for the curriculum's custom header",
}

TSHARK_PREFS = ["ip.defragment:FALSE", "ipv6.defragment:FALSE", "ip.check_checksum:TRUE",
                "udp.check_checksum:TRUE", "tcp.check_checksum:TRUE",
                "tcp.relative_sequence_numbers:FALSE", "tcp.analyze_sequence_numbers:FALSE"]
FRAME_FIELDS = ["frame.len", "frame.cap_len", "frame.interface_id"]


def _all_tshark_fields() -> list[str]:
    names = FRAME_FIELDS + [spec[0] for spec in FIELDS.values()] + list(RESPONSE_ONLY.values())
    for extra in STRUCTURED.values():
        names.extend(extra)
    return list(dict.fromkeys(names))


def tshark_rows(path: Path) -> list[dict[str, list[str]]]:
    names = _all_tshark_fields()
    cmd = ["tshark", "-n", "-r", str(path), "-T", "fields", "-E", "aggregator=|",
           "-E", "occurrence=a"]
    for pref in TSHARK_PREFS:
        cmd += ["-o", pref]
    for name in names:
        cmd += ["-e", name]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        cols = line.split("\t")
        rows.append({n: (c.split("|") if c else []) for n, c in zip(names, cols, strict=True)})
    return rows


def wirelab_rows(path: Path) -> list[dict[str, Any]]:
    out = subprocess.run([sys.executable, "-m", "wirelab", "dissect", str(path), "--json"],
                         capture_output=True, text=True, check=True).stdout
    return [json.loads(line) for line in out.splitlines()]


def compare(ours: dict[str, Any], theirs: dict[str, list[str]]) -> list[str]:
    """Differences between one packet's JSON and tshark's fields, as readable strings."""
    diffs: list[str] = []
    n = ours["number"]

    def check(what: str, mine: Any, tshark: Any) -> None:
        if mine != tshark:
            diffs.append(f"#{n} {what}: wirelab {mine!r} != tshark {tshark!r}")

    check("frame.len", ours["length"], _int(theirs["frame.len"][0]))
    check("frame.cap_len", ours["caplen"], _int(theirs["frame.cap_len"][0]))
    if theirs["frame.interface_id"]:
        check("frame.interface_id", ours["interface"], _int(theirs["frame.interface_id"][0]))
    # The first occurrence of a field is the outermost layer's (an ICMP error's quoted
    # header comes later), so layer k of a kind is compared with occurrence k.
    seen: dict[str, int] = {}
    for layer in ours["layers"]:
        name = layer["layer"]
        k = seen.get(name, 0)
        seen[name] = k + 1
        for field, value in layer.items():
            if field == "layer":
                continue
            key = (name, field)
            if key in FIELDS:
                tfield, parse, same = FIELDS[key]
                vals = theirs[tfield]
                if key[1] == "checksum_ok" and not vals:
                    check(tfield, value, None)
                    continue
                if k >= len(vals):
                    diffs.append(f"#{n} {tfield}: tshark has no occurrence {k} (wirelab {value!r})")
                    continue
                check(tfield, same(value), parse(vals[k]))
            elif key in RESPONSE_ONLY:
                if layer["qr"]:
                    check(RESPONSE_ONLY[key], value, _int(theirs[RESPONSE_ONLY[key]][0]))
            elif key in STRUCTURED:
                diffs.extend(_structured(n, key, layer, theirs))
            elif key not in NOT_IN_TSHARK:
                diffs.append(f"#{n} {name}.{field}: printed by wirelab but not cross-checked")
    return diffs


def _structured(n: int, key: tuple[str, str], layer: dict[str, Any],
                t: dict[str, list[str]]) -> list[str]:
    got: Any
    want: Any
    if key == ("Ethernet", "vlan"):
        got = [(v["vid"], v["pcp"], v["type"]) for v in layer["vlan"]]
        want = [(_int(a), _int(b), _int(c)) for a, b, c in
                zip(t["vlan.id"], t["vlan.priority"], t["vlan.etype"], strict=True)]
    elif key == ("IPv6", "ext_headers"):
        frags = [e for e in layer["ext_headers"] if "frag_offset" in e]
        got = [(e["next_header"], e["frag_offset"], bool(e["m"]), e["identification"])
               for e in frags]
        want = [(_int(a), _int(b), _bool(c), _int(d)) for a, b, c, d in
                zip(t["ipv6.fraghdr.nxt"], t["ipv6.fraghdr.offset"], t["ipv6.fraghdr.more"],
                    t["ipv6.fraghdr.ident"], strict=True)]
    elif key == ("TCP", "options"):
        opts = layer["options"]
        got = {
            "kinds": [o["kind"] for o in opts],
            "mss": [o["value"] for o in opts if o["option"] == "MSS"],
            "ws": [o["shift"] for o in opts if o["option"] == "WindowScale"],
            "tsval": [o["tsval"] for o in opts if o["option"] == "Timestamps"],
            "tsecr": [o["tsecr"] for o in opts if o["option"] == "Timestamps"],
            "sle": [b[0] for o in opts if o["option"] == "SACK" for b in o["blocks"]],
            "sre": [b[1] for o in opts if o["option"] == "SACK" for b in o["blocks"]],
        }
        want = {
            "kinds": [_int(v) for v in t["tcp.option_kind"]],
            "mss": [_int(v) for v in t["tcp.options.mss_val"]],
            "ws": [_int(v) for v in t["tcp.options.wscale.shift"]],
            "tsval": [_int(v) for v in t["tcp.options.timestamp.tsval"]],
            "tsecr": [_int(v) for v in t["tcp.options.timestamp.tsecr"]],
            "sle": [_int(v) for v in t["tcp.options.sack_le"]],
            "sre": [_int(v) for v in t["tcp.options.sack_re"]],
        }
    elif key in (("ICMP", "id"), ("ICMP", "seq")):
        if layer["type"] not in (0, 8):
            return []  # only echo messages carry an identifier and a sequence number
        tfield = "icmp.ident" if key[1] == "id" else "icmp.seq"
        got, want = layer[key[1]], _int(t[tfield][0])
    elif key == ("DNS", "questions"):
        got = [(q["name"], q["qtype"], q["qclass"]) for q in layer["questions"]]
        want = [(a, _int(b), _int(c)) for a, b, c in
                zip(t["dns.qry.name"], t["dns.qry.type"], t["dns.qry.class"], strict=True)]
    else:  # DNS answers
        got = {"rr": [(a["name"], a["rtype"], a["ttl"]) for a in layer["answers"]],
               "A": [a["rdata"] for a in layer["answers"] if a["rtype"] == 1],
               "AAAA": [a["rdata"] for a in layer["answers"] if a["rtype"] == 28],
               "CNAME": [a["rdata"] for a in layer["answers"] if a["rtype"] == 5]}
        want = {"rr": [(a, _int(b), _int(c)) for a, b, c in
                       zip(t["dns.resp.name"], t["dns.resp.type"], t["dns.resp.ttl"],
                           strict=True)],
                "A": t["dns.a"], "AAAA": t["dns.aaaa"], "CNAME": t["dns.cname"]}
    return [] if got == want else [f"#{n} {key[0]}.{key[1]}: wirelab {got!r} != tshark {want!r}"]


def _assert_agree(path: Path, expect: int) -> None:
    ours, theirs = wirelab_rows(path), tshark_rows(path)
    assert len(ours) == len(theirs) == expect
    diffs = [d for mine, t in zip(ours, theirs, strict=True) for d in compare(mine, t)]
    assert not diffs, f"{len(diffs)} differences, first ones:\n" + "\n".join(diffs[:25])
    errors = [r for r in ours if r["error"]]
    assert not errors, f"wirelab reported errors on well-formed packets: {errors[:3]}"


@pytest.fixture(scope="module")
def mixed_pcap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("xcheck") / "mixed.pcap"
    frames = list(samples.curriculum_trace()) + list(samples.mixed_frames(N_PACKETS))
    samples.write_pcap(path, frames)
    return path


def test_every_field_agrees_with_tshark_pcap(mixed_pcap: Path) -> None:
    _assert_agree(mixed_pcap, N_PACKETS + len(samples.curriculum_trace()))


def test_every_field_agrees_with_tshark_pcapng_two_interfaces(tmp_path: Path) -> None:
    """Interface 0 is Ethernet; interface 1 is raw IP (the same frames, link header cut)."""
    path = tmp_path / "two.pcapng"
    count = 0
    with open(path, "wb") as fh:
        writer = PcapngWriter(fh)
        eth = writer.add_interface(linktype=1, tsresol=9, name="lab-eth")
        raw = writer.add_interface(linktype=101, name="lab-raw")
        for ts_ns, frame in samples.mixed_frames(1500, seed=7):
            ethertype = int.from_bytes(frame[12:14], "big")
            if count % 2 and ethertype in (0x0800, 0x86DD):
                writer.write(frame[14:], (ts_ns // 10**9, ts_ns % 10**9), interface_id=raw)
            else:
                writer.write(frame, (ts_ns // 10**9, ts_ns % 10**9), interface_id=eth)
            count += 1
        writer.close()
    _assert_agree(path, count)


def test_a_mismatch_is_reported(mixed_pcap: Path) -> None:
    """The comparison itself can fail: a changed field is caught."""
    ours, theirs = wirelab_rows(mixed_pcap)[:50], tshark_rows(mixed_pcap)[:50]
    ip = next(layer for r in ours for layer in r["layers"] if layer["layer"] == "IPv4")
    ip["ttl"] += 1
    diffs = [d for mine, t in zip(ours, theirs, strict=True) for d in compare(mine, t)]
    assert any("ip.ttl" in d for d in diffs)


def test_snaplen_cut_capture_agrees_with_tshark(tmp_path: Path) -> None:
    """A capture cut at 96 bytes (tcpdump -s 96): headers still decode, payloads are partial."""
    path = tmp_path / "snapped.pcap"
    from wirelab.wire.pcap import PcapWriter

    frames = list(samples.mixed_frames(1200, seed=96))
    with PcapWriter(path, snaplen=96, nanosecond=True) as writer:
        for ts_ns, frame in frames:
            writer.write(frame, (ts_ns // 10**9, ts_ns % 10**9))
    ours = wirelab_rows(path)
    cut = [r for r in ours if r["caplen"] < r["length"]]
    assert len(cut) > 200, "the sample should hold many frames longer than the snaplen"
    assert all(r["error"] is None for r in ours), [r["error"] for r in ours if r["error"]][:3]
    _assert_agree(path, len(frames))
