"""Per-host kernel settings (sysctls), set inside one lab host's network namespace only.

Most of ``/proc/sys/net`` is per network namespace: the kernel resolves a file under it
against the namespace of the *task that looks it up*, so a thread that entered a lab host
reads and writes that host's copy (``net.ipv4.icmp_ratelimit`` of ``server`` is not the
machine's).  Settings that are not per namespace are registered in the initial namespace
only, so from inside a lab host they simply do not exist (ENOENT): a lab cannot change the
machine's own settings by this route.  :func:`write_in` also refuses outright to write while
the calling thread is still in the namespace it started from.

The lesson this serves most (issue 7): Linux rate-limits the ICMP errors it sends, per
namespace (Documentation/networking/ip-sysctl.rst):

- ``net.ipv4.icmp_ratelimit`` (1000 ms): a token bucket per destination, refilled one token
  per this many milliseconds, six tokens deep (``XRLIM_BURST_FACTOR``): after a burst of six,
  one destination-unreachable or time-exceeded per second to the same peer.  0 disables it.
- ``net.ipv4.icmp_msgs_per_sec`` / ``icmp_msgs_burst`` (1000 / 50): a budget for all peers.
- ``net.ipv4.icmp_ratemask`` (6168 = types 3, 4, 11, 12): which ICMP types both limits apply
  to; a type outside the mask is never limited, by either.

A UDP scan (closed = ICMP port unreachable) or a traceroute (time exceeded) with many probes
meets the first limit at once: nmap slows down, traceroute prints ``*``.  :data:`RATELIMIT_OFF`
lifts both limits; :data:`RATELIMIT_ON` puts back the kernel defaults.
"""

from __future__ import annotations

import errno
import os
import re

from wirelab.errors import LabError
from wirelab.lab import nsops

KEY = re.compile(r"^net(\.[A-Za-z0-9_-]+)+$")
VALUE = re.compile(r"^[A-Za-z0-9_. :,/+-]{0,200}$")

RATELIMIT_KEYS = ("net.ipv4.icmp_ratelimit", "net.ipv4.icmp_ratemask",
                  "net.ipv4.icmp_msgs_per_sec", "net.ipv4.icmp_msgs_burst")
# Off: no per-destination bucket, and no ICMP type in the mask, which also exempts every type
# from the all-peers budget (icmpv4_mask_allow() is checked before icmp_global_allow()).
RATELIMIT_OFF = {"net.ipv4.icmp_ratelimit": "0", "net.ipv4.icmp_ratemask": "0"}
# On: the kernel's defaults, what a fresh namespace has.
RATELIMIT_ON = {"net.ipv4.icmp_ratelimit": "1000", "net.ipv4.icmp_ratemask": "6168",
                "net.ipv4.icmp_msgs_per_sec": "1000", "net.ipv4.icmp_msgs_burst": "50"}
# ECMP: which fields pick a flow's next hop.  Policy 1 ("L4") would do, but it first takes
# the hash the packet already carries (skb->hash, kept across veth pairs): the sending
# socket's random sk_txhash, so one host's flow would be hashed per *socket*, not per 5-tuple.
# Policy 3 (custom, Linux >= 5.14) always hashes the fields asked for: source and destination
# address, protocol, source and destination port (0x0001|0x0002|0x0004|0x0010|0x0020), as a
# real router hashing headers off the wire does.
MULTIPATH_HASH = "net.ipv4.fib_multipath_hash_policy"
MULTIPATH_FIELDS = "net.ipv4.fib_multipath_hash_fields"
MULTIPATH_L4 = {MULTIPATH_HASH: "3", MULTIPATH_FIELDS: "0x0037"}


def check_key(key: str, where: str) -> str:
    """A dotted key under ``net.``, e.g. ``net.ipv4.icmp_ratelimit`` (no path tricks)."""
    if not KEY.match(key) or ".." in key:
        raise LabError(f"{where}: {key!r}: only per-namespace settings under net. "
                       "(like net.ipv4.icmp_ratelimit) can be set in a lab host")
    return key


def normalise(value: object, where: str) -> str:
    """A TOML value as the text written to /proc/sys: true -> 1, 0 -> 0, "1 2" as given."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and VALUE.match(value):
        return value
    raise LabError(f"{where}: sysctl value {value!r}: give a number, true/false or short text")


def parse_assignment(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` from the command line, both checked."""
    key, sep, value = text.partition("=")
    if not sep:
        raise LabError(f"{text!r}: expected KEY=VALUE, e.g. net.ipv4.icmp_ratelimit=0")
    return check_key(key.strip(), "sysctl"), normalise(value.strip(), key)


def _path(key: str) -> str:
    return "/proc/sys/" + key.replace(".", "/")


def _guard(netns_path: str) -> None:
    """Refuse to act when ``netns_path`` is the namespace we are in (the machine's, say)."""
    here = os.stat("/proc/thread-self/ns/net").st_ino
    if nsops.ns_inode(netns_path) == here:
        raise LabError(f"refusing to change sysctls: {netns_path} is the caller's own network "
                       "namespace, not a lab host")


def write_present(settings: dict[str, str], host: str) -> dict[str, str]:
    """Write the settings that exist now in this thread's namespace; return the others.

    Used while a host is created, before its interfaces exist: ``net.ipv4.conf.default.*``
    must be set before the interfaces (which copy it) appear, ``net.ipv4.conf.eth0.*`` can
    only be set after.
    """
    later = {}
    for key, value in settings.items():
        try:
            with open(_path(key), "w") as handle:
                handle.write(value)
        except FileNotFoundError:
            later[key] = value
        except OSError as exc:
            raise _error(exc, key, value, host) from None
    return later


def _write(settings: dict[str, str], host: str) -> None:
    for key, value in settings.items():
        try:
            with open(_path(key), "w") as handle:
                handle.write(value)
        except OSError as exc:
            raise _error(exc, key, value, host) from None


def _error(exc: OSError, key: str, value: str, host: str) -> LabError:
    if exc.errno == errno.ENOENT:
        hint = "; ECMP hashing on ports needs Linux 5.14+" if "multipath" in key else ""
        return LabError(f"host {host}: no sysctl {key} in a network namespace (only "
                        f"per-namespace net.* settings exist there{hint})")
    if exc.errno in (errno.EPERM, errno.EACCES):
        return LabError(f"host {host}: sysctl {key} may not be changed here "
                        f"({exc.strerror}; some settings need real root)")
    return LabError(f"host {host}: sysctl {key}={value}: {exc.strerror}")


def _read(keys: list[str]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for key in keys:
        try:
            with open(_path(key)) as handle:
                out[key] = " ".join(handle.read().split())
        except OSError:
            out[key] = None
    return out


def write_in(netns_path: str, host: str, settings: dict[str, str]) -> dict[str, str | None]:
    """Set ``settings`` in the host namespace at ``netns_path``; return them read back."""
    _guard(netns_path)
    with nsops.netns_entered(netns_path):
        _write(settings, host)
        return _read(list(settings))


def read_in(netns_path: str, keys: list[str]) -> dict[str, str | None]:
    """Current values in the namespace at ``netns_path`` (None: no such setting there)."""
    with nsops.netns_entered(netns_path):
        return _read(keys)
