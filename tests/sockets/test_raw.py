"""``wirelab raw udp`` on loopback: a real receiver (``udp serve``) gets the datagram, and tshark,
reading what tcpdump captured on ``lo``, judges the checksums."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers import ServeProcess, free_port, read_until, wirelab

needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="raw sockets need CAP_NET_RAW here; the lab tests cover "
    "the unprivileged path")

# Wireshark's checksum status values (epan/proto.h: PROTO_CHECKSUM_E_*)
BAD, GOOD, NOT_PRESENT = "0", "1", "3"


class LoCapture:
    """tcpdump on ``lo`` writing a pcap, stopped by its PID."""

    def __init__(self, path: Path, bpf: str) -> None:
        self.path = path
        # The pcap goes to tcpdump's stdout, a file opened here: tcpdump drops root for its
        # own user, which could not create a file in the test's private temp directory.
        # --immediate-mode: without it packets wait in a TPACKET_V3 ring block until the
        # block times out, and those still waiting when tcpdump is stopped are lost.
        argv = ["tcpdump", "-i", "lo", "-n", "-U", "--immediate-mode", "-s", "0", "-w", "-"]
        with open(path, "wb") as out:
            self.proc = subprocess.Popen([*argv, bpf], stdout=out, stderr=subprocess.PIPE)
        read_until(self.proc, b"listening on")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        self.proc.communicate(timeout=10)

    def fields(self, *names: str) -> list[list[str]]:
        """Each packet's fields as tshark reads them, with checksum validation on."""
        out = subprocess.run(
            ["tshark", "-r", str(self.path), "-o", "udp.check_checksum:TRUE",
             "-o", "ip.check_checksum:TRUE", "-Y", "udp", "-T", "fields", "-E", "separator=|",
             *[arg for name in names for arg in ("-e", name)]],
            capture_output=True, text=True, check=True, timeout=60).stdout
        return [line.split("|") for line in out.splitlines()]


@pytest.fixture
def capture(tmp_path: Path) -> Iterator[tuple[int, LoCapture]]:
    if shutil.which("tcpdump") is None or shutil.which("tshark") is None:
        pytest.fail("tcpdump and tshark are needed (scripts/install-deps test)")
    port = free_port(socket.SOCK_DGRAM)
    cap = LoCapture(tmp_path / "lo.pcap", f"udp port {port}")
    try:
        yield port, cap
    finally:
        cap.stop()


def _serve(port: int, host: str = "127.0.0.1") -> ServeProcess:
    return ServeProcess("--bind", host, "--port", str(port), "--json", "-c", "1")


def _received(server: ServeProcess) -> dict[str, object]:
    status, out, err = server.wait()
    assert status == 0, err
    record: dict[str, object] = json.loads(out.splitlines()[0])
    return record


@needs_root
def test_auto_checksum_is_valid_on_the_wire(capture: tuple[int, LoCapture]) -> None:
    port, cap = capture
    server = _serve(port)
    try:
        sent = wirelab("raw", "udp", "127.0.0.1", "--dport", str(port), "--sport", "12345",
                       "--payload", "hand-built", "--json")
        assert sent.returncode == 0, sent.stderr
        got = _received(server)
    finally:
        server.kill()
    cap.stop()
    record = json.loads(sent.stdout)
    assert (got["src"], got["sport"], got["payload"]) == ("127.0.0.1", 12345, "hand-built")
    rows = cap.fields("udp.srcport", "udp.checksum", "udp.checksum.status")
    assert rows == [["12345", f"0x{record['checksum']:04x}", GOOD]]


@needs_root
def test_zero_checksum_is_sent_as_zero_and_said(capture: tuple[int, LoCapture]) -> None:
    port, cap = capture
    server = _serve(port)
    try:
        sent = wirelab("raw", "udp", "127.0.0.1", "--dport", str(port), "--checksum", "zero")
        assert sent.returncode == 0, sent.stderr
        got = _received(server)  # over IPv4, 0 means "no checksum": it is accepted
    finally:
        server.kill()
    cap.stop()
    assert got["sport"] == 12345
    assert "checksum 0x0000 (zero: no checksum" in sent.stdout.decode()
    assert cap.fields("udp.checksum", "udp.checksum.status") == [["0x0000", NOT_PRESENT]]


@needs_root
def test_explicit_wrong_checksum_is_sent_as_given_and_dropped(
        capture: tuple[int, LoCapture]) -> None:
    port, cap = capture
    server = _serve(port)
    try:
        bad = wirelab("raw", "udp", "127.0.0.1", "--dport", str(port), "--checksum", "0xbeef",
                      "--payload", "bad")
        good = wirelab("raw", "udp", "127.0.0.1", "--dport", str(port), "--payload", "good")
        assert bad.returncode == good.returncode == 0
        got = _received(server)
    finally:
        server.kill()
    cap.stop()
    assert got["payload"] == "good"  # the kernel dropped the first one
    assert "wrong: the right one is 0x" in bad.stdout.decode()
    rows = cap.fields("udp.checksum", "udp.checksum.status")
    assert rows[0] == ["0xbeef", BAD] and rows[1][1] == GOOD


@needs_root
def test_hdrincl_writes_the_ipv4_header_too(capture: tuple[int, LoCapture]) -> None:
    port, cap = capture
    server = _serve(port)
    try:
        sent = wirelab("raw", "udp", "127.0.0.1", "--dport", str(port), "--hdrincl",
                       "--src", "127.0.0.2", "--ttl", "5", "--ip-id", "4660")
        assert sent.returncode == 0, sent.stderr
        got = _received(server)
    finally:
        server.kill()
    cap.stop()
    assert (got["src"], got["sport"]) == ("127.0.0.2", 12345)
    rows = cap.fields("ip.src", "ip.ttl", "ip.id", "ip.checksum.status", "udp.checksum.status")
    assert rows == [["127.0.0.2", "5", "0x1234", GOOD, GOOD]]


@needs_root
def test_ipv6_auto_checksum(capture: tuple[int, LoCapture]) -> None:
    port, cap = capture
    server = _serve(port, "::1")
    try:
        sent = wirelab("raw", "udp", "::1", "--dport", str(port))
        assert sent.returncode == 0, sent.stderr
        got = _received(server)  # IPv6 receivers drop a datagram with a bad checksum
    finally:
        server.kill()
    cap.stop()
    assert (got["src"], got["sport"]) == ("::1", 12345)
    assert cap.fields("ipv6.src", "udp.checksum.status") == [["::1", GOOD]]


def test_without_cap_net_raw_one_line_pointing_to_the_lab() -> None:
    # As root, drop to "nobody" with no capabilities; as anyone else, run as is.
    prefix: list[str] = []
    if os.geteuid() == 0:
        prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                  "--inh-caps=-all", "--bounding-set=-all"]
    result = wirelab("raw", "udp", "127.0.0.1", "--dport", "9", prefix=prefix)
    err = result.stderr.decode()
    assert result.returncode == 4, err
    assert err.splitlines() == [
        "wirelab: raw sockets need CAP_NET_RAW: run as root, or in the lab where you have it: "
        "wirelab lab exec client -- wirelab raw udp ..."]


@pytest.mark.parametrize(("args", "status", "message"), [
    (["127.0.0.1", "--dport", "9", "--ip-id", "5"], 2, "--ip-id needs --hdrincl"),
    (["::1", "--dport", "9", "--hdrincl"], 3, "--hdrincl builds an IPv4 header"),
    (["127.0.0.1", "--dport", "9", "--checksum", "12345"], 3, "does not fit 16 bits"),
    (["127.0.0.1", "--dport", "9", "--checksum", "nope"], 3, "auto, zero or a hex value"),
    (["127.0.0.1", "--dport", "9", "--src", "::1"], 3, "different IP versions"),
])
def test_bad_arguments(args: list[str], status: int, message: str) -> None:
    result = wirelab("raw", "udp", *args)
    assert result.returncode == status
    assert message in result.stderr.decode()
