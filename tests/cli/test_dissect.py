"""``wirelab dissect`` as a user meets it: lines, trees, JSON, and its failures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from wirelab import samples


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wirelab", *args], capture_output=True,
                          text=True, input=stdin.decode("latin-1") if stdin else None)


@pytest.fixture()
def sample(tmp_path: Path) -> Path:
    path = tmp_path / "sample.pcap"
    samples.write_pcap(path, samples.curriculum_trace())
    return path


def test_summary_lines_read_like_tshark(sample: Path) -> None:
    res = run("dissect", str(sample))
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert len(lines) == len(samples.curriculum_trace())
    syn = next(line for line in lines if "[SYN]" in line)
    assert "40000 \u2192 80 [SYN] Seq=0 Win=64240 Len=0 MSS=1460 SACK_PERM" in syn
    synack = next(line for line in lines if "[SYN, ACK]" in line)
    assert "Seq=0 Ack=1" in synack  # relative sequence numbers, as tshark shows them
    assert any("GET /get HTTP/1.1" in line and " HTTP " in line for line in lines)
    assert any("Who has 198.18.0.20? Tell 198.18.0.10" in line for line in lines)
    assert any("Standard query response 0x4c41 A server.lab A 198.18.0.20" in line
               for line in lines)


def test_count_and_verbose_tree(sample: Path) -> None:
    res = run("dissect", str(sample), "-V", "-c", "3")
    assert res.returncode == 0
    assert res.stdout.count("Frame ") == 3
    assert "Internet Control Message Protocol" in res.stdout
    assert "checksum_ok: True" in res.stdout
    assert "proto: ICMP (1)" in res.stdout


def test_json_lines_carry_layers_and_checksum_status(sample: Path) -> None:
    res = run("dissect", str(sample), "--json")
    records = [json.loads(line) for line in res.stdout.splitlines()]
    udp = next(r for r in records if r["info"].startswith("12345"))
    layers = {layer["layer"]: layer for layer in udp["layers"]}
    assert layers["UDP"]["sport"] == 12345 and layers["UDP"]["checksum_ok"] is True


def test_bad_checksum_reported_not_raised(tmp_path: Path) -> None:
    frame = bytearray(samples.udp4(samples.CLIENT, samples.SERVER, 1, 2, b"hi"))
    frame[-3] ^= 0xFF  # flip payload bits: the UDP checksum no longer verifies
    path = tmp_path / "bad.pcap"
    samples.write_pcap(path, [(samples.START_NS, bytes(frame))])
    record = json.loads(run("dissect", str(path), "--json").stdout)
    udp = next(layer for layer in record["layers"] if layer["layer"] == "UDP")
    assert udp["checksum_ok"] is False and record["error"] is None


def test_malformed_packet_shown_up_to_the_error(tmp_path: Path) -> None:
    frame = samples.udp4(samples.CLIENT, samples.SERVER, 1, 2, b"hello")
    cut = bytearray(frame[:14 + 20 + 4])  # the UDP header stops half way
    cut[16:18] = (20 + 8 + 5).to_bytes(2, "big")  # IPv4 total length still claims more
    path = tmp_path / "cut.pcap"
    samples.write_pcap(path, [(samples.START_NS, bytes(cut))])
    res = run("dissect", str(path), "--json")
    record = json.loads(res.stdout)
    assert [layer["layer"] for layer in record["layers"]] == ["Ethernet"]
    assert record["error"]["type"] == "TruncatedError"
    assert record["error"]["layer"] == "IPv4" and record["error"]["offset"] is not None
    text = run("dissect", str(path))
    assert "Malformed" in text.stdout and "1 malformed" in text.stderr


def test_truncated_last_record_warns_and_keeps_the_rest(sample: Path, tmp_path: Path) -> None:
    data = sample.read_bytes()
    short = tmp_path / "short.pcap"
    short.write_bytes(data[:-10])
    res = run("dissect", str(short))
    assert res.returncode == 0
    assert len(res.stdout.splitlines()) == len(samples.curriculum_trace()) - 1
    assert "warning" in res.stderr and "truncated" in res.stderr.lower()


def test_corrupt_header_is_one_line_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"not a capture at all")
    res = run("dissect", str(junk))
    assert res.returncode == 3
    assert res.stderr.startswith("wirelab: ") and len(res.stderr.strip().splitlines()) == 1
    assert "Traceback" not in res.stderr


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    res = run("dissect", str(tmp_path / "nope.pcap"))
    assert res.returncode != 0 and "Traceback" not in res.stderr


def test_reads_stdin(sample: Path) -> None:
    res = subprocess.run([sys.executable, "-m", "wirelab", "dissect", "-", "-c", "2"],
                         stdin=sample.open("rb"), capture_output=True, text=True)
    assert res.returncode == 0 and len(res.stdout.splitlines()) == 2


def test_help_has_an_example() -> None:
    res = run("dissect", "--help")
    assert res.returncode == 0 and "Example" in res.stdout
