"""The record of every object a lab created, so that ``down`` removes exactly those.

One directory per lab under the state root (``/run/wirelab`` as root; ``$XDG_RUNTIME_DIR/
wirelab`` or ``/tmp/wirelab-UID`` otherwise; ``WIRELAB_STATE_DIR`` overrides), holding
``state.json`` and a ``lock`` file.  The record is written *ahead*: every namespace path is
recorded before it is created, every process right after it is spawned (with its start time,
so a recycled PID is never mistaken for ours).  A builder killed with SIGKILL at any point
therefore leaves a record that ``down`` can finish from.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from wirelab.errors import LabError

LAB_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,23}$")
NETNS_RUN_DIR = "/run/netns"
SWITCH = "_switch"  # the hidden namespace holding a lab's bridges (not a valid host name)


def check_name(name: str) -> str:
    if not LAB_NAME.match(name):
        raise LabError(f"lab name {name!r}: use a-z, 0-9 and '-', at most 24 characters")
    return name


def state_root() -> Path:
    """Where lab records live for this user (created 0700 and checked to be ours)."""
    override = os.environ.get("WIRELAB_STATE_DIR")
    if override:
        root = Path(override)
    elif os.geteuid() == 0:
        root = Path("/run/wirelab")
    elif os.environ.get("XDG_RUNTIME_DIR") and os.path.isdir(os.environ["XDG_RUNTIME_DIR"]):
        root = Path(os.environ["XDG_RUNTIME_DIR"]) / "wirelab"
    else:
        root = Path(f"/tmp/wirelab-{os.geteuid()}")
    try:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = os.lstat(root)
    except OSError as exc:
        raise LabError(f"cannot use state directory {root}: {exc.strerror}") from None
    # In a shared /tmp somebody else could have made the directory first: refuse it.
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        raise LabError(f"state directory {root} is not a directory owned by you; set "
                       "WIRELAB_STATE_DIR to a private directory")
    return root


def proc_start_time(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat (start time in clock ticks), None if no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            raw = handle.read()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = raw[raw.rindex(b")") + 2:].split()
    return int(fields[19])


def proc_alive(pid: int, start: int) -> bool:
    """Is ``pid`` still the process we started (and not a zombie)?"""
    if proc_start_time(pid) != start:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            raw = handle.read()
    except OSError:
        return False
    return raw[raw.rindex(b")") + 2:raw.rindex(b")") + 3] not in (b"Z", b"X")


@dataclass
class ProcRecord:
    """A process the lab started: a service, or the rootless keeper."""

    role: str  # "http", "dns", "listen", "keeper", "capture", ...
    host: str | None
    pid: int
    start: int
    ports: list[int] = field(default_factory=list)

    @classmethod
    def of(cls, role: str, host: str | None, pid: int, ports: list[int] | None = None
           ) -> ProcRecord:
        start = proc_start_time(pid)
        if start is None:
            raise LabError(f"{role} on {host} exited at once (pid {pid})")
        return cls(role, host, pid, start, list(ports or []))

    def alive(self) -> bool:
        return proc_alive(self.pid, self.start)


@dataclass
class LabState:
    name: str
    mode: str  # "root" or "rootless"
    topology: dict[str, Any]
    status: str = "building"  # -> "up"
    created: float = field(default_factory=time.time)
    builder_pid: int = field(default_factory=os.getpid)
    netns: dict[str, str] = field(default_factory=dict)  # host (or SWITCH) -> path
    etc_files: dict[str, dict[str, str]] = field(default_factory=dict)  # host -> name -> file
    keeper: ProcRecord | None = None
    services: list[ProcRecord] = field(default_factory=list)
    shaping: dict[str, dict[str, float | int]] = field(default_factory=dict)  # "host:if" -> ..
    shaper: dict[str, str] = field(default_factory=dict)  # "host:if" -> "netem" or "nfqueue"
    sysctl: dict[str, dict[str, str]] = field(default_factory=dict)  # set since up: host -> ..
    services_enabled: bool = True

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> LabState:
        data = json.loads(text)
        keeper = data.pop("keeper")
        services = data.pop("services")
        state = cls(**data)
        state.keeper = ProcRecord(**keeper) if keeper else None
        state.services = [ProcRecord(**s) for s in services]
        return state


class LabDir:
    """The directory of one lab's record: paths, locking, atomic saves."""

    def __init__(self, name: str, root: Path | None = None) -> None:
        self.name = check_name(name)
        self.path = (root or state_root()) / name

    @property
    def state_file(self) -> Path:
        return self.path / "state.json"

    def netns_path(self, host: str, mode: str) -> str:
        if mode == "root":
            # The standard place, so that `ip netns exec wl-LAB.HOST ...` works too.
            return f"{NETNS_RUN_DIR}/wl-{self.name}.{host}"
        return str(self.path / "ns" / host)

    def exists(self) -> bool:
        return self.state_file.exists()

    def load(self) -> LabState:
        try:
            return LabState.from_json(self.state_file.read_text())
        except FileNotFoundError:
            raise LabError(f"no lab named {self.name!r} (start one with `wirelab lab up "
                           f"--name {self.name}`)") from None
        except (ValueError, TypeError, KeyError) as exc:
            raise LabError(f"the record of lab {self.name!r} is corrupt ({exc}); remove "
                           f"{self.path} by hand") from None

    def save(self, state: LabState) -> None:
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.path / f".state.{os.getpid()}.tmp"
        with open(tmp, "w") as handle:
            handle.write(state.to_json())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.state_file)  # atomic: a reader sees the old or the new record

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Serialise up/down of the same lab across processes (flock on ``lock``)."""
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def remove(self) -> None:
        """Delete the record directory (namespace files must already be gone)."""
        for sub in ("etc", "ns", "logs"):
            folder = self.path / sub
            if folder.is_dir():
                for entry in sorted(folder.rglob("*"), reverse=True):
                    if entry.is_dir():
                        entry.rmdir()
                    else:
                        entry.unlink()
                folder.rmdir()
        for entry in self.path.glob("*"):
            entry.unlink()
        for entry in self.path.glob(".*"):
            entry.unlink()
        try:
            self.path.rmdir()
        except OSError as exc:
            if exc.errno not in (errno.ENOENT,):
                raise


def list_labs(root: Path | None = None) -> list[str]:
    base = root or state_root()
    return sorted(p.name for p in base.iterdir() if (p / "state.json").exists())
