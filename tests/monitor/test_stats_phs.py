"""``wirelab stats phs`` below the transport layer: dns, http (with its media), data.

The whole tree, every node, equals tshark 4.0's ``-z io,phs`` on captures built here from
what the hierarchy claims to imitate (see :mod:`wirelab.monitor.phs`), on real HTTP over
loopback (Python's http.server, responses split over segments as the kernel sent them) and
on a lab's DNS and HTTP.  On seeded random traffic tshark's heuristics claim some random
payloads (rx, vxlan, rtcp...): there the trees are compared down to the transport layer, the
dns node in full.
"""

from __future__ import annotations

import json
import shutil
import socket
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from wirelab import samples
from wirelab.cli.stats import stats
from wirelab.lab.lab import Lab
from wirelab.monitor.phs import TRANSPORT
from wirelab.samples import CLIENT, SERVER, START_NS, tcp4, udp4
from wirelab.wire.dns import DNSMessage, QType
from wirelab.wire.icmp import ICMP, ICMPType
from wirelab.wire.ipv4 import IPProto
from wirelab.wire.tcp import TCPFlags
from wirelab.wire.udp import UDP

from .conftest import LoCapture, mixed_pcap
from .tshark_text import cut_below, parse_phs, tshark_tables

pytestmark = [
    pytest.mark.tshark,
    pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed"),
]
Tree = dict[tuple[str, ...], tuple[int, int]]
A, PA = TCPFlags.ACK, TCPFlags.PSH | TCPFlags.ACK


def trees(capture: Path) -> tuple[Tree, Tree]:
    """(ours, tshark's), each path -> (frames, bytes) in the printed order."""
    result = CliRunner().invoke(stats, [str(capture), "phs", "--json"])
    assert result.exit_code == 0, result.output
    mine = {tuple(str(r["path"]).split("/")): (r["frames"], r["bytes"])
            for r in json.loads(result.output)["phs"]}
    return mine, parse_phs(tshark_tables(str(capture), ["io,phs"]))


def assert_same_tree(capture: Path) -> Tree:
    mine, theirs = trees(capture)
    assert mine == theirs
    assert list(mine) == list(theirs)  # node order too
    return mine


def same_tree_as_tsharks(directory: Path, name: str, frames: list[bytes]) -> Tree:
    """Write ``frames`` one millisecond apart to ``directory/name`` and compare the trees."""
    path = directory / name
    samples.write_pcap(path, [(START_NS + i * 1_000_000, f) for i, f in enumerate(frames)])
    return assert_same_tree(path)


def exchange(port: int, server_port: int, requests: list[bytes],
             responses: list[bytes]) -> list[bytes]:
    """A TCP connection: handshake, the client's segments, then the server's (each ACKed),
    then both FINs.  Each list item is one segment."""
    c, s = 1000 * port, 7000 * port
    out = [tcp4(CLIENT, SERVER, port, server_port, c, 0, TCPFlags.SYN),
           tcp4(SERVER, CLIENT, server_port, port, s, c + 1, TCPFlags.SYN | A)]
    c, s = c + 1, s + 1
    out.append(tcp4(CLIENT, SERVER, port, server_port, c, s, A))
    for seg in requests:
        out.append(tcp4(CLIENT, SERVER, port, server_port, c, s, PA, seg))
        c += len(seg)
    out.append(tcp4(SERVER, CLIENT, server_port, port, s, c, A))
    for seg in responses:
        out.append(tcp4(SERVER, CLIENT, server_port, port, s, c, PA, seg))
        s += len(seg)
        out.append(tcp4(CLIENT, SERVER, port, server_port, c, s, A))
    out += [tcp4(CLIENT, SERVER, port, server_port, c, s, TCPFlags.FIN | A),
            tcp4(SERVER, CLIENT, server_port, port, s, c + 1, TCPFlags.FIN | A),
            tcp4(CLIENT, SERVER, port, server_port, c + 1, s + 1, A)]
    return out


def response(ctype: bytes | None, body: bytes, status: bytes = b"200 OK") -> bytes:
    head = b"HTTP/1.1 " + status + b"\r\n"
    if ctype is not None:
        head += b"Content-Type: " + ctype + b"\r\n"
    return head + b"Content-Length: %d\r\n\r\n" % len(body) + body


GET = b"GET /index HTTP/1.1\r\nHost: server\r\n\r\n"
MEDIA = {b"text/html": b"<p>body</p>\n", b"text/plain": b"body\n", b"text/css": b"p {}\n",
         b"text/html; charset=utf-8": b"<p>body</p>\n", b"application/json": b'{"a": [1]}',
         b"application/xml": b"<a>1</a>", b"text/xml": b"<a/>",
         b"application/octet-stream": bytes(range(64)), None: b"untyped",
         b"application/javascript": b"var a = 1;", b"font/woff2": b"wOF2" + bytes(20)}


def app_frames() -> list[bytes]:
    """Every case the hierarchy claims, each at least once."""
    frames: list[bytes] = []
    port = 40000
    for ctype, body in MEDIA.items():  # one message per segment, each media type
        frames += exchange(port, 80, [GET], [response(ctype, body)])
        port += 1
    big = response(b"text/html", b"x" * 3000)
    frames += exchange(port, 8080, [GET], [big[:1000], big[1000:2000], big[2000:]])
    small = response(b"text/plain", b"y" * 10)
    frames += exchange(port + 1, 80, [GET[:10], GET[10:]], [small[:20], small[20:]])
    frames += exchange(port + 2, 80, [GET + GET], [small + response(b"text/plain", b"")])
    post = (b"POST /x HTTP/1.1\r\nHost: s\r\nContent-Type: application/json\r\n"
            b"Content-Length: 8\r\n\r\n" b'{"a": 1}')
    frames += exchange(port + 3, 80, [post], [response(b"text/plain", b"ok", b"201 Created")])
    head = b"HEAD / HTTP/1.1\r\nHost: s\r\n\r\n"
    frames += exchange(port + 4, 80, [head, GET],
                       [b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n",
                        b"HTTP/1.1 304 Not Modified\r\n\r\n"])
    frames += exchange(port + 5, 80, [GET], [b"HTTP/1.1 204 No Content\r\n\r\n"])
    frames += exchange(port + 6, 5201, [b"hello"], [b"world" * 100])  # no dissector: data
    frames += exchange(port + 7, 9000, [b"x" * 1200], [])
    # a RST carrying bytes: tshark's "reset cause", nothing under tcp
    frames.append(tcp4(SERVER, CLIENT, 5201, port + 8, 1, 1, TCPFlags.RST | A, b"bye"))
    query = DNSMessage.query("server.lab", QType.A, id=0x4C41)
    for i in range(3):
        frames.append(udp4(CLIENT, SERVER, 53000 + i, 53, query.encode()))
        frames.append(udp4(SERVER, CLIENT, 53, 53000 + i,
                           samples.dns_answer(query, SERVER[1]).encode()))
    frames.append(udp4(CLIENT, SERVER, 53009, 53, b"\x12\x34"))  # too short for a header
    frames.append(udp4(CLIENT, SERVER, 53010, 53, b""))
    frames.append(udp4(CLIENT, SERVER, 40100, 8000, b"Hello, World!"))
    frames.append(udp4(CLIENT, SERVER, 40101, 6001, b""))  # an empty datagram: udp only
    frames += icmp_errors()
    return frames


def icmp_errors() -> list[bytes]:
    """Errors quoting a UDP datagram whole (Linux) or its first 8 bytes (RFC 792), a TCP
    segment's first 8 bytes; and an echo with a payload."""
    datagram = samples.ipv4(CLIENT, SERVER, IPProto.UDP,
                            UDP(sport=40200, dport=9, payload=b"probe 1").encode(CLIENT[1],
                                                                                 SERVER[1]))
    segment = samples.ipv4(CLIENT, SERVER, IPProto.TCP, bytes(20))
    out = []
    for kind, code, quote in ((ICMPType.DEST_UNREACHABLE, 3, datagram),
                              (ICMPType.TIME_EXCEEDED, 0, datagram),
                              (ICMPType.DEST_UNREACHABLE, 3, datagram[:28]),
                              (ICMPType.DEST_UNREACHABLE, 13, segment[:28])):
        err = ICMP(type=kind, code=code, payload=quote).encode()
        out.append(samples.ether(SERVER, CLIENT,
                                 samples.ipv4(SERVER, CLIENT, IPProto.ICMP, err)))
    echo = ICMP(type=ICMPType.ECHO_REQUEST, id=1, seq=1, payload=b"abcdefgh" * 7).encode()
    out.append(samples.ether(CLIENT, SERVER, samples.ipv4(CLIENT, SERVER, IPProto.ICMP, echo)))
    return out


def test_phs_equals_tshark_below_transport_on_dns_http_data(tmp_path: Path) -> None:
    tree = same_tree_as_tsharks(tmp_path, "apps.pcap", app_frames())
    http = ("eth", "ip", "tcp", "http")
    for child in ("data-text-lines", "json", "xml", "data", "media", "tcp.segments"):
        assert http + (child,) in tree or http + ("data-text-lines", child) in tree, child
    assert tree[("eth", "ip", "udp", "dns")][0] == 6
    assert ("eth", "ip", "udp", "_ws.malformed") in tree
    assert tree[("eth", "ip", "tcp", "data")][0] >= 3
    assert tree[("eth", "ip", "icmp", "data")][0] == 2  # the two whole quotes


def chunked(ctype: bytes, chunks: list[bytes], trailer: bytes = b"",
            extension: bytes = b"") -> bytes:
    """A response with a chunked body (RFC 9112 section 7.1): hex size, CRLF, data, CRLF."""
    body = b"".join(b"%x%s\r\n%s\r\n" % (len(c), extension, c) for c in chunks)
    return (b"HTTP/1.1 200 OK\r\nContent-Type: " + ctype + b"\r\nTransfer-Encoding: chunked"
            b"\r\n\r\n" + body + b"0\r\n" + trailer + b"\r\n")


def chunked_frames() -> list[bytes]:
    """Chunked bodies: whole, cut inside sizes and CRLFs, pipelined, with trailer fields and
    chunk extensions, and a chunked request."""
    json_body = [b'{"a":', b' [1, 2]', b"}"]
    whole = chunked(b"application/json", json_body)
    frames = exchange(41000, 80, [GET], [whole])
    cuts = [0, 40, 66, 67, 75, 85, len(whole)]  # in the header, a size, a CRLF, the end
    frames += exchange(41001, 80, [GET], [whole[a:b] for a, b in zip(cuts, cuts[1:], strict=False)])
    frames += exchange(41002, 8080, [GET + GET], [whole + chunked(b"text/html", [b"<p>"])])
    frames += exchange(41003, 80, [GET], [chunked(b"text/plain", [b"hi"], b"X-Sum: 1\r\n")])
    frames += exchange(41004, 80, [GET], [chunked(b"image/png", [b"\x89PNG"], b"", b";x=1")])
    post = (b"POST /up HTTP/1.1\r\nHost: s\r\nContent-Type: text/plain\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n4\r\nup!\n\r\n0\r\n\r\n")
    frames += exchange(41005, 80, [post[:50], post[50:]], [response(b"text/plain", b"ok")])
    frames += exchange(41006, 80, [GET], [chunked(b"text/html", [])])  # no data: no media
    return frames


def to_close_frames() -> list[bytes]:
    """Responses whose body runs to the server's FIN: no Content-Length, not chunked."""
    frames: list[bytes] = []
    old = b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<p>hello</p>\n"
    frames += exchange(41100, 80, [GET], [old])
    frames += exchange(41101, 80, [GET], [old[:30], old[30:45], old[45:]])
    frames += exchange(41102, 8080, [GET], [b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\n"
                                            b"Connection: close\r\n\r\n\x89PNG"])
    frames += exchange(41103, 80, [GET], [b"HTTP/1.0 200 OK\r\n\r\nuntyped"])
    frames += exchange(41104, 80, [GET], [b"HTTP/1.0 200 OK\r\nContent-Type: text/html"
                                          b"\r\n\r\n"])  # an empty body
    frames += exchange(41105, 80, [GET], [b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                                          b"Transfer-Encoding: gzip\r\n\r\n\x1f\x8b"])
    return frames


def test_phs_equals_tshark_on_chunked_bodies(tmp_path: Path) -> None:
    tree = same_tree_as_tsharks(tmp_path, "chunked.pcap", chunked_frames())
    http = ("eth", "ip", "tcp", "http")
    assert tree[http + ("json",)][0] >= 3  # whole, cut, and the first of the pipelined two
    assert tree[http + ("json", "tcp.segments")][0] == 1  # the cut one
    assert tree[http + ("json", "http", "data-text-lines")][0] == 1
    assert http + ("media",) in tree and http + ("data-text-lines",) in tree


def test_phs_equals_tshark_on_bodies_that_run_to_the_close(tmp_path: Path) -> None:
    tree = same_tree_as_tsharks(tmp_path, "to-close.pcap", to_close_frames())
    on_fin = ("eth", "ip", "tcp", "tcp.segments", "http")
    assert tree[on_fin][0] == 6  # each response on its server's FIN
    assert tree[on_fin + ("data-text-lines",)][0] == 2 and on_fin + ("media",) in tree


@pytest.fixture
def loopback_chunked(tmp_path: Path) -> Iterator[Path]:
    """A pcap of one chunked response written in several sends by a server thread on
    127.0.0.1 (port 8080, else 80: an HTTP port for both tools), fetched with urllib."""
    listener = None
    for port in (8080, 80):
        try:
            listener = socket.create_server(("127.0.0.1", port))
            break
        except OSError:
            continue
    if listener is None:
        pytest.fail("ports 8080 and 80 on 127.0.0.1 are both taken")
    chunks = [b"<html>", b"<p>" * 700, b"</html>\n"]

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(4096)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                         b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
            for chunk in chunks:
                time.sleep(0.05)  # separate segments, as a server streaming its output
                conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            conn.sendall(b"0\r\n\r\n")

    with listener:
        dump = LoCapture(tmp_path / "chunked.pcap", f"tcp port {port}")
        try:
            server = threading.Thread(target=serve, daemon=True)
            server.start()
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
                assert r.read() == b"".join(chunks)  # urllib undid the chunking
            server.join(timeout=5)
            time.sleep(0.3)  # the last FIN/ACKs
        finally:
            dump.stop()
    yield dump.path


def test_phs_equals_tshark_on_a_chunked_response_over_loopback(loopback_chunked: Path) -> None:
    tree = assert_same_tree(loopback_chunked)
    assert tree[("eth", "ip", "tcp", "http", "data-text-lines", "tcp.segments")][0] == 1


def test_phs_equals_tshark_on_loopback_http(loopback_http: Path) -> None:
    tree = assert_same_tree(loopback_http)
    # http.server sends the header and the file in separate writes: reassembled messages
    assert ("eth", "ip", "tcp", "http", "data-text-lines") in tree


def test_phs_on_random_traffic_matches_to_transport_and_dns(tmp_path: Path) -> None:
    path = mixed_pcap(tmp_path, 6000, seed=808)
    mine, theirs = trees(path)
    assert cut_below(mine, TRANSPORT) == cut_below(theirs, TRANSPORT)
    dns = ("eth", "ip", "udp", "dns")
    assert mine[dns] == theirs[dns] and mine[dns][0] > 500
    # under udp we say data wherever tshark has a heuristic claim: same total below data
    udp = ("eth", "ip", "udp")
    heuristic = sum(v[0] for k, v in theirs.items() if len(k) == 4 and k[:3] == udp
                    and k[3] not in ("dns", "vxlan"))
    assert mine[udp + ("data",)][0] == heuristic


_DNS_HTTP = """
import socket, sys, urllib.request
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    s.settimeout(3)
    for name in (b"server", b"client", b"nosuchhost"):
        s.sendto(bytes.fromhex("abcd01000001000000000000") + bytes([len(name)]) + name
                 + b"\\x03lab\\x00\\x00\\x01\\x00\\x01", (sys.argv[1], 53))
        s.recv(512)
for path in ("/", "/bytes/5000", "/nothing-here"):
    try:
        urllib.request.urlopen("http://%s%s" % (sys.argv[1], path), timeout=5).read()
    except Exception:
        pass
"""


@pytest.mark.lab
def test_phs_equals_tshark_on_lab_dns_and_http(shared_lab: Lab, tmp_path: Path) -> None:
    server = shared_lab.host("server")
    pcap = tmp_path / "lab.pcap"
    with shared_lab.capture("client", pcap, bpf=f"host {server.ip}"):
        done = shared_lab.host("client").run([sys.executable, "-c", _DNS_HTTP, server.ip])
        assert done.returncode == 0, done.stderr
    tree = assert_same_tree(pcap)
    assert tree[("eth", "ip", "udp", "dns")][0] == 6
    assert any(path[:4] == ("eth", "ip", "tcp", "http") for path in tree)
