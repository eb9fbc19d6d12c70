"""A connect scan of loopback (no privilege needed) against real listening sockets."""

from __future__ import annotations

import json
import subprocess
import sys

from wirelab.recon.scan import scan


def test_connect_scan_loopback(loopback_ports: tuple[int, int]) -> None:
    open_port, closed_port = loopback_ports
    result = scan("127.0.0.1", [open_port, closed_port], "connect")
    assert result.state_of(open_port) == "open"
    assert result.state_of(closed_port) == "closed"
    assert {p.reason for p in result.ports} == {"syn-ack", "conn-refused"}


def test_cli_json_and_table(loopback_ports: tuple[int, int]) -> None:
    open_port, closed_port = loopback_ports
    spec = f"{open_port},{closed_port}"
    cmd = [sys.executable, "-m", "wirelab", "scan", "localhost", "-p", spec, "--type", "connect"]
    data = json.loads(subprocess.run([*cmd, "--json"], capture_output=True, text=True,
                                     check=True).stdout)
    assert data["address"] == "127.0.0.1"
    assert [(p["port"], p["state"]) for p in data["ports"]] == sorted(
        [(open_port, "open"), (closed_port, "closed")])
    table = subprocess.run([*cmd, "--reason"], capture_output=True, text=True,
                           check=True).stdout
    assert f"{open_port}/tcp" in table and "conn-refused" in table


def test_cli_help_has_example() -> None:
    done = subprocess.run([sys.executable, "-m", "wirelab", "scan", "--help"],
                          capture_output=True, text=True, check=True)
    assert "Example" in done.stdout and "wirelab scan" in done.stdout


def test_cli_bad_ports_one_line() -> None:
    done = subprocess.run([sys.executable, "-m", "wirelab", "scan", "127.0.0.1", "-p", "9-3"],
                          capture_output=True, text=True)
    assert done.returncode == 3
    assert done.stderr.strip() == "wirelab: bad port list '9-3': range 9-3 runs backwards"
