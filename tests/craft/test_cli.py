"""Every Module 2 command has --help with an example, and fails in one line without privilege."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

from wirelab.cli.main import cli

from ..helpers import without_caps

COMMANDS = [["ping"], ["handshake"], ["sniff"], ["proto"], ["proto", "send"],
            ["proto", "recv"], ["proto", "demo"]]


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_help_has_an_example(args: list[str]) -> None:
    result = CliRunner().invoke(cli, [*args, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output


def _without_net_raw(argv: list[str]) -> subprocess.CompletedProcess[str]:
    """Run wirelab with CAP_NET_RAW out of reach (dropped from the bounding set as root)."""
    wirelab = without_caps([sys.executable, "-m", "wirelab"], "net_raw", "net_admin")
    return subprocess.run([*wirelab, *argv], capture_output=True, text=True, timeout=60)


# Loopback targets only: if the capability check were broken, nothing would leave the host.
@pytest.mark.parametrize("argv", [["ping", "-c", "1", "127.0.0.1"],
                                  ["handshake", "127.0.0.1", "9"],
                                  ["sniff", "--timeout", "1"],
                                  ["sniff", "--engine", "scapy", "--timeout", "1"],
                                  ["proto", "send", "127.0.0.1"],
                                  ["proto", "recv", "--timeout", "1"]],
                         ids=lambda a: " ".join(a[:3]))
def test_one_line_privilege_error(argv: list[str]) -> None:
    done = _without_net_raw(argv)
    assert done.returncode == 4, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "CAP_NET_RAW" in lines[0] and "lab" in lines[0]


def test_handshake_without_net_admin_is_one_line() -> None:
    """CAP_NET_RAW but no CAP_NET_ADMIN: the firewall rule cannot be added; nothing is sent."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to drop CAP_NET_ADMIN alone")
    done = subprocess.run(["setpriv", "--bounding-set=-net_admin", "--inh-caps=-net_admin",
                           sys.executable, "-m", "wirelab", "handshake", "127.0.0.1", "9"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 4, done.stderr
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and "CAP_NET_ADMIN" in done.stderr
