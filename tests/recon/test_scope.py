"""The scope guard: loopback and lab hosts only, refused before anything is sent."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from wirelab.recon.scope import ScopeError, check_scope


def test_loopback_allowed_anywhere() -> None:
    check_scope("127.0.0.1", env={})
    check_scope("127.3.4.5", env={})


def test_lab_address_needs_a_lab() -> None:
    check_scope("198.18.0.20", env={"WIRELAB_LAB": "default"})
    with pytest.raises(ScopeError, match="from inside a lab host"):
        check_scope("198.18.0.20", env={})


@pytest.mark.parametrize("address", ["192.0.2.1", "10.0.0.1", "198.20.0.1"])
def test_other_addresses_refused(address: str) -> None:
    with pytest.raises(ScopeError, match=f"refusing to scan {address}"):
        check_scope(address, env={"WIRELAB_LAB": "default"})


@pytest.mark.lab  # needs a network namespace: root, or unprivileged user namespaces
def test_refusal_sends_nothing_in_empty_netns() -> None:
    unshare = shutil.which("unshare")
    assert unshare is not None, "util-linux unshare is needed"
    flags = ["-n"] if os.geteuid() == 0 else ["-r", "-n"]
    probe = Path(__file__).with_name("netns_probe.py")
    done = subprocess.run([unshare, *flags, sys.executable, str(probe)], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    for run in report["runs"]:
        assert run["rc"] == 2, run
        assert run["stdout"] == ""
        assert run["stderr"].startswith("wirelab: refusing to scan ")
        assert len(run["stderr"].splitlines()) == 1
    assert report["scans"] == {"OutRequests": 0, "OutNoRoutes": 0}
    # The control shows these counters do see a send attempt in this namespace.
    assert report["control"]["OutNoRoutes"] == 1
