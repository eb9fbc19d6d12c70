"""``wirelab stats`` as a user meets it: help, tables, one-line errors."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from wirelab import samples
from wirelab.cli.stats import stats

from .conftest import mixed_pcap


def test_help_has_an_example() -> None:
    result = CliRunner().invoke(stats, ["--help"])
    assert result.exit_code == 0
    assert "Example: wirelab stats capture.pcap conv tcp udp" in result.output


def test_human_table_for_the_curriculum_trace(tmp_path: Path) -> None:
    path = tmp_path / "trace.pcap"
    samples.write_pcap(path, samples.curriculum_trace())
    result = CliRunner().invoke(stats, [str(path), "conv", "tcp"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "TCP conversations: 1"
    # the HTTP exchange: the client sent SYN, ACK, request, FIN; the server five frames
    a, b, frames_ab, _, frames_ba, _, frames = lines[3].split()[:7]
    assert (a, b, frames_ab, frames_ba, frames) == (
        "198.18.0.10:40000", "198.18.0.20:80", "4", "5", "9")


def test_not_a_capture_is_one_line_and_exit_3(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello, not a pcap\n")
    proc = subprocess.run([sys.executable, "-m", "wirelab", "stats", str(path), "endpoints"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3
    assert proc.stderr.strip().splitlines() == [
        f"wirelab: {path}: byte 0: not a pcap or pcapng file (magic 0x68656c6c)"]


def test_csv_carries_the_same_numbers_as_json(tmp_path: Path) -> None:
    path = mixed_pcap(tmp_path, 800, seed=5)
    for args, section in ((["conv"], None), (["endpoints", "udp"], None), (["phs"], "phs"),
                          (["io", "--interval", "0.5"], "io")):
        as_json = json.loads(CliRunner().invoke(stats, [str(path), *args, "--json"]).output)
        out = CliRunner().invoke(stats, [str(path), *args, "--csv"])
        assert out.exit_code == 0, out.output
        rows = list(csv.DictReader(io.StringIO(out.output)))
        if section is None:
            expected = [{"kind": k, **r} for k in ("ip", "ipv6", "tcp", "udp")
                        if k in as_json for r in as_json[k]]
        else:
            expected = as_json[section]
        assert len(rows) == len(expected) > 0, args
        for got, want in zip(rows, expected, strict=True):
            assert got == {k: str(v) for k, v in want.items()}, args


def test_json_and_csv_together_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "trace.pcap"
    samples.write_pcap(path, samples.curriculum_trace())
    result = CliRunner().invoke(stats, [str(path), "phs", "--json", "--csv"])
    assert result.exit_code == 2 and "choose one" in result.output


def test_usage_errors_name_the_problem(tmp_path: Path) -> None:
    path = tmp_path / "trace.pcap"
    samples.write_pcap(path, samples.curriculum_trace())
    for argv, words in ((["phs"], "no such file"), ([], "CAPTURE"),
                        ([str(path)], "STATISTIC"), ([str(path), "top"], "STATISTIC 'top'"),
                        ([str(path), "conv", "sctp"], "KIND 'sctp'"),
                        ([str(path), "phs", "ip"], "phs takes no KIND"),
                        ([str(path), "phs", "-f", "udp"], "live captures (-i) only"),
                        (["-i", "lo", str(path)], "STATISTIC")):
        result = CliRunner().invoke(stats, argv)
        assert result.exit_code == 2, (argv, result.output)
        assert words in result.output, (argv, result.output)


def test_count_and_write_on_a_file(tmp_path: Path) -> None:
    """-c N counts the first N frames; -w writes exactly those (nanosecond pcap)."""
    path, out = tmp_path / "mixed.pcap", tmp_path / "first.pcap"
    samples.write_pcap(path, samples.mixed_frames(500, seed=9))
    result = CliRunner().invoke(stats, [str(path), "io", "-c", "120", "-w", str(out),
                                        "--interval", "100", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["io"]
    from wirelab.wire.capture import open_capture
    with open_capture(str(path)) as packets:
        first = [(p.ts_ns, p.data, p.orig_len) for p in packets][:120]
    with open_capture(str(out)) as packets:
        written = [(p.ts_ns, p.data, p.orig_len) for p in packets]
    assert written == first
    assert rows == [{"start": 0.0, "end": rows[0]["end"], "frames": 120,
                     "bytes": sum(n for _, _, n in first)}]
