"""The `wirelab lab` commands, run as a user would run them (subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from wirelab.cli.main import cli
from wirelab.lab import lifecycle
from wirelab.lab.lab import unique_name
from wirelab.wire.pcap import PcapReader

from .helpers import run_cli

COMMANDS = ["up", "down", "status", "exec", "shell", "capture", "link", "topology", "sysctl",
            "icmp-ratelimit"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command: str) -> None:
    result = CliRunner().invoke(cli, ["lab", command, "--help"])
    assert result.exit_code == 0
    assert "Example: wirelab lab" in result.output


def test_topology_command_prints_the_model() -> None:
    result = CliRunner().invoke(cli, ["lab", "topology", "line:3"])
    assert result.exit_code == 0
    assert "route 198.18.1.0/24 via 198.18.0.2 dev eth0" in result.output
    data = json.loads(CliRunner().invoke(cli, ["lab", "topology", "--json"]).output)
    assert sorted(data["hosts"]) == ["client", "remote", "router", "server"]


def test_errors_are_one_line_with_exit_codes() -> None:
    name = unique_name("c")
    missing = run_cli("lab", "exec", "--name", name, "client", "--", "true")
    assert missing.returncode == 5
    assert missing.stderr.strip() == f"wirelab: no lab named {name!r} (start one with " \
        f"`wirelab lab up --name {name}`)"
    bad = run_cli("lab", "up", "--name", name, "--topology", "mesh")
    assert bad.returncode == 5 and len(bad.stderr.strip().splitlines()) == 1
    assert run_cli("lab", "down", "--name", name).stdout.strip() == \
        f"no lab {name}: nothing to remove"


@pytest.mark.lab
def test_cli_round_trip(tmp_path: Path) -> None:
    name = unique_name("c")
    try:
        up = run_cli("lab", "up", "--name", name)
        assert up.returncode == 0, up.stderr
        assert f"lab {name} up" in up.stdout

        status = json.loads(run_cli("lab", "status", "--name", name, "--json").stdout)
        assert status["hosts"]["server"]["interfaces"][0]["address"] == "198.18.0.20/24"
        assert {s["service"] for s in status["hosts"]["server"]["services"]} == {
            "http", "dns", "listen"}
        assert all(s["alive"] for s in status["hosts"]["server"]["services"])

        names = run_cli("lab", "exec", "--name", name, "client", "--", "getent", "hosts",
                        "server")
        assert names.returncode == 0 and names.stdout.split()[0] == "198.18.0.20"
        failing = run_cli("lab", "exec", "--name", name, "client", "--", "sh", "-c", "exit 7")
        assert failing.returncode == 7  # the command's status is wirelab's

        shaped = run_cli("lab", "link", "--name", name, "client", "server", "--delay", "50ms")
        assert shaped.returncode == 0, shaped.stderr
        ping = run_cli("lab", "exec", "--name", name, "client", "--", "ping", "-c", "2", "-n",
                       "-i", "0.2", "198.18.0.20")
        assert "rtt min/avg/max/mdev = 1" in ping.stdout  # >= 100 ms
        assert "delay 50ms" in run_cli("lab", "link", "--name", name, "client", "server").stdout
        assert run_cli("lab", "link", "--name", name, "client", "server", "--clear"
                       ).returncode == 0

        pcap = tmp_path / "ping.pcap"
        capture = run_cli("lab", "capture", "--name", name, "router:eth1", "-w", str(pcap),
                          "--filter", "icmp", "--duration", "3")
        assert capture.returncode == 0, capture.stderr
        assert "packets written" in capture.stderr
        assert pcap.stat().st_size == 24  # nobody pinged: a header and no packet

        down = run_cli("lab", "down", "--name", name)
        assert down.returncode == 0 and f"lab {name} removed" in down.stdout
        assert "nothing to remove" in run_cli("lab", "down", "--name", name).stdout
    finally:
        lifecycle.down(name)


@pytest.mark.lab
def test_cli_capture_with_count(make_lab, tmp_path: Path) -> None:  # type: ignore
    import subprocess
    import sys

    lab = make_lab("default")
    pcap = tmp_path / "four.pcap"
    capture = subprocess.Popen([sys.executable, "-m", "wirelab", "lab", "capture", "--name",
                                lab.name, "client", "-w", str(pcap), "-c", "4", "--filter",
                                "icmp"], stderr=subprocess.PIPE, text=True)
    assert capture.stderr is not None
    assert "capturing on client:eth0" in capture.stderr.readline()
    lab.host("client").run(["ping", "-c", "3", "-i", "0.2", "-n", "198.18.0.20"])
    assert capture.wait(20) == 0
    assert "4 packets written" in capture.stderr.read()
    assert len(list(PcapReader(str(pcap)))) == 4


@pytest.mark.lab
def test_exec_finds_this_wirelab_without_the_venv_on_path(make_lab) -> None:  # type: ignore
    """`.venv/bin/wirelab lab exec client -- wirelab ...` works with a bare PATH."""
    lab = make_lab("default", services=False)
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp")}
    for key in ("WIRELAB_STATE_DIR", "TMPDIR", "PYTHONPATH"):
        if key in os.environ:
            env[key] = os.environ[key]
    res = subprocess.run([sys.executable, "-m", "wirelab", "lab", "exec", "--name", lab.name,
                          "client", "--", "wirelab", "--version"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "wirelab, version" in res.stdout
