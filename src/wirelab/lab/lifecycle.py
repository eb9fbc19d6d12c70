"""Bringing a lab up and down, from its record.

``up`` writes the record before it creates anything (write-ahead), so that ``down`` can always
finish the job: after a clean run, after an error half-way, or after the builder was killed
with SIGKILL.  ``down`` removes exactly what the record names, is idempotent, and ends
processes by PID (checked against their recorded start time), never by name:

1. the recorded services;
2. any other process still inside the lab (a command run with ``exec``, a capture): found by
   its namespace, root: ``/proc/PID/ns/net`` is one of the lab's network namespaces;
   rootless: ``/proc/PID/ns/user`` is the keeper's user namespace;
3. rootless: the keeper, which releases every namespace with it;
   root: the namespace mounts, then the ``/etc/netns`` files;
4. the record itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from wirelab.errors import LabError
from wirelab.lab import enter, firewall, nsops, privilege
from wirelab.lab.plan import Interface, Plan
from wirelab.lab.shaping import Shaping
from wirelab.lab.state import (
    NETNS_RUN_DIR,
    SWITCH,
    LabDir,
    LabState,
    ProcRecord,
    proc_alive,
    proc_start_time,
    state_root,
)
from wirelab.lab.topology import SERVICES, Topology

T = TypeVar("T")
SERVICE_READY_SECONDS = 15.0
SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin")


# -- running things in the right place ----------------------------------------------------------


def keeper_target(state: LabState) -> enter.Target:
    keeper = state.keeper
    return enter.Target(keeper.pid if keeper else None, keeper.start if keeper else None)


def host_target(state: LabState, host: str) -> enter.Target:
    if host not in state.netns or host == SWITCH:
        raise LabError(f"no host {host!r} in lab {state.name} (hosts: "
                       f"{', '.join(h for h in state.netns if h != SWITCH)})")
    base = keeper_target(state)
    return enter.Target(base.keeper_pid, base.keeper_start, state.netns[host],
                        tuple(state.etc_files.get(host, {}).items()), host)


def privileged(state: LabState, func: Callable[..., T], *args: Any,
               timeout: float = 300.0) -> T:
    """Run ``func(*args)`` with power over the lab's namespaces.

    Root: right here (the driver moves one thread in and out of namespaces).  Rootless: in a
    forked child that joined the keeper's user and mount namespaces first.
    """
    if state.mode == "root":
        return func(*args)
    with enter.Entry(keeper_target(state)) as entry:
        return enter.call(entry, func, *args, timeout=timeout)


def lab_env(state: LabState, host: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    path = env.get("PATH", "/usr/bin:/bin").split(":")
    # `wirelab lab exec client -- wirelab ...` must find this same wirelab, also when it was
    # started as .venv/bin/wirelab without the venv on PATH: its scripts sit beside python.
    # First, so that `python3` there is this interpreter too (the one that has Scapy).
    own_bin = os.path.dirname(sys.executable)
    if own_bin:
        path = [own_bin] + [d for d in path if d != own_bin]
    env["PATH"] = ":".join(path + [d for d in SBIN if d not in path])
    # A wirelab command run in the host finds this lab's record where its builder keeps it: in
    # a rootless lab it runs as uid 0 of the lab's user namespace, and would otherwise look in
    # root's directory (/run/wirelab) instead of the builder's.
    env.update({"WIRELAB_LAB": state.name, "WIRELAB_HOST": host,
                "WIRELAB_STATE_DIR": str(state_root())})
    env.update(extra or {})
    return env


def popen_in(state: LabState, host: str, argv: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
    """Start ``argv`` inside ``host`` (its namespaces, /etc files and host name)."""
    kwargs.setdefault("env", lab_env(state, host))
    with enter.Entry(host_target(state, host)) as entry:
        try:
            return subprocess.Popen(argv, preexec_fn=enter.preexec(entry), **kwargs)
        except subprocess.SubprocessError as exc:
            raise LabError(f"cannot enter host {host} of lab {state.name}: {exc}") from None


# -- up -----------------------------------------------------------------------------------------


def up(name: str, topology: Topology, plan: Plan, services: bool, messages: list[str],
       children: list[subprocess.Popen[Any]]) -> LabState:
    """Build the lab; on any failure remove what was built and re-raise."""
    mode = privilege.mode()
    ldir = LabDir(name)
    from wirelab.lab import driver  # pyroute2 is imported only by commands that need it

    with ldir.locked():
        if ldir.exists():
            old = ldir.load()
            why = "its builder is gone" if proc_start_time(old.builder_pid) is None else \
                f"built by pid {old.builder_pid}"
            _teardown(ldir, old)
            messages.append(f"lab {name!r} already existed ({old.status}, {why}); removed it "
                            "first")
        state = LabState(name=name, mode=mode, topology=topology.to_dict(),
                         services_enabled=services)
        for host in [SWITCH, *plan.hosts]:
            state.netns[host] = ldir.netns_path(host, mode)
        ldir.save(state)  # write-ahead: from here on, `down` knows every name
        try:
            userspace = _build(ldir, state, plan, driver.build, children)
            for host in plan.hosts:
                for iface in plan.interfaces[host]:
                    key = f"{host}:{iface.name}"
                    if iface.shaping.needs_netem:
                        state.shaper[key] = "nfqueue" if key in userspace else "netem"
            for host in sorted({key.split(":")[0] for key in userspace}):
                restart_shaper(ldir, state, plan, host, children)
            firewall.apply(state, plan)  # before the services listen: no unfiltered moment
            if services:
                _start_services(ldir, state, plan, children)
            state.status = "up"
            ldir.save(state)
        except BaseException:
            _teardown(ldir, state, children)
            raise
    return state


def _build(ldir: LabDir, state: LabState, plan: Plan, build: Callable[..., list[str]],
           children: list[subprocess.Popen[Any]]) -> list[str]:
    if state.mode == "rootless":
        from wirelab.lab.rootless import KeeperStart

        (ldir.path / "ns").mkdir(mode=0o700, exist_ok=True)
        (ldir.path / "logs").mkdir(mode=0o700, exist_ok=True)
        keeper = KeeperStart(state.name, str(ldir.path / "logs" / "keeper.log"))
        children.append(keeper.proc)
        try:
            state.keeper = ProcRecord.of("keeper", None, keeper.pid)
            ldir.save(state)
        except BaseException:
            keeper.abort()
            raise
        keeper.commit()
    else:
        nsops.ensure_shared_netns_dir(NETNS_RUN_DIR)
    paths = {h: state.netns[h] for h in plan.hosts}
    try:
        userspace = privileged(state, build, plan, paths, state.netns[SWITCH])
    except OSError as exc:
        raise LabError(f"building lab {state.name} failed: {exc}") from None
    _write_etc_files(ldir, state, plan)
    return userspace


def _write_etc_files(ldir: LabDir, state: LabState, plan: Plan) -> None:
    """Each host's /etc/hosts and resolv.conf, bind-mounted over /etc by :mod:`enter`.

    Files with the same content are written once (on a star of 200 hosts they all are the
    same): one file per content, named by its digest.
    """
    folder = ldir.path / "etc"
    folder.mkdir(mode=0o755, exist_ok=True)
    written: set[Path] = set()
    for host in plan.hosts:
        files = {"hosts": plan.hosts_file(host, state.name),
                 "resolv.conf": plan.resolv_conf(host, state.name)}
        state.etc_files[host] = {}
        for name, content in files.items():
            digest = hashlib.sha256(content.encode()).hexdigest()[:16]
            path = folder / f"{digest}.{name}"
            if path not in written:
                path.write_text(content)
                written.add(path)
            state.etc_files[host][name] = str(path)


def _start_services(ldir: LabDir, state: LabState, plan: Plan,
                    children: list[subprocess.Popen[Any]]) -> None:
    zone_file = ldir.path / "zone.json"
    zone_file.write_text(json.dumps({n: [str(a) for a in addrs]
                                     for n, addrs in plan.zone().items()}))
    started: list[tuple[str, str, subprocess.Popen[Any]]] = []
    for host in plan.hosts:
        for kind in plan.topology.hosts[host].services:
            argv = [sys.executable, "-m", f"wirelab.lab.services.{kind}", "--lab", state.name,
                    "--host", host, "--zone", str(zone_file)]
            proc = _spawn_service(ldir, state, host, kind, argv, list(SERVICES[kind]),
                                  children)
            started.append((host, kind, proc))
    for host, kind, proc in started:  # all start in parallel; then wait for each
        _await_ready(ldir, host, kind, proc)


def effective_shaping(state: LabState, iface: Interface) -> Shaping:
    """A link's shaping now: as last set with `link`, else as the topology gave it."""
    key = f"{iface.host}:{iface.name}"
    return Shaping.from_dict(state.shaping[key]) if key in state.shaping else iface.shaping


def restart_shaper(ldir: LabDir, state: LabState, plan: Plan, host: str,
                   children: list[subprocess.Popen[Any]]) -> None:
    """(Re)start the userspace shaper of ``host`` for its interfaces that need one."""
    from wirelab.lab.shaper import QUEUE_BASE

    old = [s for s in state.services if s.role == "shaper" and s.host == host]
    _end([s for s in old if s.alive()], [], "shaper")
    state.services = [s for s in state.services if s not in old]
    rules = []
    for position, iface in enumerate(plan.interfaces[host]):
        shaping = effective_shaping(state, iface)
        if state.shaper.get(f"{host}:{iface.name}") == "nfqueue" and shaping.needs_netem:
            rules.append({"iface": iface.name, "queue": QUEUE_BASE + position,
                          "delay_ms": shaping.delay_ms or 0.0,
                          "jitter_ms": shaping.jitter_ms or 0.0,
                          "loss_pct": shaping.loss_pct or 0.0,
                          "reorder_pct": shaping.reorder_pct or 0.0})
    if rules:
        argv = [sys.executable, "-m", "wirelab.lab.shaper", "--lab", state.name, "--host", host,
                "--rules", json.dumps(rules)]
        proc = _spawn_service(ldir, state, host, "shaper", argv, [], children)
        _await_ready(ldir, host, "shaper", proc)
    ldir.save(state)


def _spawn_service(ldir: LabDir, state: LabState, host: str, kind: str, argv: list[str],
                   ports: list[int], children: list[subprocess.Popen[Any]]
                   ) -> subprocess.Popen[Any]:
    logs = ldir.path / "logs"
    logs.mkdir(mode=0o700, exist_ok=True)
    with open(logs / f"{host}-{kind}.log", "ab") as log:
        proc = popen_in(state, host, argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                        stderr=log, start_new_session=True)
    children.append(proc)
    state.services.append(ProcRecord.of(kind, host, proc.pid, ports))
    ldir.save(state)  # recorded before we wait on it
    return proc


def _await_ready(ldir: LabDir, host: str, kind: str, proc: subprocess.Popen[Any]) -> None:
    assert proc.stdout is not None
    line = _read_line(proc.stdout.fileno(), SERVICE_READY_SECONDS)
    proc.stdout.close()
    if line != "ready":
        log = (ldir.path / "logs" / f"{host}-{kind}.log").read_text().strip().splitlines()
        raise LabError(f"{kind} on {host} did not start: {log[-1] if log else 'no output'}")


def _read_line(fd: int, timeout: float) -> str:
    import select

    deadline = time.monotonic() + timeout
    data = b""
    while not data.endswith(b"\n"):
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            return "timeout"
        chunk = os.read(fd, 256)
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace").strip()


# -- down ---------------------------------------------------------------------------------------


def down(name: str, children: list[subprocess.Popen[Any]] | None = None) -> list[str]:
    """Remove lab ``name``; return what was removed.  No lab: nothing to do, no error.

    ``children``: processes this process started for the lab, reaped here (also when the lab
    was already removed by someone else) so that none is left a zombie.
    """
    ldir = LabDir(name)
    try:
        if not ldir.path.exists():
            return []
        with ldir.locked():
            if not ldir.exists():
                ldir.remove()
                return []
            return _teardown(ldir, ldir.load())
    finally:
        _reap(children or [])


def _reap(children: list[subprocess.Popen[Any]]) -> None:
    for proc in children:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def _teardown(ldir: LabDir, state: LabState,
              children: list[subprocess.Popen[Any]] | None = None) -> list[str]:
    report: list[str] = []
    identities = _identities(state)  # before anything dies: the lab's namespaces, proven ours
    _end([s for s in state.services if s.alive()], report, "service")
    _end(_strays(state, identities), report, "process")
    if state.keeper is not None and state.keeper.alive():
        _end([state.keeper], report, "keeper")
    for path in state.netns.values():
        if state.mode == "root" and nsops.remove_netns(path):
            report.append(f"namespace {os.path.basename(path)}")
    _reap(children or [])
    ldir.remove()
    return report


def _identities(state: LabState) -> set[str]:
    """How to recognise a process inside the lab: ``/proc/PID/ns/...`` link targets.

    Root: the lab's network namespaces, read from their mounted files.  Rootless: the user
    namespace of the keeper, or of a recorded service, each verified by PID and start time
    (a namespace number is only reused after the namespace is gone, and a verified live
    process proves that ours is not).
    """
    found = set()
    if state.mode == "root":
        for path in state.netns.values():
            try:
                found.add(f"net:[{nsops.ns_inode(path)}]")
            except OSError:
                continue
        return found
    for proc in ([state.keeper] if state.keeper else []) + state.services:
        try:
            link = os.readlink(f"/proc/{proc.pid}/ns/user")
        except OSError:
            continue
        if proc.alive():  # checked after reading: the link really was this process's
            found.add(link)
    return found


def _strays(state: LabState, identities: set[str]) -> list[ProcRecord]:
    """Processes in the lab that nobody recorded (an `exec`, a capture, a shell)."""
    if not identities:
        return []
    link = "net" if state.mode == "root" else "user"
    skip = {os.getpid(), state.keeper.pid if state.keeper else -1}
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in skip:
            continue
        try:
            if os.readlink(f"/proc/{entry}/ns/{link}") not in identities:
                continue
        except OSError:
            continue
        start = proc_start_time(int(entry))
        if start is not None and proc_alive(int(entry), start):
            found.append(ProcRecord("stray", None, int(entry), start))
    return found


def _end(procs: list[ProcRecord], report: list[str], what: str) -> None:
    """SIGTERM, up to 2 s of grace, then SIGKILL: each process by PID, checked by start time."""
    for sig, grace in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 5.0)):
        live = [p for p in procs if p.alive()]
        for proc in live:
            try:
                os.kill(proc.pid, sig)
            except ProcessLookupError:
                continue
        deadline = time.monotonic() + grace
        while live and time.monotonic() < deadline:
            time.sleep(0.005)
            live = [p for p in live if p.alive()]
        if not live:
            break
    for proc in procs:
        label = f"{proc.role} on {proc.host}" if proc.host else proc.role
        report.append(f"{what} {label} (pid {proc.pid})")
    still = [p for p in procs if proc_alive(p.pid, p.start)]
    if still:
        raise LabError(f"cannot end process(es) {', '.join(str(p.pid) for p in still)}")
