"""``wirelab http get`` against a real nginx, tiny scripted origins for the odd cases, and
curl fetching the same URLs as the reference for the output bytes."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from wirelab.errors import NetworkError
from wirelab.sockets import request as req
from wirelab.sockets.http import Exchange, Sink

from .helpers import Nginx, ScriptedOrigin, free_port, wirelab

FILES = {
    "empty.bin": b"",
    "one.txt": b"hello\n",
    "rand1m.bin": os.urandom(1_000_000),
    "rand5m.bin": os.urandom(5 * 1024 * 1024 + 7),
    "text.txt": b"".join(b"line %d of a compressible text file\n" % i for i in range(8000)),
}


@pytest.fixture(scope="module")
def nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    server = Nginx(tmp_path_factory.mktemp("nginx"))
    for name, data in FILES.items():
        (server.root / name).write_bytes(data)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def curl(*args: str) -> bytes:
    return subprocess.run(["curl", "-s", *args], capture_output=True, check=True,
                          timeout=30).stdout


def get(*args: str) -> subprocess.CompletedProcess[bytes]:
    return wirelab("http", "get", *args)


def get_json(*args: str) -> dict[str, object]:
    result = get("--json", *args)
    assert result.returncode == 0, result.stderr
    record: dict[str, object] = json.loads(result.stdout)
    return record


def one_line_error(result: subprocess.CompletedProcess[bytes]) -> str:
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert result.returncode == 6, (result.returncode, lines)
    return lines[0]


# --- nginx ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FILES))
def test_body_matches_the_file_and_curl(nginx: Nginx, name: str, tmp_path: Path) -> None:
    ours, theirs = tmp_path / "ours", tmp_path / "curl"
    result = get(nginx.url("/" + name), "-o", str(ours))
    assert result.returncode == 0, result.stderr
    curl(nginx.url("/" + name), "-o", str(theirs))
    assert ours.read_bytes() == FILES[name] == theirs.read_bytes()


def test_body_to_stdout(nginx: Nginx) -> None:
    result = get(nginx.url("/rand1m.bin"))
    assert result.returncode == 0
    assert result.stdout == FILES["rand1m.bin"]


@pytest.mark.parametrize("fast_body", [True, False], ids=["own-loop", "h11-body"])
def test_both_body_paths_give_the_same_bytes(nginx: Nginx, fast_body: bool,
                                             tmp_path: Path) -> None:
    url = req.parse_url(nginx.url("/rand5m.bin"))
    out = tmp_path / "body"
    fd = os.open(out, os.O_WRONLY | os.O_CREAT)
    try:
        response = Exchange(url, "GET", req.build_request("GET", url), timeout=10,
                            fast_body=fast_body).run(Sink(fd))
    finally:
        os.close(fd)
    assert response.framing == "content-length"
    assert out.read_bytes() == FILES["rand5m.bin"]


def test_nginx_chunked_gzip_equals_curl(nginx: Nginx, tmp_path: Path) -> None:
    # nginx compresses on the fly, so the length is unknown: a real chunked response.
    url = nginx.url("/text.txt")
    summary = get_json(url, "-H", "Accept-Encoding: gzip", "-o", str(tmp_path / "ours"))
    assert summary["framing"] == "chunked"
    theirs = curl(url, "-H", "Accept-Encoding: gzip")
    assert (tmp_path / "ours").read_bytes() == theirs
    assert gzip.decompress(theirs) == FILES["text.txt"]


def test_head_has_no_body(nginx: Nginx) -> None:
    result = get("-i", "-X", "HEAD", nginx.url("/rand1m.bin"))
    assert result.returncode == 0
    assert result.stdout.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\nContent-Length: 1000000\r\n" in result.stdout
    assert result.stdout.endswith(b"\r\n\r\n") and result.stdout.count(b"\r\n\r\n") == 1


def test_include_head_matches_curl_byte_for_byte(nginx: Nginx) -> None:
    def masked(data: bytes) -> bytes:
        return re.sub(rb"\r\nDate: [^\r]*", b"\r\nDate: -", data)

    ours = get("-i", nginx.url("/one.txt"))
    assert ours.returncode == 0
    theirs = curl("-i", "-H", "Connection: close", nginx.url("/one.txt"))
    assert masked(ours.stdout) == masked(theirs)


def test_404_body_matches_curl(nginx: Nginx) -> None:
    summary = get_json(nginx.url("/missing"))
    assert summary["status"] == 404
    assert get(nginx.url("/missing")).stdout == curl(nginx.url("/missing"))


def test_204_from_nginx(nginx: Nginx) -> None:
    summary = get_json(nginx.url("/status204"))
    assert (summary["status"], summary["framing"], summary["body_bytes"]) == (204, "none", 0)


def test_304_from_nginx(nginx: Nginx) -> None:
    headers = dict(get_json(nginx.url("/one.txt"))["headers"])  # type: ignore[arg-type]
    summary = get_json(nginx.url("/one.txt"), "-H", f"If-None-Match: {headers['ETag']}")
    assert (summary["status"], summary["framing"], summary["body_bytes"]) == (304, "none", 0)


def test_verbose_shows_the_raw_bytes(nginx: Nginx) -> None:
    result = get("-v", nginx.url("/one.txt"))
    err = result.stderr.decode()
    port = nginx.port
    assert (f"> GET /one.txt HTTP/1.1\\r\\n\n> Host: 127.0.0.1:{port}\\r\\n\n") in err
    assert "> Connection: close\\r\\n\n> \\r\\n\n" in err
    assert "< HTTP/1.1 200 OK\\r\\n\n" in err
    assert "< Content-Length: 6\\r\\n\n< " in err
    assert result.stdout == b"hello\n"


# --- scripted origins for the odd cases ------------------------------------------------------

CHUNKED_WITH_EXTENSIONS = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n"
    b"5;name=value\r\nhello\r\n"
    b"6;a;b=\"quoted\"\r\n world\r\n"
    b"0;last\r\nX-Sum: 42\r\nX-Other: yes\r\n\r\n"
)


def test_chunked_with_extensions_and_trailers() -> None:
    with ScriptedOrigin([CHUNKED_WITH_EXTENSIONS, "close"]) as origin:
        summary = get_json(origin.url(), "-o", os.devnull)
        body = get(origin.url()).stdout
        theirs = curl(origin.url())
    assert summary["framing"] == "chunked"
    assert summary["trailers"] == [["X-Sum", "42"], ["X-Other", "yes"]]
    assert body == b"hello world" == theirs


def test_transfer_encoding_beats_content_length() -> None:
    response = (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"b\r\nhello world\r\n0\r\n\r\n")
    with ScriptedOrigin([response, "close"]) as origin:
        summary = get_json(origin.url())
        body = get(origin.url()).stdout
        theirs = curl(origin.url())
    assert summary["framing"] == "chunked"
    assert body == b"hello world" == theirs


def test_interim_100_continue_is_skipped() -> None:
    response = (b"HTTP/1.1 100 Continue\r\n\r\n"
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    with ScriptedOrigin([response, "close"]) as origin:
        summary = get_json(origin.url(), "--data", "x=1")
        verbose = get("-v", "-i", origin.url())
    assert (summary["status"], summary["interim"], summary["body_bytes"]) == (200, [100], 2)
    assert verbose.stdout == response  # -i: every head as received, then the body
    assert "< HTTP/1.1 100 Continue\\r\\n" in verbose.stderr.decode()


@pytest.mark.parametrize("status", [204, 304])
def test_no_body_statuses_do_not_wait_for_one(status: int) -> None:
    # A Content-Length on a 304 is the length the 200 would have had (RFC 9110 8.6); the
    # server keeps the connection open: waiting for a body would end in the timeout.
    head = b"HTTP/1.1 %d X\r\nContent-Length: 1000\r\n\r\n" % status
    with ScriptedOrigin([head, "hold"]) as origin:
        started = time.monotonic()
        summary = get_json("--timeout", "3", origin.url())
    assert (summary["status"], summary["framing"], summary["body_bytes"]) == (status, "none", 0)
    assert time.monotonic() - started < 2.5


def test_head_response_with_length_and_open_connection() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
    with ScriptedOrigin([head, "hold"]) as origin:
        summary = get_json("--timeout", "3", "-X", "HEAD", origin.url())
    assert (summary["framing"], summary["body_bytes"]) == ("none", 0)


@pytest.mark.parametrize("fast_body", [True, False], ids=["own-loop", "h11-body"])
def test_counted_body_ends_at_its_length_even_if_the_server_keeps_the_connection(
        fast_body: bool) -> None:
    # Keep-alive off is a request ("Connection: close"); a counted body must not depend on it.
    with ScriptedOrigin([b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody", "hold"]) as origin:
        url = req.parse_url(origin.url())
        read, write = os.pipe()
        try:
            response = Exchange(url, "GET", req.build_request("GET", url), timeout=3,
                                fast_body=fast_body).run(Sink(write))
            assert os.read(read, 100) == b"body"
        finally:
            os.close(read)
            os.close(write)
        assert b"\r\nConnection: close\r\n" in origin.requests[0]
    assert response.body_bytes == 4


def test_body_until_close() -> None:
    body = os.urandom(300_000)
    with ScriptedOrigin([b"HTTP/1.0 200 OK\r\n\r\n", body[:1000], 0.05, body[1000:], "close"]
                        ) as origin:
        summary = get_json(origin.url())
        ours = get(origin.url()).stdout
        theirs = curl(origin.url())
    assert summary["framing"] == "until-close"
    assert ours == body == theirs


@pytest.mark.parametrize("fast_body", [True, False], ids=["own-loop", "h11-body"])
def test_truncated_counted_body(fast_body: bool, tmp_path: Path) -> None:
    script: list[bytes | float | str] = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", b"a" * 500, "close"]
    with ScriptedOrigin(script) as origin:
        out = tmp_path / "partial"
        result = get(origin.url(), "-o", str(out))
        url = req.parse_url(origin.url())
        with pytest.raises(NetworkError, match="body truncated"):
            fd = os.open(os.devnull, os.O_WRONLY)
            try:
                Exchange(url, "GET", req.build_request("GET", url), timeout=3,
                         fast_body=fast_body).run(Sink(fd))
            finally:
                os.close(fd)
    assert one_line_error(result) == (
        f"wirelab: body truncated: 127.0.0.1 port {origin.port} closed the connection "
        "after 500 of 1000 bytes")
    assert out.read_bytes() == b"a" * 500  # what did arrive is kept, as curl does


def test_truncated_chunked_body() -> None:
    script: list[bytes | float | str] = [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n", b"b" * 10, "close"]
    with ScriptedOrigin(script) as origin:
        result = get(origin.url())
    assert one_line_error(result).startswith("wirelab: body truncated:")


@pytest.mark.parametrize("line", [b"HTTP/1.1 OK", b"ICY 200 OK", b"HTTP/1.1 2000 OK",
                                  b"<html>hello</html>"])
def test_malformed_status_line(line: bytes) -> None:
    with ScriptedOrigin([line + b"\r\nContent-Length: 0\r\n\r\n", "close"]) as origin:
        result = get(origin.url())
    assert one_line_error(result) == (
        f"wirelab: malformed status line from 127.0.0.1 port {origin.port}: {line!r}")


def test_no_response_times_out() -> None:
    with ScriptedOrigin(["hold"]) as origin:
        started = time.monotonic()
        result = get("--timeout", "0.5", origin.url())
    assert one_line_error(result) == (
        f"wirelab: timed out after 0.5 s waiting for the response from 127.0.0.1 port "
        f"{origin.port}")
    assert time.monotonic() - started < 5


def test_stalled_body_times_out() -> None:
    script: list[bytes | float | str] = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", b"c" * 10, "hold"]
    with ScriptedOrigin(script) as origin:
        result = get("--timeout", "0.5", origin.url())
    assert "timed out after 0.5 s in the body" in one_line_error(result)
    assert "(10 of 100 bytes received)" in one_line_error(result)


def test_closed_without_a_response() -> None:
    with ScriptedOrigin(["close"]) as origin:
        result = get(origin.url())
    assert one_line_error(result) == (
        f"wirelab: 127.0.0.1 port {origin.port} closed the connection without a response")


def test_connection_refused() -> None:
    port = free_port()
    result = get(f"http://127.0.0.1:{port}/")
    assert one_line_error(result) == f"wirelab: connection refused by 127.0.0.1 port {port}"


def test_request_is_crafted_as_asked() -> None:
    with ScriptedOrigin([b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"]) as origin:
        result = get("-X", "put", "-H", "X-Test: 1", "-H", "User-Agent: probe",
                     "--data", "a=1&b=2", origin.url("/things?x=1"))
    assert result.returncode == 0
    assert origin.requests == [
        b"PUT /things?x=1 HTTP/1.1\r\n"
        b"Host: 127.0.0.1:%d\r\n"
        b"Accept: */*\r\n"
        b"Connection: close\r\n"
        b"X-Test: 1\r\n"
        b"User-Agent: probe\r\n"
        b"Content-Length: 7\r\n"
        b"\r\n"
        b"a=1&b=2" % origin.port]


@pytest.mark.parametrize(("args", "message"), [
    (["-H", "X-Bad: a\rb", "http://127.0.0.1:9/"], "contains CR, LF or NUL"),
    (["-H", "No colon", "http://127.0.0.1:9/"], "expected 'Name: value'"),
    (["-X", "GE T", "http://127.0.0.1:9/"], "not an RFC 9110 token"),
    (["https://127.0.0.1/"], "https is not supported"),
    (["ftp://127.0.0.1/"], "only http:// is supported"),
])
def test_bad_input_is_refused_before_connecting(args: list[str], message: str) -> None:
    result = get(*args)
    assert result.returncode == 3
    assert message in result.stderr.decode()
    assert "Traceback" not in result.stderr.decode()


def test_build_request_bytes() -> None:
    url = req.parse_url("http://[::1]:8080/a b".replace(" ", "%20"))
    assert req.build_request("GET", url) == (
        b"GET /a%20b HTTP/1.1\r\nHost: [::1]:8080\r\nUser-Agent: " + req.USER_AGENT.encode()
        + b"\r\nAccept: */*\r\nConnection: close\r\n\r\n")
    assert req.parse_url("server/get") == req.URL("server", 80, "/get")
    assert req.parse_url("http://server").target == "/"
    assert req.parse_url("http://h/caf\u00e9?q=1").target == "/caf%C3%A9?q=1"
