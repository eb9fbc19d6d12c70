"""Helpers for the lab tests: what the root namespace looks like, and what a lab left behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from wirelab.lab.state import SWITCH, LabDir, LabState, proc_alive, proc_start_time

WIRELAB = [sys.executable, "-m", "wirelab"]


def ip_json(*args: str) -> Any:
    out = subprocess.run(["ip", "-j", *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout or "[]")


def root_snapshot() -> dict[str, Any]:
    """The root namespace's links, addresses and routes (all tables), minus counters."""
    links = sorted((link["ifindex"], link["ifname"], link.get("address", ""),
                    link.get("link_type", "")) for link in ip_json("link", "show"))
    addrs = sorted((a["ifname"], i["local"], i["prefixlen"]) for a in ip_json("addr", "show")
                   for i in a.get("addr_info", []))
    routes = sorted(json.dumps({k: v for k, v in r.items() if k not in ("expires",)},
                               sort_keys=True)
                    for fam in ("-4", "-6") for r in ip_json(fam, "route", "show", "table",
                                                             "all"))
    return {"links": links, "addresses": addrs, "routes": routes}


def lab_inodes(state: LabState) -> set[str]:
    """The ``net:[inode]`` (root) or ``user:[inode]`` (rootless) identities of a lab."""
    if state.mode == "root":
        found = set()
        for path in state.netns.values():
            try:
                found.add(f"net:[{os.stat(path).st_ino}]")
            except OSError:
                continue
        return found
    assert state.keeper is not None
    return {os.readlink(f"/proc/{state.keeper.pid}/ns/user")}


def processes_in(identities: set[str], mode: str) -> list[int]:
    """Live processes (zombies excluded: they have exited) inside the given namespaces."""
    link = "net" if mode == "root" else "user"
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry}/ns/{link}") in identities and \
                    proc_alive(int(entry), proc_start_time(int(entry)) or -1):
                pids.append(int(entry))
        except OSError:
            continue
    return pids


def assert_lab_gone(name: str, state: LabState, identities: set[str]) -> None:
    """Nothing of lab ``name`` is left: record, namespaces, /etc files, processes."""
    assert not LabDir(name).path.exists(), "the lab's record directory is still there"
    for host, path in state.netns.items():
        assert not os.path.exists(path), f"namespace file of {host} still there: {path}"
    for files in state.etc_files.values():
        for path in files.values():
            assert not os.path.exists(path), f"{path} still there"
    procs = list(state.services) + ([state.keeper] if state.keeper else [])
    alive = [f"{p.role}:{p.pid}" for p in procs if p.alive()]
    assert not alive, f"processes still alive: {alive}"
    assert not processes_in(identities, state.mode), "processes still inside the lab"
    if state.mode == "root":
        names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert f"wl-{name}." not in names


def run_cli(*args: str, check: bool = False, timeout: float = 120.0
            ) -> subprocess.CompletedProcess[str]:
    """Run ``wirelab ARGS`` in a subprocess (as the user the tests run as)."""
    env = dict(os.environ)
    env.pop("WIRELAB_LAB", None)
    return subprocess.run([*WIRELAB, *args], capture_output=True, text=True, env=env,
                          timeout=timeout, check=check)


__all__ = ["SWITCH", "WIRELAB", "assert_lab_gone", "lab_inodes", "processes_in",
           "root_snapshot", "run_cli"]
