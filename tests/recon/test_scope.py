"""The scope guard: loopback and lab hosts only, refused before anything is sent."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from wirelab.recon.scope import ScopeError, check_scope, in_scope, owned


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


def test_override_admits_only_the_named_address() -> None:
    with owned("192.0.2.1"):
        check_scope("192.0.2.1", env={})
        assert not in_scope("192.0.2.1", env={})  # still outside: the CLI warns
        with pytest.raises(ScopeError, match="refusing to scan 192.0.2.2"):
            check_scope("192.0.2.2", env={})
    with pytest.raises(ScopeError, match="--i-own-this-network if it is yours"):
        check_scope("192.0.2.1", env={})  # the override ends with the block


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

    # --i-own-this-network: a warning, then the scan really tries (each connect() counted as
    # a send with no route); in the empty namespace nothing can leave.
    owned_run = report["owned"]
    assert owned_run["rc"] == 0, owned_run["stderr"]
    assert owned_run["stderr"].startswith("wirelab: warning: scanning 192.0.2.1, outside ")
    result = json.loads(owned_run["stdout"])
    assert [p["state"] for p in result["ports"]] == ["filtered"] * 3
    assert {p["reason"] for p in result["ports"]} == {"net-unreach"}
    assert owned_run["counters"]["OutNoRoutes"] >= 3
    assert owned_run["counters"]["OutRequests"] == 0
