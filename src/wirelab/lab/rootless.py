"""The unprivileged path: a lab inside a user namespace, as rootless containers do it.

The **keeper** is one small long-lived process per lab, started with
``python -m wirelab.lab.rootless --lab NAME``.  It unshares a user namespace (mapping the
caller's UID to 0, user_namespaces(7)), a mount namespace and a network namespace, and then
only waits.  Inside its user namespace the caller has CAP_NET_ADMIN and CAP_SYS_ADMIN over
every namespace it creates there, so the driver can build the lab, raw sockets work, and
nothing outside is touched.  The lab's network namespaces are bind-mounted onto files in the
lab's state directory *within the keeper's mount namespace*; every later command joins the
keeper's user and mount namespaces first (:mod:`wirelab.lab.enter`), found by the keeper's PID
recorded in the state file.

Killing the keeper (and the lab's processes) releases everything: the namespaces have no
other reference.  A handshake makes a builder crash harmless: the keeper exits unless the
builder says ``commit`` after recording the keeper's PID.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import select
import signal
import subprocess
import sys

from wirelab.errors import LabError
from wirelab.lab import nsops

PR_SET_NAME = 15
PR_SET_PDEATHSIG = 1


def set_process_name(name: str) -> None:
    """Set the kernel's comm name (what ps and top show), 15 bytes at most."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0)


def _map_ids(uid: int, gid: int) -> None:
    # An unprivileged process may map exactly its own IDs, and only after giving up
    # setgroups(2) in the new namespace (user_namespaces(7), "Interaction with setgroups").
    with open("/proc/self/setgroups", "w") as handle:
        handle.write("deny")
    with open("/proc/self/uid_map", "w") as handle:
        handle.write(f"0 {uid} 1")
    with open("/proc/self/gid_map", "w") as handle:
        handle.write(f"0 {gid} 1")


def keeper_main(lab: str) -> int:
    """Body of the keeper process.  Speaks ``ready``/``commit`` on stdin/stdout, then waits."""
    set_process_name(f"wl-{lab}")
    uid, gid = os.geteuid(), os.getegid()
    try:
        nsops.unshare(nsops.CLONE_NEWUSER | nsops.CLONE_NEWNS | nsops.CLONE_NEWNET)
        _map_ids(uid, gid)
        # Private: the namespace files we mount here must not leak anywhere else.
        nsops.mount(None, "/", None, nsops.MS_REC | nsops.MS_PRIVATE)
    except OSError as exc:
        print(f"error {exc.strerror}", flush=True)
        return 1
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "commit":
        return 1  # the builder died before recording us: leave no orphan
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):
        os.dup2(devnull, fd)
    while True:
        signal.pause()


class KeeperStart:
    """Start a keeper and hold it at the handshake until :meth:`commit`."""

    def __init__(self, lab: str, log_path: str) -> None:
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "wirelab.lab.rootless", "--lab", lab],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                start_new_session=True, close_fds=True)
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 20.0)
        line = self.proc.stdout.readline().decode().strip() if ready else "no answer"
        if line != "ready":
            self.abort()
            raise LabError(f"cannot create the rootless lab's user namespace: {line} (see "
                           f"{log_path})")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def commit(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(b"commit\n")
        self.proc.stdin.close()
        self.proc.stdout.close()

    def abort(self) -> None:
        self.proc.kill()
        self.proc.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="wirelab rootless lab keeper (internal)")
    parser.add_argument("--lab", required=True)
    args = parser.parse_args(argv)
    return keeper_main(args.lab)


if __name__ == "__main__":
    sys.exit(main())
