"""Which targets a scan may touch: by default the running lab, or loopback.

Scanning networks one does not own is at best rude and often illegal, and a lesson tool must
not become a way to do it by accident.  The check runs on the resolved address before any
socket is opened, so a refused target never sees a packet.

Inside a lab host the process has ``WIRELAB_LAB`` in its environment (``wirelab lab exec``
and ``Host.run`` set it), and lab addresses come from 198.18.0.0/15 (RFC 2544).

The one way past the guard is explicit and narrow: :func:`owned` (the CLI's
``--i-own-this-network``) admits exactly the addresses it names, for the duration of a
``with`` block, and the CLI prints a warning when it is used.  It is not an environment
variable, so it cannot leak into child processes or a later command.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from wirelab.errors import ExitCode, NetworkError, WirelabError

LAB_NETWORK = ipaddress.IPv4Network("198.18.0.0/15")
_OWNED: set[ipaddress.IPv4Address] = set()


class ScopeError(WirelabError):
    """A target outside what wirelab agrees to scan."""

    exit_code = ExitCode.USAGE


def resolve(target: str) -> str:
    """The IPv4 address of ``target`` (a literal, or a name such as a lab host's)."""
    try:
        return str(ipaddress.IPv4Address(target))
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(target, None, socket.AF_INET, socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise NetworkError(f"cannot resolve {target!r}: {exc.strerror}") from None
    return str(infos[0][4][0])


def check_scope(address: str, env: dict[str, str] | None = None, *, verb: str = "scan") -> None:
    """Raise :class:`ScopeError` unless ``address`` is loopback or a host of the running lab.

    ``verb`` names what is refused (``scan``, ``trace``: probes with small TTLs still reach
    every router on the way, so tracing is probing too) and the command the message suggests.
    """
    ip = ipaddress.IPv4Address(address)
    if ip.is_loopback or ip in _OWNED:
        return
    lab = (os.environ if env is None else env).get("WIRELAB_LAB")
    if lab and ip in LAB_NETWORK:
        return
    if ip in LAB_NETWORK:
        raise ScopeError(f"refusing to {verb} {address}: lab addresses are {_past(verb)} from "
                         f"inside a lab host (wirelab lab exec client -- wirelab {verb} ...)")
    raise ScopeError(f"refusing to {verb} {address}: only loopback and the hosts of a running "
                     f"lab may be {_past(verb)} (--i-own-this-network if it is yours)")


# what a guarded command does, in the forms its messages need
_FORMS = {"scan": ("scanned", "scanning"), "trace": ("traced", "tracing")}


def _past(verb: str) -> str:
    return _FORMS[verb][0]


def in_scope(address: str, env: dict[str, str] | None = None) -> bool:
    """Would :func:`check_scope` let ``address`` through without an override?"""
    try:
        ip = ipaddress.IPv4Address(address)
    except ValueError:
        return False
    if ip.is_loopback:
        return True
    lab = (os.environ if env is None else env).get("WIRELAB_LAB")
    return bool(lab) and ip in LAB_NETWORK


def override_warning(address: str, verb: str = "scan") -> str | None:
    """The warning the CLI prints when ``--i-own-this-network`` lets ``address`` through."""
    if in_scope(address):
        return None
    return (f"wirelab: warning: {_FORMS[verb][1]} {address}, outside the lab, because "
            "--i-own-this-network says you own that network")


@contextmanager
def owned(*addresses: str) -> Iterator[None]:
    """Admit ``addresses`` (the user says they own them) to :func:`check_scope` in the block."""
    added = {ipaddress.IPv4Address(a) for a in addresses} - _OWNED
    _OWNED.update(added)
    try:
        yield
    finally:
        _OWNED.difference_update(added)
