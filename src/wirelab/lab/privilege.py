"""Which way the lab can be built here: as root, rootless (user namespaces), or not at all.

"Root" means real privileges over the machine's namespaces: effective UID 0 *in the initial
user namespace* with CAP_SYS_ADMIN.  UID 0 inside some container's user namespace is not
that, and is treated like any unprivileged user, who can still build the lab when the kernel
lets unprivileged processes create user namespaces (user_namespaces(7)), as rootless
containers do.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from wirelab.errors import PrivilegeError
from wirelab.lab import nsops

CAP_SYS_ADMIN = 21


def _full_identity_map() -> bool:
    try:
        fields = Path("/proc/self/uid_map").read_text().split()
    except OSError:
        return False
    return fields == ["0", "0", "4294967295"]


def _has_cap_sys_admin() -> bool:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> CAP_SYS_ADMIN & 1)
    return False


def is_root() -> bool:
    return os.geteuid() == 0 and _full_identity_map() and _has_cap_sys_admin()


def userns_probe() -> str | None:
    """Try user+mount+network namespaces in a throwaway child; None if it works, else why."""
    pid = os.fork()
    if pid == 0:  # child: one system call, then exit with its errno
        code = 0
        try:
            nsops.unshare(nsops.CLONE_NEWUSER | nsops.CLONE_NEWNS | nsops.CLONE_NEWNET)
        except OSError as exc:
            code = exc.errno or 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code == 0:
        return None
    return os.strerror(code) if code > 0 else f"probe killed by signal {-code}"


def _why_no_userns() -> str:
    hints = []
    checks = (("/proc/sys/kernel/unprivileged_userns_clone", "0",
               "kernel.unprivileged_userns_clone=1"),
              ("/proc/sys/user/max_user_namespaces", "0", "user.max_user_namespaces=15000"),
              ("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "1",
               "kernel.apparmor_restrict_unprivileged_userns=0"))
    for path, bad, fix in checks:
        try:
            if Path(path).read_text().strip() == bad:
                hints.append(fix)
        except OSError:
            continue
    return " ".join(hints)


@functools.lru_cache(maxsize=1)
def mode() -> str:
    """``"root"`` or ``"rootless"``; raise :class:`PrivilegeError` (one line) if neither."""
    forced = os.environ.get("WIRELAB_LAB_MODE")
    if forced == "rootless":
        return "rootless"
    if is_root():
        return "root"
    why = userns_probe()
    if why is None:
        return "rootless"
    fix = _why_no_userns()
    raise PrivilegeError(
        f"the lab needs root or unprivileged user namespaces, and this system allows neither "
        f"(creating a user namespace failed: {why}); run it as root, or ask an administrator "
        f"to allow user namespaces" + (f" (sysctl {fix})" if fix else ""))


def available() -> tuple[bool, str]:
    """For the pytest marker: (can we build labs here?, the reason if not)."""
    try:
        return True, mode()
    except PrivilegeError as exc:
        return False, str(exc)
