"""Entering a lab host: what runs between fork() and exec() of every command in the lab.

A host is a network namespace; a process "in" the host also gets, like ``ip netns exec``
(ip-netns(8)), its own mount namespace where the host's ``hosts`` and ``resolv.conf`` are
bind-mounted over ``/etc`` and a fresh sysfs shows the host's interfaces, plus a UTS
namespace so that ``hostname`` prints the host's name.

Rootless, the namespaces belong to the keeper's user namespace, so the process first joins the
keeper's user and mount namespaces (where the namespace files are mounted).  setns(2) into a
user or mount namespace is refused to a multi-threaded process; it happens in the child after
fork(), which has one thread.

:class:`Entry` opens what it can in the parent and does the rest in the child; :func:`call`
runs a Python function in a host and brings its result (or exception) back through a pipe.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from wirelab.errors import LabError
from wirelab.lab import nsops
from wirelab.lab.state import proc_alive

T = TypeVar("T")


@dataclass(frozen=True)
class Target:
    """Where to go: the keeper (rootless only), a host namespace, its /etc files, its name."""

    keeper_pid: int | None = None
    keeper_start: int | None = None
    netns: str | None = None  # None: stay in the keeper's own namespace (driver work)
    etc_files: tuple[tuple[str, str], ...] = ()  # (name under /etc, file to mount there)
    hostname: str | None = None


class Entry:
    """File descriptors for a :class:`Target`, opened in the parent; :meth:`enter` in the child."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.fds: dict[str, int] = {}
        if target.keeper_pid is not None:
            gone = LabError(f"the lab's keeper process {target.keeper_pid} is gone; remove the "
                            "lab with `wirelab lab down` and bring it up again")
            if not proc_alive(target.keeper_pid, target.keeper_start or -1):
                raise gone
            try:
                for kind in ("user", "mnt", "net"):
                    self.fds[kind] = os.open(f"/proc/{target.keeper_pid}/ns/{kind}",
                                             os.O_RDONLY | os.O_CLOEXEC)
            except OSError:  # it died just now
                self.close()
                raise gone from None
        elif target.netns is not None:
            try:
                self.fds["host"] = os.open(target.netns, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                raise LabError(f"namespace {target.netns} is gone; the lab was removed") \
                    from None

    def close(self) -> None:
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()

    def __enter__(self) -> Entry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def enter(self) -> None:
        """Join the target's namespaces.  Child side only: it changes the whole process."""
        if "user" in self.fds:
            # Already inside (a command run in a lab host that enters another host): joining
            # one's own user namespace is refused (EINVAL), and not needed.
            if os.fstat(self.fds["user"]).st_ino != os.stat("/proc/self/ns/user").st_ino:
                nsops.setns(self.fds["user"], nsops.CLONE_NEWUSER)
            nsops.setns(self.fds["mnt"], nsops.CLONE_NEWNS)
            nsops.setns(self.fds["net"], nsops.CLONE_NEWNET)
        target = self.target
        if target.netns is None:
            return
        if "host" in self.fds:
            nsops.setns(self.fds["host"], nsops.CLONE_NEWNET)
        else:  # rootless: the file is a mount that exists only in the keeper's namespace
            fd = os.open(target.netns, os.O_RDONLY | os.O_CLOEXEC)
            try:
                nsops.setns(fd, nsops.CLONE_NEWNET)
            finally:
                os.close(fd)
        self._private_view()

    def _private_view(self) -> None:
        target = self.target
        nsops.unshare(nsops.CLONE_NEWNS | nsops.CLONE_NEWUTS)
        # Slave: our bind mounts stay ours, while the lab's unmounts still reach us.
        nsops.mount(None, "/", None, nsops.MS_REC | nsops.MS_SLAVE)
        for name, source in target.etc_files:
            nsops.mount(source, f"/etc/{name}", None, nsops.MS_BIND)
        try:  # so that /sys/class/net lists this host's interfaces; cosmetic if refused
            nsops.mount("sysfs", "/sys", "sysfs", 0)
        except OSError:
            pass
        if target.hostname:
            nsops.sethostname(target.hostname)


def preexec(entry: Entry) -> Callable[[], None]:
    """A ``preexec_fn`` for subprocess that enters ``entry``.

    subprocess reports a failing preexec_fn only as "Exception occurred in preexec_fn", so
    the reason is written to the child's stderr first, where the caller will find it.
    """

    def _run() -> None:
        try:
            entry.enter()
        except OSError as exc:
            os.write(2, f"wirelab: entering the lab failed: {exc}\n".encode())
            raise

    return _run


def call(entry: Entry | None, func: Callable[..., T], *args: Any,
         timeout: float | None = 60.0) -> T:
    """Run ``func(*args)`` in a forked child that entered ``entry``; return its result.

    The result and any exception travel back pickled.  On timeout the child is killed and
    :class:`LabError` raised.
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read_fd)
        _child(entry, func, args, write_fd)
    os.close(write_fd)
    try:
        data = _read_all(read_fd, pid, timeout)
    finally:
        os.close(read_fd)
        _, status = os.waitpid(pid, 0)
    if not data:
        raise LabError(f"lab helper process died (status {status}) before answering")
    ok, value = pickle.loads(data)
    if ok:
        return value  # type: ignore[no-any-return]
    raise value


def _child(entry: Entry | None, func: Callable[..., Any], args: tuple[Any, ...],
           write_fd: int) -> None:
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if entry is not None:
            entry.enter()
        payload = pickle.dumps((True, func(*args)))
    except BaseException as exc:  # noqa: B036 - everything must go back to the parent
        try:
            payload = pickle.dumps((False, exc))
        except Exception:
            payload = pickle.dumps((False, LabError(f"{type(exc).__name__}: {exc}")))
        code = 1
    try:
        view = memoryview(payload)
        while view:
            view = view[os.write(write_fd, view):]
    finally:
        os._exit(code)


def _read_all(fd: int, pid: int, timeout: float | None) -> bytes:
    chunks: list[bytes] = []
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        wait = None if deadline is None else max(0.0, deadline - time.monotonic())
        ready, _, _ = select.select([fd], [], [], wait)
        if not ready:
            os.kill(pid, signal.SIGKILL)
            raise LabError(f"lab helper process did not answer within {timeout} s")
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
