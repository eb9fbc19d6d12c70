"""Keep the kernel from resetting a connection that it did not open (curriculum 2.2).

When Scapy sends a SYN, the kernel's TCP stack knows nothing of it.  The SYN-ACK that comes
back matches no socket, so the kernel answers it with a RST (RFC 9293 section 3.10.7.1: a
segment for a connection that does not exist draws a reset), and the server drops the
half-open connection before our ACK arrives.  The cure is a firewall rule that drops
outgoing RSTs for exactly this connection's 4-tuple while the command runs.  Our own
segments pass the same OUTPUT chain (they are sent through a raw IP socket, see
:mod:`wirelab.craft.scapy_env`), but we never send a RST, so the rule never touches them.

The rule is added with ``-A`` and removed with ``-D`` of the very same specification, in a
``finally`` block and also when SIGTERM or SIGHUP arrive (they are turned into
KeyboardInterrupt so that the ``finally`` runs; SIGINT already is one).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType

from wirelab.craft.privilege import require_net_admin
from wirelab.errors import LabError, ToolMissingError


@dataclass(frozen=True)
class FourTuple:
    src: str
    sport: int
    dst: str
    dport: int


def rule_spec(conn: FourTuple) -> list[str]:
    """The iptables rule (without -A/-D) that drops our kernel's RSTs for ``conn`` only."""
    return [
        "OUTPUT", "-p", "tcp",
        "-s", conn.src, "--sport", str(conn.sport),
        "-d", conn.dst, "--dport", str(conn.dport),
        "--tcp-flags", "RST", "RST",
        "-m", "comment", "--comment", f"wirelab handshake pid {os.getpid()}",
        "-j", "DROP",
    ]


def _iptables(action: str, conn: FourTuple) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("iptables")
    if binary is None:
        raise ToolMissingError("iptables is not installed; it is needed to stop the kernel's "
                               "RST (apt-get install iptables)")
    # -w: wait for the xtables lock rather than fail when another rule change is running.
    return subprocess.run([binary, "-w", action, *rule_spec(conn)],
                          capture_output=True, text=True, check=False)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextmanager
def rst_suppressed(conn: FourTuple) -> Iterator[list[str]]:
    """Drop the kernel's outgoing RSTs for ``conn`` inside the ``with`` block.

    Yields the rule (as iptables prints it) so the caller can tell the user what was done.
    """
    added = _iptables("-A", conn)
    if added.returncode != 0:
        message = added.stderr.strip()
        if "Permission denied" in message or "not permitted" in message:
            require_net_admin("handshake", "add a firewall rule that drops the kernel's RST")
        raise LabError(f"iptables refused the RST-drop rule: {message}")
    previous = {sig: signal.signal(sig, _raise_interrupt)
                for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield ["iptables", "-A", *rule_spec(conn)]
    finally:
        # Remove first, then restore the handlers, so that a second signal cannot skip it.
        _iptables("-D", conn)
        for sig, handler in previous.items():
            signal.signal(sig, handler)

