"""The few namespace system calls the lab needs, through ctypes (Python 3.11 has no os.setns).

Why not pyroute2's ``netns.create``: it forks a helper process per namespace.  A network
namespace is per *thread* (``unshare(2)``/``setns(2)`` with ``CLONE_NEWNET`` act on the calling
task only), so this module creates one by unsharing the calling thread, bind-mounting
``/proc/thread-self/ns/net`` onto a file (what ``ip netns add`` does, ip-netns(8)) and returning
the thread to where it was.  No process is spawned; fifty namespaces take milliseconds.

Everything here raises :class:`OSError` with the errno of the failing call; the callers turn it
into a :class:`wirelab.errors.LabError` or :class:`wirelab.errors.PrivilegeError`.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

# <sched.h> and <sys/mount.h>
CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 0x1
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MS_SLAVE = 0x80000
MS_SHARED = 0x100000
MNT_DETACH = 0x2
NETLINK_ROUTE = 0
T = TypeVar("T")

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_void_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]


def _check(result: int, what: str, target: str = "") -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}", target or None)


def unshare(flags: int) -> None:
    """unshare(2) for the calling thread (CLONE_NEWNET) or process (the others)."""
    _check(_libc.unshare(flags), "unshare")


def setns(fd: int, nstype: int) -> None:
    """setns(2): move the calling thread into the namespace open on ``fd``."""
    _check(_libc.setns(fd, nstype), "setns")


def mount(source: str | None, target: str, fstype: str | None, flags: int) -> None:
    """mount(2) without data."""
    _check(_libc.mount(source.encode() if source else None, target.encode(),
                       fstype.encode() if fstype else None, flags, None), "mount", target)


def umount_detach(target: str) -> None:
    """umount2(2) with MNT_DETACH (lazy), as ``ip netns delete`` does."""
    _check(_libc.umount2(target.encode(), MNT_DETACH), "umount", target)


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(_libc.sethostname(raw, len(raw)), "sethostname")


def ns_inode(path: str) -> int:
    """The inode number that identifies the namespace bound at (or linked from) ``path``."""
    return os.stat(path).st_ino


@contextmanager
def netns_entered(path: str) -> Iterator[None]:
    """Run the body with the calling thread inside the network namespace bound at ``path``."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        target = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            setns(target, CLONE_NEWNET)
        finally:
            os.close(target)
        try:
            yield
        finally:
            setns(home, CLONE_NEWNET)
    finally:
        os.close(home)


def create_netns(path: str, inside: Callable[[], T] | None = None) -> T | None:
    """Create a network namespace and keep it alive by bind-mounting it onto ``path``.

    ``inside``, if given, runs while the thread is in the new namespace (sysctls, opening a
    netlink socket) and its result is returned: no second setns() to get back in.  The file
    is created first with O_EXCL so that two labs can never share a namespace, and so that a
    crash between the two steps leaves only an empty file that :func:`remove_netns` deletes.
    """
    os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444))
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        unshare(CLONE_NEWNET)
        try:
            mount("/proc/thread-self/ns/net", path, None, MS_BIND)
            return inside() if inside is not None else None
        finally:
            setns(home, CLONE_NEWNET)
    finally:
        os.close(home)


def remove_netns(path: str) -> bool:
    """Unmount and delete a namespace file; True if something was there.  Idempotent."""
    found = False
    try:
        umount_detach(path)
        found = True
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOENT):  # EINVAL: not a mount point
            raise
    try:
        os.unlink(path)
        found = True
    except FileNotFoundError:
        pass
    return found


def netlink_socket_in(path: str) -> socket.socket:
    """An rtnetlink socket that lives in the namespace at ``path``.

    A socket belongs to the namespace its creator was in at ``socket()`` time, so entering the
    namespace for the one call is enough; the thread then goes home.  SOCK_DGRAM because
    pyroute2 drives the socket through asyncio's datagram transport.
    """
    with netns_entered(path):
        return new_netlink_socket()


def write_sysctls(settings: dict[str, str], optional: tuple[str, ...] = ()) -> None:
    """Write ``/proc/sys/net/...`` values in the calling thread's network namespace.

    The kernel resolves the net sysctl tables against the *current task's* namespace when a
    file under /proc/sys/net is looked up, so a thread that entered a namespace changes that
    namespace only.  Keys containing one of ``optional`` may fail (a kernel without IPv6, a
    value a user namespace may not set) without an error.
    """
    for key, value in settings.items():
        try:
            with open("/proc/sys/" + key.replace(".", "/"), "w") as handle:
                handle.write(value)
        except OSError:
            if not any(part in key for part in optional):
                raise


def write_sysctl_in(path: str, settings: dict[str, str]) -> None:
    """:func:`write_sysctls` inside the namespace at ``path``."""
    with netns_entered(path):
        write_sysctls(settings)


def new_netlink_socket() -> socket.socket:
    """An rtnetlink socket in the calling thread's namespace (SOCK_DGRAM, for pyroute2)."""
    return socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_ROUTE)


def ensure_shared_netns_dir(directory: str) -> None:
    """Make ``directory`` a shared mount point, as ``ip netns add`` does for /run/netns.

    With a shared mount, unmounting a namespace file propagates into mount namespaces that
    were copied from ours (the per-host mount namespaces of processes run in the lab), so the
    namespace really goes away on ``down``.
    """
    os.makedirs(directory, mode=0o755, exist_ok=True)
    try:
        mount(None, directory, None, MS_SHARED | MS_REC)
        return
    except OSError as exc:
        if exc.errno != errno.EINVAL:  # EINVAL: not a mount point yet
            raise
    mount(directory, directory, None, MS_BIND | MS_REC)
    mount(None, directory, None, MS_SHARED | MS_REC)
