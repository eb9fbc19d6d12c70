"""Real traffic between lab hosts: ICMP, TCP, the HTTP origin, the listeners.

One default lab for the module (``shared_lab``): these tests only read.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import time

import pytest

from wirelab.lab.lab import Lab

pytestmark = pytest.mark.lab


def test_ping_on_the_segment(shared_lab: Lab) -> None:
    result = shared_lab.host("client").run(["ping", "-c", "3", "-i", "0.2", "-W", "2", "-n",
                                            "198.18.0.20"])
    assert result.returncode == 0, result.stderr
    assert "3 packets transmitted, 3 received" in result.stdout
    assert "ttl=64" in result.stdout


def test_ping_through_the_router_loses_one_ttl(shared_lab: Lab) -> None:
    result = shared_lab.host("client").run(["ping", "-c", "1", "-W", "2", "remote"])
    assert result.returncode == 0, result.stderr
    assert "(198.18.1.10)" in result.stdout
    assert "ttl=63" in result.stdout  # one hop: the router decremented it (RFC 791)


def test_traceroute_shows_the_router(shared_lab: Lab) -> None:
    result = shared_lab.host("client").run(["traceroute", "-n", "-q", "1", "-w", "2",
                                            "198.18.1.10"])
    assert result.returncode == 0, result.stderr
    hops = re.findall(r"^\s*(\d+)\s+(\S+)", result.stdout, re.M)
    assert hops == [("1", "198.18.0.1"), ("2", "198.18.1.10")]


def test_every_host_answers_ping(shared_lab: Lab) -> None:
    client = shared_lab.host("client")
    for host in shared_lab.hosts:
        for address in host.addresses:
            result = client.run(["ping", "-c", "1", "-W", "2", "-n", address])
            assert result.returncode == 0, (host.name, address, result.stdout)


def _http(address: str, port: int, request: bytes) -> bytes:
    """Send a raw request, read to EOF (runs inside a lab host through Host.call)."""
    with socket.create_connection((address, port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _split(raw: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    return lines[0], headers, body


def test_http_get_echoes_the_request(shared_lab: Lab) -> None:
    raw = shared_lab.host("client").call(
        _http, "198.18.0.20", 80,
        b"GET /get?x=1 HTTP/1.1\r\nHost: server\r\nX-Lesson: 1.2\r\nConnection: close\r\n\r\n")
    status, headers, body = _split(raw)
    assert status == "HTTP/1.1 200 "
    assert int(headers["content-length"]) == len(body)
    echo = json.loads(body)
    assert echo["method"] == "GET" and echo["path"] == "/get"
    assert echo["args"] == {"x": "1"}
    assert echo["headers"]["X-Lesson"] == "1.2"
    assert echo["client"]["address"] == "198.18.0.10"  # the client's real address
    assert echo["origin"] == "198.18.0.10"


def test_http_via_curl_by_name_and_on_8080(shared_lab: Lab) -> None:
    client = shared_lab.host("client")
    for url in ("http://server/get", "http://server:8080/get"):
        result = client.run(["curl", "-s", "-f", url])
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["client"]["address"] == "198.18.0.10"


def test_http_from_behind_the_router(shared_lab: Lab) -> None:
    result = shared_lab.host("remote").run(["curl", "-s", "-f", "http://server/get"])
    assert json.loads(result.stdout)["origin"] == "198.18.1.10"


def test_bytes_is_exact_and_repeatable_with_a_seed(shared_lab: Lab) -> None:
    client = shared_lab.host("client")
    digests = set()
    for _ in range(2):
        result = client.run(["sh", "-c", "curl -s http://server/bytes/300000?seed=7 | sha256sum"])
        digests.add(result.stdout.split()[0])
    assert len(digests) == 1
    raw = client.call(_http, "198.18.0.20", 80,
                      b"GET /bytes/300000?seed=7 HTTP/1.1\r\nHost: s\r\nConnection: close\r\n\r\n")
    _, headers, body = _split(raw)
    assert headers["content-length"] == "300000" and len(body) == 300000
    assert hashlib.sha256(body).hexdigest() in digests


def test_large_body_is_streamed(shared_lab: Lab) -> None:
    # 200 MB: built in memory this would show; streamed it passes in 64 KiB pieces.
    result = shared_lab.host("client").run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{size_download}",
         "http://server/bytes/200000000"], timeout=120)
    assert result.stdout == "200000000"
    status = shared_lab.status(live=False)
    http = [s for s in status["hosts"]["server"]["services"] if s["service"] == "http"][0]
    with open(f"/proc/{http['pid']}/status") as handle:
        rss_kb = int(re.search(r"VmHWM:\s+(\d+)", handle.read()).group(1))  # type: ignore
    assert rss_kb < 100_000, f"the HTTP service peaked at {rss_kb} kB"


def test_stream_bytes_is_chunked(shared_lab: Lab) -> None:
    raw = shared_lab.host("client").call(
        _http, "198.18.0.20", 80,
        b"GET /stream-bytes/5000?chunk_size=1000&seed=1 HTTP/1.1\r\nHost: s\r\n"
        b"Connection: close\r\n\r\n")
    status, headers, body = _split(raw)
    assert status.startswith("HTTP/1.1 200")
    assert headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in headers
    sizes = re.findall(rb"^([0-9a-f]+)\r$", body, re.M)
    assert [int(s, 16) for s in sizes] == [1000] * 5 + [0]


@pytest.mark.parametrize("code", [200, 204, 302, 404, 418, 503])
def test_status_codes(shared_lab: Lab, code: int) -> None:
    result = shared_lab.host("client").run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", f"http://server/status/{code}"])
    assert result.stdout == str(code)


def test_delay_endpoint_waits(shared_lab: Lab) -> None:
    started = time.monotonic()
    result = shared_lab.host("client").run(["curl", "-s", "-f", "http://server/delay/1"])
    assert time.monotonic() - started >= 1.0
    assert json.loads(result.stdout)["path"] == "/delay/1"


def _banner_and_ports(address: str) -> tuple[bytes, list[int]]:
    with socket.create_connection((address, 22), timeout=5) as sock:
        banner = sock.recv(100)
    opened = []
    for port in (22, 53, 80, 443, 8080, 23, 8443):
        with socket.socket() as sock:
            sock.settimeout(2)
            if sock.connect_ex((address, port)) == 0:
                opened.append(port)
    return banner, opened


def test_server_listens_on_its_ports(shared_lab: Lab) -> None:
    banner, opened = shared_lab.host("client").call(_banner_and_ports, "198.18.0.20")
    assert banner.startswith(b"SSH-2.0-")  # RFC 4253 4.2 identification string
    assert opened == [22, 53, 80, 443, 8080]  # 23 and 8443: refused by the kernel (RST)


def test_raw_socket_works_inside_the_lab(shared_lab: Lab) -> None:
    """Raw sockets in the lab, also when the tests run unprivileged (rootless tier)."""
    def _raw() -> int:
        with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
            return sock.fileno()

    assert shared_lab.host("client").call(_raw) > 0


def test_a_command_in_one_host_can_enter_another(shared_lab: Lab) -> None:
    """`wirelab lab exec` run inside a lab host (tools that drive the lab from within)."""
    import sys

    result = shared_lab.host("client").run(
        [sys.executable, "-m", "wirelab", "lab", "exec", "--name", shared_lab.name, "server",
         "--", "hostname"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "server"
