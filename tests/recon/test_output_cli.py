"""``wirelab scan``'s flags and output destinations, on loopback with connect scans (no
privilege or lab needed): -T4 and -T 4, --max-retries, -oN/-oX to files and to stdout."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest


@pytest.fixture
def ports(loopback_ports: tuple[int, int]) -> tuple[int, int]:
    """(open, closed) on loopback (the recon conftest's pair)."""
    return loopback_ports


def wirelab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wirelab", "scan", "127.0.0.1", *args],
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("flag", [["-T4"], ["-T", "2"]])
def test_timing_template_forms(ports: tuple[int, int], flag: list[str]) -> None:
    done = wirelab("-p", f"{ports[0]},{ports[1]}", "--type", "connect", *flag, "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["timing"] == int(flag[-1][-1])
    states = {p["port"]: p["state"] for p in data["ports"]}
    assert states == {ports[0]: "open", ports[1]: "closed"}


def test_bad_template_and_retries_are_usage_errors() -> None:
    assert wirelab("-T6", "-p", "1").returncode == 2
    assert wirelab("--max-retries", "-1", "-p", "1").returncode == 2


def test_max_retries_reaches_the_engine(ports: tuple[int, int]) -> None:
    done = wirelab("-p", str(ports[0]), "--type", "connect", "--max-retries", "0", "--json")
    assert json.loads(done.stdout)["max_retries"] == 0


def test_files_and_terminal(ports: tuple[int, int], tmp_path: Path) -> None:
    normal, xml = tmp_path / "scan.txt", tmp_path / "scan.xml"
    done = wirelab("-p", f"{ports[0]},{ports[1]}", "--type", "connect", "-oN", str(normal),
                   "-oX", str(xml))
    assert done.returncode == 0, done.stderr
    shown = done.stdout.splitlines()
    assert re.fullmatch(r"Starting wirelab 0\.1\.0 at \d{4}-\d\d-\d\d \d\d:\d\d \S+",
                        shown[0]), shown[0]
    assert shown[1] == "wirelab scan report for 127.0.0.1"
    text = normal.read_text().splitlines()
    assert text[0].startswith("# wirelab 0.1.0 scan initiated ")
    assert text[1:-2] == shown[1:-2]  # the same report between the comments
    root = ET.parse(xml).getroot()
    assert [p.get("portid") for p in root.iter("port")] == [str(p) for p in sorted(ports)]
    assert root.find("scaninfo").get("type") == "connect"  # type: ignore[union-attr]


def test_dash_means_stdout_alone(ports: tuple[int, int]) -> None:
    done = wirelab("-p", str(ports[0]), "--type", "connect", "-oX", "-")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE nmaprun>')
    ET.fromstring(done.stdout)  # nothing else mixed in
    assert done.stderr == ""  # no progress bar: stderr is not a terminal


def test_one_stdout_user_only() -> None:
    done = wirelab("-p", "1", "-oX", "-", "--json")
    assert done.returncode == 2
    assert "only one of --json, -oN -, -oX - can use stdout" in done.stderr


def test_unwritable_output_fails_before_scanning(tmp_path: Path) -> None:
    done = wirelab("-p", "1", "--type", "connect", "-oN", str(tmp_path / "no" / "such.txt"))
    assert done.returncode == 3
    assert done.stderr.startswith("wirelab: cannot write ")
    assert done.stdout == ""
