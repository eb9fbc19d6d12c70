"""``wirelab udp serve`` / ``send`` against each other and against plain kernel sockets."""

from __future__ import annotations

import json
import signal
import socket
import time

import pytest

from wirelab.sockets import udp as udplib

from .helpers import ServeProcess, free_port, wirelab


def _records(stdout: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_send_to_serve_shows_sender_size_payload(host: str) -> None:
    port = free_port(socket.SOCK_DGRAM, host)
    server = ServeProcess("--bind", host, "--port", str(port), "--json", "-c", "2")
    try:
        sent = wirelab("udp", "send", host, str(port), "Hello, World!", "--count", "2")
        assert sent.returncode == 0, sent.stderr
        status, out, err = server.wait()
    finally:
        server.kill()
    assert status == 0, err
    datagrams = [r for r in _records(out) if r["event"] == "datagram"]
    assert [d["payload"] for d in datagrams] == ["Hello, World!"] * 2
    assert all(d["size"] == 13 and d["src"] == host for d in datagrams)
    assert _records(out)[-1] == {"event": "summary", "datagrams": 2, "bytes": 26}


def _serve_one(payload: bytes, *args: str) -> str:
    """``udp serve ARGS -c 1`` receives ``payload`` from a plain kernel socket: its stdout."""
    port = free_port(socket.SOCK_DGRAM)
    server = ServeProcess("--port", str(port), *args, "-c", "1")
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(payload, ("127.0.0.1", port))
        _, out, _ = server.wait()
    finally:
        server.kill()
    return out


def test_60000_byte_datagram_shows_its_real_size() -> None:
    out = _serve_one(b"x" * 60000, "--json")
    record = _records(out)[0]
    assert (record["size"], record["received"], record["truncated"]) == (60000, 60000, False)
    assert record["payload"] == "x" * 60000


def test_small_bufsize_reports_truncation_instead_of_hiding_it() -> None:
    # The curriculum's recvfrom(1024): the rest is discarded by the kernel; we say so.
    out = _serve_one(b"y" * 60000, "--bufsize", "1024")
    assert "60000 bytes (TRUNCATED to 1024 by the receive buffer)" in out


def test_binary_payload_does_not_kill_the_server() -> None:
    port = free_port(socket.SOCK_DGRAM)
    server = ServeProcess("--port", str(port))
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"\xff\xfe\x00\x80", ("127.0.0.1", port))
            time.sleep(0.2)
            s.sendto("caf\u00e9\n".encode(), ("127.0.0.1", port))
            time.sleep(0.2)
        status, out, err = server.stop(signal.SIGINT)
    finally:
        server.kill()
    assert status == 0, err
    lines = out.splitlines()
    assert len(lines) == 2, out
    assert lines[0].endswith("4 bytes: hex fffe0080")
    assert lines[1].endswith('6 bytes: text "caf\u00e9\\n"')
    assert "received 2 datagrams, 10 bytes" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("quiet", [False, True])
def test_signal_ends_with_a_summary(sig: int, quiet: bool) -> None:
    port = free_port(socket.SOCK_DGRAM)
    server = ServeProcess("--port", str(port), *(["--quiet"] if quiet else []))
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for size in (1, 10, 100):
                s.sendto(b"z" * size, ("127.0.0.1", port))
        time.sleep(0.3)
        status, out, err = server.stop(sig)
    finally:
        server.kill()
    assert status == 0
    assert "received 3 datagrams, 111 bytes" in err
    assert "Traceback" not in err
    assert (out == "") == quiet


def test_echo_and_wait_reply_over_ipv6() -> None:
    port = free_port(socket.SOCK_DGRAM, "::1")
    server = ServeProcess("--bind", "::1", "--port", str(port), "--echo")
    try:
        sent = wirelab("udp", "send", "::1", str(port), "ping?", "--wait-reply", "2", "--json")
    finally:
        server.stop()
    assert sent.returncode == 0, sent.stderr
    record = json.loads(sent.stdout)
    assert record["reply"]["payload"] == "ping?"
    assert record["reply"]["sport"] == port


def test_message_from_stdin_and_from_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    port = free_port(socket.SOCK_DGRAM)
    blob = bytes(range(256)) * 4
    path = tmp_path / "msg.bin"
    path.write_bytes(blob)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        rx.bind(("127.0.0.1", port))
        rx.settimeout(5)
        assert wirelab("udp", "send", "127.0.0.1", str(port), "-", input=b"from stdin\x00"
                       ).returncode == 0
        assert rx.recv(65535) == b"from stdin\x00"
        assert wirelab("udp", "send", "127.0.0.1", str(port), "--file", str(path)
                       ).returncode == 0
        assert rx.recv(65535) == blob


def test_count_and_interval_are_kept() -> None:
    port = free_port(socket.SOCK_DGRAM)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        rx.bind(("127.0.0.1", port))
        rx.settimeout(5)
        started = time.monotonic()
        result = wirelab("udp", "send", "127.0.0.1", str(port), "tick", "-n", "3",
                         "--interval", "0.2")
        assert result.returncode == 0
        got = [rx.recv(100) for _ in range(3)]
    assert got == [b"tick"] * 3
    assert time.monotonic() - started >= 0.4  # two intervals between three datagrams


def test_nothing_listening_is_a_one_line_refusal() -> None:
    port = free_port(socket.SOCK_DGRAM)
    result = wirelab("udp", "send", "127.0.0.1", str(port), "anyone?", "--wait-reply", "1")
    assert result.returncode == 6
    assert result.stderr.decode().strip().splitlines() == [
        f"wirelab: 127.0.0.1:{port} refused: ICMP port unreachable (nothing listening)"]


def test_no_reply_is_a_negative_result() -> None:
    port = free_port(socket.SOCK_DGRAM)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", port))
        result = wirelab("udp", "send", "127.0.0.1", str(port), "hello", "--wait-reply", "0.3")
    assert result.returncode == 1
    assert b"no reply within 0.3 s" in result.stdout


def test_port_in_use_is_a_one_line_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        result = wirelab("udp", "serve", "--port", str(port))
    assert result.returncode == 6
    assert result.stderr.decode().splitlines()[-1] == (
        f"wirelab: cannot listen on 127.0.0.1:{port}: port already in use")


def test_oversized_message_is_refused_before_sending() -> None:
    result = wirelab("udp", "send", "127.0.0.1", "9", "-", input=b"a" * 65508)
    assert result.returncode == 6
    assert b"at most 65507" in result.stderr


# --- the library's display rules -------------------------------------------------------------


@pytest.mark.parametrize(("payload", "shown"), [
    (b"plain", 'text "plain"'),
    (b"tab\there\r\n", 'text "tab\\there\\r\\n"'),
    (b"nul\x00", 'text "nul\\x00"'),
    (b"\xc3\x28", "hex c328"),  # invalid UTF-8
    ("\u00e9t\u00e9".encode(), 'text "\u00e9t\u00e9"'),
])
def test_describe_payload(payload: bytes, shown: str) -> None:
    assert udplib.describe_payload(payload) == shown


def test_describe_payload_cut_inside_a_character_is_still_text() -> None:
    payload = "\u00e9".encode() * 200  # 400 bytes; byte 256 falls inside a character
    assert udplib.describe_payload(payload).startswith('text "\u00e9\u00e9')
    assert udplib.describe_payload(payload).endswith("(+144 bytes)")
