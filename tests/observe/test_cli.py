"""``wirelab flow``, ``follow`` and ``conversations`` as a user runs them: help with an
example, output, files written, and one-line errors with distinct exit codes."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

from wirelab.errors import ExitCode
from wirelab.wire.pcap import PcapWriter

from .helpers import Talk
from .test_handbuilt import REPLY, REQUEST, duplicated, in_order


def wirelab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wirelab", *args], capture_output=True,
                          text=True, timeout=60)


@pytest.fixture(scope="module")
def two_streams(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    talk = Talk()
    in_order(talk)
    talk.client = ("192.0.2.1", 40001)
    duplicated(talk)
    return pathlib.Path(talk.write(tmp_path_factory.mktemp("cli") / "two.pcap"))


@pytest.mark.parametrize("command", ["flow", "follow", "conversations"])
def test_help_has_an_example_and_is_listed(command: str) -> None:
    done = wirelab(command, "--help")
    assert done.returncode == 0
    assert f"Example: wirelab {command} " in done.stdout
    assert command in wirelab("--help").stdout


def test_flow_text_and_files(two_streams: pathlib.Path, tmp_path: pathlib.Path) -> None:
    svg, html = tmp_path / "l.svg", tmp_path / "l.html"
    done = wirelab("flow", str(two_streams), "--stream", "1", "--svg", str(svg),
                   "--html", str(html), "--ascii")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "two.pcap: tcp stream 1"
    assert "192.0.2.1:40001" in lines[1] and "192.0.2.2:80" in lines[1]
    assert [line.split("==")[1].strip() for line in lines if line.strip().startswith("==")] \
        == ["handshake", "data", "teardown"]
    assert any("[TCP Retransmission] Seq=1 Ack=1" in line for line in lines)
    assert "wrote SVG" in done.stderr and "wrote HTML" in done.stderr
    assert svg.read_text().startswith("<svg") and "[TCP Retransmission]" in svg.read_text()
    assert html.read_text().startswith("<!DOCTYPE html>")


def test_flow_filter_and_json(two_streams: pathlib.Path) -> None:
    done = wirelab("flow", str(two_streams), "--filter", "src port 40001 and not stream 0",
                   "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    arrows = data["arrows"]
    assert {a["stream"] for a in arrows} == {1} and {a["src"] for a in arrows} == {0}
    assert [a["marks"] for a in arrows if a["marks"]] == [["TCP Retransmission"]]


def test_follow_formats(two_streams: pathlib.Path, tmp_path: pathlib.Path) -> None:
    text = wirelab("follow", str(two_streams), "--stream", "1").stdout
    # (text mode reads \r\n as \n)
    assert REQUEST.decode().replace("\r\n", "\n") in text and "hello, wire!" in text
    assert "client -> server 39 bytes, server -> client 51 bytes" in text
    hexdump = wirelab("follow", str(two_streams), "--stream", "1", "--format", "hex").stdout
    assert "00000000  47 45 54 20 2f 69 6e 64  65 78 2e 68 74 6d 6c 20  |GET /index.html |" \
        in hexdump
    assert "    00000000  48 54 54 50" in hexdump  # the server's side is indented
    raw = subprocess.run([sys.executable, "-m", "wirelab", "follow", str(two_streams),
                          "--stream", "1", "--format", "raw", "--side", "server"],
                         capture_output=True, timeout=60)
    assert raw.stdout == REPLY
    out = tmp_path / "both.bin"
    done = wirelab("follow", str(two_streams), "--stream", "1", "-o", str(out))
    assert out.read_bytes() == REQUEST + REPLY and f"wrote 90 bytes (both) to {out}" in done.stdout
    data = json.loads(wirelab("follow", str(two_streams), "--json").stdout)
    assert (data["client_bytes"], data["server_bytes"], data["gaps"]) == (39, 51, [])


def test_conversations_table(two_streams: pathlib.Path) -> None:
    done = wirelab("conversations", str(two_streams))
    assert done.returncode == 0
    rows = done.stdout.splitlines()[2:]
    assert len(rows) == 2
    assert rows[1].split()[:4] == ["tcp", "1", "192.0.2.1:40001", "192.0.2.2:80"]
    assert "retransmission x2" in rows[1] and "retransmission" not in rows[0]


@pytest.mark.parametrize(("args", "code", "message"), [
    (["flow", "{f}", "--stream", "7"], ExitCode.BAD_INPUT,
     "wirelab: no TCP stream 7: the capture has 2 (0..1)"),
    (["flow", "{f}", "--udp-stream", "0"], ExitCode.BAD_INPUT,
     "wirelab: no UDP stream 0: the capture has no UDP conversation"),
    (["flow", "{f}", "--filter", "port http"], ExitCode.USAGE,
     "wirelab: filter 'port http': expected a port at 6 ('http')"),
    (["flow", "{f}", "--filter", "udp"], ExitCode.BAD_INPUT,
     "wirelab: no packet matches the filter 'udp'"),
    (["follow", "{f}", "--stream", "2"], ExitCode.BAD_INPUT,
     "wirelab: no TCP stream 2: the capture has 2 (0..1)"),
    (["conversations", "{missing}"], ExitCode.BAD_INPUT, "cannot open: No such file"),
    (["follow", "{notpcap}"], ExitCode.BAD_INPUT, "not a pcap or pcapng file"),
    (["flow", "{empty}"], ExitCode.BAD_INPUT,
     "wirelab: the capture has no TCP, UDP or ICMP packet"),
    (["flow", "{f}", "--stream", "0", "--udp-stream", "0"], ExitCode.USAGE,
     "give --stream or --udp-stream, not both"),
])
def test_errors_are_one_line(two_streams: pathlib.Path, tmp_path: pathlib.Path,
                             args: list[str], code: int, message: str) -> None:
    notpcap = tmp_path / "notes.txt"
    notpcap.write_text("hello\n")
    empty = tmp_path / "empty.pcap"
    with PcapWriter(empty) as out:  # one ARP frame: nothing to draw
        out.write(bytes.fromhex("ffffffffffff020000000001" "0806") + bytes(28), (1, 0))
    argv = [a.format(f=two_streams, missing=tmp_path / "nope.pcap", notpcap=notpcap,
                     empty=empty) for a in args]
    done = wirelab(*argv)
    assert done.returncode == code
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    if not done.stderr.startswith("Usage:"):  # click's own usage errors add a hint line
        assert len(done.stderr.strip().splitlines()) == 1


def test_unwritable_output_is_one_line(two_streams: pathlib.Path, tmp_path: pathlib.Path) -> None:
    done = wirelab("flow", str(two_streams), "--html", str(tmp_path / "no" / "dir.html"))
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "No such file or directory" in done.stderr
