"""The conversation table's times rounded as tshark rounds them, on a boundary case.

tshark prints a conversation's duration as (last frame's relative time) - (first's), each a
double, to 4 decimals.  Frames 7.465578 s and 7.467028 s after the capture's first make a
duration of exactly 1.45 ms: the exact quotient rounds down to 0.0014, tshark's subtraction
rounds up to 0.0015.  Found as a flaky comparison on loopback captures, whose random times
hit such boundaries now and then; pinned here with times chosen to hit one.  The JSON keeps
the exact duration; :func:`~wirelab.monitor.conv.printed_duration` gives tshark's figure.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from wirelab import samples
from wirelab.cli.stats import stats
from wirelab.monitor.conv import printed_duration

from .tshark_text import parse_conv, tshark_tables

S = samples.START_NS


@pytest.fixture
def boundary(tmp_path: Path) -> Path:
    path = tmp_path / "boundary.pcap"
    c, r, s = samples.CLIENT, samples.ROUTER, samples.SERVER
    samples.write_pcap(path, [
        (S, samples.udp4(c, s, 1000, 2000, b"x")),
        (S + 7_465_578_000, samples.udp4(c, r, 1000, 2000, b"x")),
        (S + 7_467_028_000, samples.udp4(r, c, 2000, 1000, b"x")),
    ])
    return path


def test_duration_is_computed_as_tshark_does(boundary: Path) -> None:
    result = CliRunner().invoke(stats, [str(boundary), "conv", "ip", "--json"])
    assert result.exit_code == 0, result.output
    row = next(r for r in json.loads(result.output)["ip"] if r["frames"] == 2)
    assert row["duration"] == 0.00145  # exact in the JSON
    assert f"{printed_duration(row['rel_start'], row['duration']):.4f}" == "0.0015"
    text = CliRunner().invoke(stats, [str(boundary), "conv", "ip"]).output
    assert "7.465578     0.0015" in text


@pytest.mark.tshark
@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
def test_duration_equals_tsharks_printed_figure(boundary: Path) -> None:
    theirs = parse_conv(tshark_tables(str(boundary), ["conv,ip"]))
    pair = frozenset(("198.18.0.10", "198.18.0.1"))
    mine = json.loads(CliRunner().invoke(stats, [str(boundary), "conv", "ip", "--json"]).output)
    row = next(r for r in mine["ip"] if frozenset((r["a"], r["b"])) == pair)
    printed = printed_duration(row["rel_start"], row["duration"])
    assert f"{printed:.4f}" == theirs[pair]["duration_text"] == "0.0015"
