"""Which way the lab is built, raw sockets and Scapy unprivileged, and the one-line refusal."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from wirelab.lab import privilege
from wirelab.lab.lab import Lab

REFUSE = """
import sys
with open("/proc/sys/user/max_user_namespaces", "w") as handle:
    handle.write("0")      # in this user namespace only: no more namespaces below it
from wirelab.cli.main import main
main(["lab", "up", "--name", "refused"])
"""


@pytest.mark.skipif(shutil.which("unshare") is None, reason="util-linux unshare missing")
def test_neither_root_nor_userns_is_a_one_line_privilege_error() -> None:
    """Inside a user namespace (UID 0 there, not real root) that may not create more."""
    probe = subprocess.run(["unshare", "--user", "--map-root-user", "true"],
                           capture_output=True)
    if probe.returncode != 0:
        pytest.skip("cannot create the user namespace this test needs")
    result = subprocess.run(["unshare", "--user", "--map-root-user", sys.executable, "-c",
                             REFUSE], capture_output=True, text=True, timeout=60)
    assert result.returncode == 4, result.stderr  # ExitCode.PRIVILEGE
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("wirelab: the lab needs root or unprivileged user namespaces")
    assert "run it as root" in lines[0]


@pytest.mark.lab
def test_mode_matches_who_we_are(shared_lab: Lab) -> None:
    expected = "root" if privilege.is_root() else "rootless"
    assert shared_lab.mode == expected
    if expected == "root":
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert f"wl-{shared_lab.name}.client" in listed
    else:
        assert shared_lab.state is not None and shared_lab.state.keeper is not None
        assert os.getuid() != 0


@pytest.mark.lab
def test_scapy_inside_the_lab(shared_lab: Lab) -> None:
    """Scapy sends a crafted echo request and gets the reply: raw sockets in the lab."""
    script = ("from scapy.all import IP, ICMP, sr1, conf\n"
              "conf.verb = 0\n"
              "reply = sr1(IP(dst='198.18.0.20')/ICMP(id=7, seq=1), timeout=3)\n"
              "print(reply[IP].src, reply[ICMP].type, reply[ICMP].id)\n")
    result = shared_lab.host("client").run([sys.executable, "-c", script], timeout=120)
    assert result.returncode == 0, result.stderr[-500:]
    assert result.stdout.split() == ["198.18.0.20", "0", "7"]
