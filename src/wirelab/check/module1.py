"""Checks for Module 1: 1.1 (UDP), 1.2 (HTTP over TCP), 1.4 (a UDP header packed by hand)."""

from __future__ import annotations

import re

from wirelab.check import facts
from wirelab.check.model import Evidence, Exercise, Verdict
from wirelab.observe.follow import follow
from wirelab.observe.packets import Observed
from wirelab.observe.streams import number_streams
from wirelab.wire.ipv4 import IPProto
from wirelab.wire.tcp import TCPFlags

UDP_PORT = 8000
HTTP_PORT = 80
RAW_SPORT = 12345

# --- 1.1 -------------------------------------------------------------------------------------


def verify_udp(ev: Evidence) -> Verdict:
    """One datagram client -> server:8000 and nothing back (the curriculum's server is silent:
    UDP has no acknowledgement, RFC 768)."""
    sent = [p for p in facts.udp(ev.packets) if p.src == ev.client_ip
            and p.dst == ev.server_ip and p.dport == UDP_PORT]
    if not sent:
        return Verdict.fail(f"no UDP datagram to {ev.server_ip}:{UDP_PORT}"
                            + facts.elsewhere(ev.packets, ev.client_ip, ev.server_ip))
    first = sent[0]
    seen = facts.describe_udp(first)
    if len(sent) > 1:
        return Verdict.fail(f"{len(sent)} datagrams to {ev.server_ip}:{UDP_PORT}, expected one",
                            seen)
    back = [p for p in ev.packets if p.src == ev.server_ip and p.dst == ev.client_ip
            and not facts.is_dns(p)]
    if back:
        p = back[0]
        what = "ICMP port unreachable (nothing listening on 8000)" \
            if p.icmp is not None and p.icmp.type == 3 else f"{p.proto_name} {p.src_endpoint}"
        return Verdict.fail(f"the server sent something back: {what}", seen)
    return Verdict.ok(f"1 datagram {first.src_endpoint} -> {first.dst_endpoint} "
                      f"({first.udp_len} bytes), nothing back")


UDP_EXERCISE = Exercise(
    id="1.1", title="UDP client and server",
    expect="one datagram client -> server:8000 and nothing back",
    client=lambda server: ["udp", "send", server, str(UDP_PORT), "Hello, World!"],
    server=("udp", "serve", "--bind", "0.0.0.0", "--port", str(UDP_PORT)),
    verify=verify_udp, ladder_filter=f"udp and port {UDP_PORT}")

# --- 1.2 -------------------------------------------------------------------------------------

_REQUEST_LINE = re.compile(rb"^[A-Z]+ \S+ HTTP/1\.[01]$")


def _http_stream(ev: Evidence) -> int | None:
    """The first TCP stream the client opened to the server's port 80."""
    streams = number_streams(ev.packets)
    for p in ev.packets:
        if facts.is_syn(p) and p.src == ev.client_ip and p.dst == ev.server_ip \
                and p.dport == HTTP_PORT:
            return streams.stream_of(p)
    return None


def _check_request(head: bytes) -> str | None:
    """Why the request head breaks RFC 9112 section 2.1 (CRLF lines, an empty line at the
    end), or None if it is well formed."""
    end = head.find(b"\r\n\r\n")
    if end < 0:
        if b"\n\n" in head or (b"\n" in head and b"\r\n" not in head):
            return "request header lines end in LF only, not CRLF (RFC 9112 section 2.1)"
        return "request head not ended by an empty line (CRLF CRLF)"
    lines = head[:end].split(b"\r\n")
    if any(b"\n" in line or b"\r" in line for line in lines):
        return "a request header line ends in a bare LF or CR, not CRLF (RFC 9112 2.1)"
    if not _REQUEST_LINE.match(lines[0]):
        return f"not an HTTP/1 request line: {lines[0][:60]!r}"
    if not lines[0].startswith(b"GET "):
        return f"expected a GET, the request line is {lines[0][:60]!r}"
    return None


def _teardown(tcp: list[Observed], ev: Evidence) -> str | None:
    client_fin = any(p.src == ev.client_ip and facts.has(p, TCPFlags.FIN) for p in tcp)
    server_fin = any(p.src == ev.server_ip and facts.has(p, TCPFlags.FIN) for p in tcp)
    rst = [p for p in tcp if facts.has(p, TCPFlags.RST)]
    if rst:
        return f"connection reset (RST from {rst[0].src_endpoint}), not a FIN teardown"
    if not client_fin or not server_fin:
        who = "the client" if not client_fin else "the server"
        return f"no FIN from {who}: the connection was not closed from both sides"
    for side, other in ((ev.client_ip, ev.server_ip), (ev.server_ip, ev.client_ip)):
        fin = next(p for p in tcp if p.src == side and facts.has(p, TCPFlags.FIN))
        assert fin.tcp is not None
        want = facts.seq_add(fin.tcp.seq, fin.tcp.seglen + 1)  # a FIN takes one number
        if not any(p.src == other and p.tcp is not None and p.tcp.ack == want
                   and facts.has(p, TCPFlags.ACK) for p in tcp):
            return f"the FIN from {fin.src_endpoint} was never acknowledged"
    return None


def verify_http(ev: Evidence) -> Verdict:
    """Handshake, a GET with CRLF lines, the response, and FIN teardown from both sides."""
    number = _http_stream(ev)
    if number is None:
        return Verdict.fail(f"no TCP connection (SYN) to {ev.server_ip}:{HTTP_PORT}"
                            + facts.elsewhere(ev.packets, ev.client_ip, ev.server_ip))
    tcp = number_streams(ev.packets).tcp_packets(ev.packets, number)
    if len(tcp) < 3 or not facts.is_syn_ack(tcp[1]) or tcp[2].src != ev.client_ip:
        return Verdict.fail("the three-way handshake (SYN, SYN-ACK, ACK) did not complete")
    followed = follow(ev.packets, number)
    request, response = followed.client_bytes, followed.server_bytes
    seen = f"TCP stream {number}: {len(tcp)} segments, request {len(request)} B, " \
           f"response {len(response)} B"
    if not request:
        return Verdict.fail("handshake done but no request was sent", seen)
    bad = _check_request(request)
    if bad:
        return Verdict.fail(bad, seen)
    if not response.startswith(b"HTTP/1."):
        return Verdict.fail("no HTTP response from the server", seen)
    status = response.split(b"\r\n", 1)[0].decode("latin-1").strip()
    bad = _teardown(tcp, ev)
    if bad:
        return Verdict.fail(bad, f"{seen}; {status}")
    line = request.split(b"\r\n", 1)[0].decode("latin-1")
    return Verdict.ok(f"handshake, {line!r} with CRLF lines, {status!r} "
                      f"({len(response)} B), FIN from both sides ({len(tcp)} segments)")


HTTP_EXERCISE = Exercise(
    id="1.2", title="HTTP over a TCP socket",
    expect="handshake, GET with CRLF header lines, the response, FIN teardown from both sides",
    client=lambda server: ["http", "get", f"http://{server}/get"],
    verify=verify_http, ladder_filter=f"tcp and port {HTTP_PORT}")

# --- 1.4 -------------------------------------------------------------------------------------


def verify_raw_udp(ev: Evidence) -> Verdict:
    """Source port 12345 and a valid checksum: on a raw socket the kernel does NOT fill the
    UDP checksum in (the curriculum says it does), so 0 or a wrong value is the program's."""
    sent = [d for d in facts.udp_datagrams(ev.pcap) if d.src == ev.client_ip
            and d.dst == ev.server_ip and d.dport == UDP_PORT]
    if not sent:
        return Verdict.fail(f"no UDP datagram to {ev.server_ip}:{UDP_PORT}"
                            + facts.elsewhere(ev.packets, ev.client_ip, ev.server_ip))
    d = sent[0]
    seen = (f"UDP {d.src}:{d.sport} -> {d.dst}:{d.dport} length {d.length} "
            f"checksum 0x{d.checksum:04x}")
    if d.sport != RAW_SPORT:
        return Verdict.fail(f"source port {d.sport}, expected {RAW_SPORT}", seen)
    if d.length != 8 + len(d.data):
        return Verdict.fail(f"UDP length field {d.length}, but header + data are "
                            f"{8 + len(d.data)} bytes", seen)
    if d.checksum_ok is None:
        return Verdict.fail("UDP checksum is 0 (none): the kernel does not compute it on a "
                            "raw socket; compute it over the pseudo-header (RFC 768)", seen)
    if not d.checksum_ok:
        return Verdict.fail(f"UDP checksum 0x{d.checksum:04x} is wrong (RFC 768 "
                            "pseudo-header sum)", seen)
    unreachable = [p for p in ev.packets if p.proto == IPProto.ICMP and p.icmp is not None
                   and p.icmp.type == 3 and p.src == ev.server_ip]
    if unreachable:
        return Verdict.fail("the server answered ICMP unreachable", seen)
    return Verdict.ok(f"{seen} (valid), {len(d.data)} bytes of data")


RAW_UDP_EXERCISE = Exercise(
    id="1.4", title="UDP header packed by hand",
    expect="source port 12345 and a valid UDP checksum",
    client=lambda server: ["raw", "udp", server, "--dport", str(UDP_PORT), "--sport",
                           str(RAW_SPORT), "--payload", "packed by hand"],
    server=("udp", "serve", "--bind", "0.0.0.0", "--port", str(UDP_PORT)),
    verify=verify_raw_udp, ladder_filter=f"udp and port {UDP_PORT}")

EXERCISES = (UDP_EXERCISE, HTTP_EXERCISE, RAW_UDP_EXERCISE)
