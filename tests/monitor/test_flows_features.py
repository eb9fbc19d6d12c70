"""``wirelab flows``: ICMP flows, IP bytes, the service guess, the active timeout, Zeek's
field order.  Expectations are worked out by hand from the frames built here (sizes: IPv4
header 20 bytes, TCP 20 without options, UDP and ICMP 8), and IP/payload bytes are checked
against tshark's ``ip.len``/``tcp.len`` sums on real loopback traffic."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest
from click.testing import CliRunner

from wirelab import samples
from wirelab.cli.flows import flows
from wirelab.monitor.flows import FIELDS
from wirelab.wire.icmp import ICMP
from wirelab.wire.icmpv6 import ICMPv6
from wirelab.wire.ipv4 import IPProto
from wirelab.wire.ipv6 import ExtHeader, IPv6
from wirelab.wire.tcp import TCPFlags

C, S, R = samples.CLIENT, samples.SERVER, samples.ROUTER
SYN, ACK, FIN, PSH, RST = TCPFlags.SYN, TCPFlags.ACK, TCPFlags.FIN, TCPFlags.PSH, TCPFlags.RST


def icmp4(src: samples.Host, dst: samples.Host, kind: int, code: int = 0, ident: int = 1,
          payload: bytes = b"p" * 32) -> bytes:
    msg = ICMP(type=kind, code=code, id=ident, seq=1, payload=payload).encode()
    return samples.ether(src, dst, samples.ipv4(src, dst, IPProto.ICMP, msg))


def run_flows(tmp_path: Path, frames: list[tuple[float, bytes]], *args: str) -> \
        list[dict[str, object]]:
    path = tmp_path / "f.pcap"
    samples.write_pcap(path, [(samples.START_NS + int(t * 1e9), f) for t, f in frames])
    result = CliRunner().invoke(flows, [str(path), "--json", *args])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines()]


def spaced(frames: list[bytes], step: float = 0.001) -> list[tuple[float, bytes]]:
    return [(i * step, f) for i, f in enumerate(frames)]


# --- ICMP -----------------------------------------------------------------------------------


def test_pings_and_replies_are_one_icmp_flow(tmp_path: Path) -> None:
    # two pings with different identifiers: Zeek keys ICMP on (hosts, type, counterpart) only
    frames = [icmp4(C, S, 8, ident=1), icmp4(S, C, 0, ident=1),
              icmp4(C, S, 8, ident=2), icmp4(S, C, 0, ident=2)]
    [r] = run_flows(tmp_path, spaced(frames))
    assert (r["proto"], r["id.orig_h"], r["id.orig_p"], r["id.resp_h"], r["id.resp_p"]) == \
        ("icmp", "198.18.0.10", 8, "198.18.0.20", 0)
    assert (r["orig_pkts"], r["resp_pkts"]) == (2, 2)
    assert (r["orig_bytes"], r["resp_bytes"]) == (64, 64)  # 32 data bytes after the header
    assert (r["orig_ip_bytes"], r["resp_ip_bytes"]) == (2 * 60, 2 * 60)  # 20 + 8 + 32
    assert r["conn_state"] == "OTH" and "history" not in r  # unset, as Zeek's JSON


def test_a_reply_seen_first_makes_its_receiver_the_originator(tmp_path: Path) -> None:
    [r] = run_flows(tmp_path, spaced([icmp4(S, C, 0)]))
    assert (r["id.orig_h"], r["id.orig_p"], r["id.resp_h"], r["id.resp_p"]) == \
        ("198.18.0.10", 8, "198.18.0.20", 0)
    assert (r["orig_pkts"], r["resp_pkts"]) == (0, 1)


def test_unanswered_message_types_key_on_the_code(tmp_path: Path) -> None:
    quoted = samples.udp4(C, S, 5000, 9999, b"x")[14:14 + 28]
    frames = [icmp4(S, C, 3, code=3, payload=quoted), icmp4(R, C, 11, code=0, payload=quoted)]
    recs = run_flows(tmp_path, spaced(frames))
    assert {(r["id.orig_h"], r["id.orig_p"], r["id.resp_p"]) for r in recs} == \
        {("198.18.0.20", 3, 3), ("198.18.0.1", 11, 0)}
    assert all(r["orig_bytes"] == 28 and r["orig_ip_bytes"] == 56 for r in recs)


def test_icmpv6_echo(tmp_path: Path) -> None:
    def echo6(src: samples.Host, dst: samples.Host, kind: int) -> bytes:
        msg = ICMPv6(type=kind, id=7, seq=1, payload=b"v6" * 5).encode(src[2], dst[2])
        ip = IPv6(src=src[2], dst=dst[2], next_header=IPProto.ICMPV6, payload=msg).encode()
        return samples.ether(src, dst, ip, type=0x86DD)

    [r] = run_flows(tmp_path, spaced([echo6(C, S, 128), echo6(S, C, 129)]))
    assert (r["proto"], r["id.orig_h"], r["id.orig_p"], r["id.resp_p"]) == \
        ("icmp", "2001:db8::a", 128, 129)
    assert (r["orig_bytes"], r["orig_ip_bytes"], r["resp_ip_bytes"]) == (10, 58, 58)


def test_icmpv6_behind_an_extension_header(tmp_path: Path) -> None:
    # an MLD-style packet: hop-by-hop options, then ICMPv6 (the ports key walks the chain)
    msg = ICMPv6(type=128, id=1, seq=1, payload=b"x" * 4).encode(C[2], S[2])
    ip = IPv6(src=C[2], dst=S[2], next_header=0,
              ext_headers=[ExtHeader(type=0, next_header=IPProto.ICMPV6)], payload=msg).encode()
    [r] = run_flows(tmp_path, spaced([samples.ether(C, S, ip, type=0x86DD)]))
    assert (r["proto"], r["id.orig_p"], r["id.resp_p"]) == ("icmp", 128, 129)
    assert (r["orig_bytes"], r["orig_ip_bytes"]) == (4, 40 + 8 + 8 + 4)


@pytest.mark.tshark
@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
def test_a_fragmented_datagram_counts_its_whole_payload(tmp_path: Path) -> None:
    trace = tmp_path / "trace.pcap"
    samples.write_pcap(trace, samples.curriculum_trace())
    out = subprocess.run(["tshark", "-n", "-r", str(trace), "-Y", "udp.dstport == 6001", "-T",
                          "fields", "-e", "udp.length"], capture_output=True, text=True,
                         check=True, timeout=60).stdout.split()
    result = CliRunner().invoke(flows, [str(trace), "--json"])
    [r] = [json.loads(x) for x in result.output.splitlines() if '"id.resp_p": 6001' in x]
    assert len(out) == 1 and r["orig_bytes"] == int(out[0]) - 8 > 1000
    assert r["orig_pkts"] == 1  # counted on the frame that completed the datagram


# --- IP bytes and payload bytes -----------------------------------------------------------


def test_ip_bytes_are_ip_total_lengths(tmp_path: Path) -> None:
    req, resp = b"GET / HTTP/1.1\r\n\r\n", b"HTTP/1.1 200 OK\r\n\r\nhello"
    frames = [samples.tcp4(C, S, 40000, 80, 100, 0, SYN),
              samples.tcp4(S, C, 80, 40000, 900, 101, SYN | ACK),
              samples.tcp4(C, S, 40000, 80, 101, 901, ACK),
              samples.tcp4(C, S, 40000, 80, 101, 901, PSH | ACK, req),
              samples.tcp4(S, C, 80, 40000, 901, 101 + len(req), PSH | ACK, resp)]
    [r] = run_flows(tmp_path, spaced(frames))
    assert (r["orig_ip_bytes"], r["resp_ip_bytes"]) == (3 * 40 + len(req), 2 * 40 + len(resp))
    # a 40-byte IP packet sits in a 60-byte Ethernet frame (padding): never the frame length
    assert r["orig_ip_bytes"] != sum(max(len(f), 60) for f in frames[::2])


def test_tcp_bytes_come_from_sequence_numbers_as_zeeks(tmp_path: Path) -> None:
    # 100 bytes sent twice (a retransmission) count once; a 50-byte gap (never captured)
    # counts as sent; a RST with an odd sequence number and the FIN move nothing
    frames = [samples.tcp4(C, S, 40000, 80, 1000, 0, SYN),
              samples.tcp4(S, C, 80, 40000, 5000, 1001, SYN | ACK),
              samples.tcp4(C, S, 40000, 80, 1001, 5001, PSH | ACK, b"a" * 100),
              samples.tcp4(C, S, 40000, 80, 1001, 5001, PSH | ACK, b"a" * 100),
              samples.tcp4(C, S, 40000, 80, 1151, 5001, PSH | ACK, b"b" * 10),
              samples.tcp4(C, S, 40000, 80, 1161, 5001, FIN | ACK),
              samples.tcp4(S, C, 80, 40000, 99999, 0, RST)]
    [r] = run_flows(tmp_path, spaced(frames))
    assert (r["orig_bytes"], r["resp_bytes"]) == (100 + 50 + 10, 0)
    assert r["orig_ip_bytes"] == 40 + 140 + 140 + 50 + 40  # IP bytes: every packet as sent


def _tshark_sums(capture: Path) -> dict[tuple[str, str], list[int]]:
    """Per (source ip:port, destination ip:port): [packets, tcp.len sum, ip.len sum]."""
    out = subprocess.run(["tshark", "-n", "-r", str(capture), "-T", "fields", "-e", "ip.src",
                          "-e", "tcp.srcport", "-e", "ip.dst", "-e", "tcp.dstport", "-e",
                          "tcp.len", "-e", "ip.len"], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    sums: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for line in out.splitlines():
        src, sport, dst, dport, tlen, iplen = line.split("\t")
        entry = sums[(f"{src}:{sport}", f"{dst}:{dport}")]
        entry[0] += 1
        entry[1] += int(tlen)
        entry[2] += int(iplen)
    return sums


@pytest.mark.tshark
@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
def test_bytes_equal_tshark_sums_on_real_http(loopback_http: Path) -> None:
    result = CliRunner().invoke(flows, [str(loopback_http), "--json"])
    recs = [json.loads(line) for line in result.output.splitlines()]
    theirs = _tshark_sums(loopback_http)
    assert len(recs) == len(theirs) // 2 >= 3
    for r in recs:
        orig, resp = f"{r['id.orig_h']}:{r['id.orig_p']}", f"{r['id.resp_h']}:{r['id.resp_p']}"
        assert [r["orig_pkts"], r["orig_bytes"], r["orig_ip_bytes"]] == theirs[(orig, resp)]
        assert [r["resp_pkts"], r["resp_bytes"], r["resp_ip_bytes"]] == theirs[(resp, orig)]
        if r["orig_bytes"]:
            assert r["service"] == "http"  # python's http.server on a random port


# --- service --------------------------------------------------------------------------------


def _exchange(port: int, first: bytes, answer: bytes) -> list[tuple[float, bytes]]:
    return spaced([samples.tcp4(C, S, 40000, port, 100, 0, SYN),
                   samples.tcp4(S, C, port, 40000, 900, 101, SYN | ACK),
                   samples.tcp4(C, S, 40000, port, 101, 901, ACK),
                   samples.tcp4(C, S, 40000, port, 101, 901, PSH | ACK, first),
                   samples.tcp4(S, C, port, 40000, 901, 101 + len(first), PSH | ACK, answer)])


CLIENT_HELLO = bytes.fromhex("160301002e" "0100002a" "0303") + bytes(32) + b"\x00\x00\x02\x13\x01"
SERVER_HELLO = bytes.fromhex("1603030030" "02000026" "0303") + bytes(32)


@pytest.mark.parametrize(("port", "first", "answer", "service"), [
    (8080, b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n", b"HTTP/1.1 200 OK\r\n\r\n", "http"),
    (2222, b"SSH-2.0-OpenSSH_9.2\r\n", b"SSH-2.0-OpenSSH_9.2\r\n", "ssh"),  # not port 22
    (8443, CLIENT_HELLO, SERVER_HELLO, "ssl"),
    (80, b"\x00\x01\x02 binary, not HTTP", b"?", None),  # port 80 alone names nothing
])
def test_service_is_confirmed_by_payload(tmp_path: Path, port: int, first: bytes,
                                         answer: bytes, service: str | None) -> None:
    [r] = run_flows(tmp_path, _exchange(port, first, answer))
    assert r.get("service") == service


def test_a_syn_to_port_22_has_no_service(tmp_path: Path) -> None:
    [r] = run_flows(tmp_path, spaced([samples.tcp4(C, S, 40000, 22, 1, 0, SYN)]))
    assert "service" not in r and r["conn_state"] == "S0"


def test_dns_is_named_on_port_53_when_it_parses(tmp_path: Path) -> None:
    trace = tmp_path / "trace.pcap"
    samples.write_pcap(trace, samples.curriculum_trace())
    result = CliRunner().invoke(flows, [str(trace), "--json"])
    recs = [json.loads(line) for line in result.output.splitlines()]
    dns = [r for r in recs if r["id.resp_p"] == 53]
    assert dns and all(r["service"] == "dns" for r in dns)
    junk = run_flows(tmp_path, spaced([samples.udp4(C, S, 5555, 53, b"\xff" * 20)]))
    assert "service" not in junk[0]


# --- active timeout -------------------------------------------------------------------------


def test_active_timeout_cuts_a_long_flow(tmp_path: Path) -> None:
    # a datagram every 100 s for 1000 s (never idle 300 s); cut at 250 s of age:
    # [0 100 200] [300 400 500] [600 700 800] [900 1000]
    dgram = samples.udp4(C, S, 5000, 9000, b"x")
    frames = [(t * 100.0, dgram) for t in range(11)]
    recs = run_flows(tmp_path, frames, "--active-timeout", "250")
    assert [r["orig_pkts"] for r in recs] == [3, 3, 3, 2]
    assert [round(float(r["ts"]) - samples.START_NS / 1e9) for r in recs] == [0, 300, 600, 900]
    assert len({r["uid"] for r in recs}) == 4
    assert len(run_flows(tmp_path, frames)) == 1  # softflowd's default maxlife: one week


def test_active_timeout_keeps_the_originator(tmp_path: Path) -> None:
    frames = [(0.0, samples.tcp4(C, S, 40000, 80, 100, 0, SYN)),
              (0.001, samples.tcp4(S, C, 80, 40000, 900, 101, SYN | ACK)),
              (0.002, samples.tcp4(C, S, 40000, 80, 101, 901, ACK)),
              (60.0, samples.tcp4(S, C, 80, 40000, 901, 101, PSH | ACK, b"late"))]
    first, second = run_flows(tmp_path, frames, "--active-timeout", "30")
    assert (first["conn_state"], first["history"]) == ("S1", "ShA")
    # the continuation starts with a responder packet, yet the client stays the originator
    assert (second["id.orig_h"], second["resp_bytes"], second["history"]) == \
        ("198.18.0.10", 4, "d")


# --- the log format -------------------------------------------------------------------------


ZEEK_CONN_FIELDS = ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto",
                    "service", "duration", "orig_bytes", "resp_bytes", "conn_state",
                    "local_orig", "local_resp", "missed_bytes", "history", "orig_pkts",
                    "orig_ip_bytes", "resp_pkts", "resp_ip_bytes", "tunnel_parents"]


def test_tsv_fields_in_zeeks_order_with_unset_marks(tmp_path: Path) -> None:
    path = tmp_path / "trace.pcap"
    samples.write_pcap(path, samples.curriculum_trace())
    out = CliRunner().invoke(flows, [str(path), "--tsv"]).output.splitlines()
    fields = next(x for x in out if x.startswith("#fields")).split("\t")[1:]
    types = next(x for x in out if x.startswith("#types")).split("\t")[1:]
    assert fields == ZEEK_CONN_FIELDS == list(FIELDS) and len(types) == len(fields)
    rows = [dict(zip(fields, x.split("\t"), strict=True)) for x in out if not x.startswith("#")]
    icmp = next(r for r in rows if r["proto"] == "icmp")
    assert (icmp["history"], icmp["service"], icmp["local_orig"]) == ("-", "-", "-")


def test_table_output_shows_the_service(tmp_path: Path) -> None:
    path = tmp_path / "trace.pcap"
    samples.write_pcap(path, samples.curriculum_trace())
    out = CliRunner().invoke(flows, [str(path)]).output
    http = next(line for line in out.splitlines() if ":40000" in line)
    assert http.split()[2:5] == ["tcp", "http", "SF"]
