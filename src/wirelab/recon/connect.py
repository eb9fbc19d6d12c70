"""The connect() scan (nmap ``-sT``): the kernel's TCP stack does the handshake.

No privilege is needed.  Sockets are non-blocking and watched with a selector; how many are
in flight at once is capped by the open-file limit (RLIMIT_NOFILE), keeping a margin for the
process's other descriptors.  A connect() that has not finished after the time-out is
abandoned and the port is filtered (no-response): in that time Linux itself retransmits the
SYN once (its initial RTO is 1 s, RFC 6298 section 2.1), matching the SYN scan's single
retransmission.
"""

from __future__ import annotations

import errno
import resource
import selectors
import socket
import struct
import time

from wirelab.recon import states
from wirelab.recon.result import PortResult, Progress, ScanResult
from wirelab.recon.timing import TEMPLATES, Template

TIMEOUT = 1.5
FD_MARGIN = 32
MAX_PARALLEL = 4096
LINGER_RST = struct.pack("ii", 1, 0)  # struct linger {l_onoff=1, l_linger=0}: RST on close


def parallelism() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(1, min(MAX_PARALLEL, soft - FD_MARGIN))


def _start(sel: selectors.BaseSelector, address: str, port: int) -> int | None:
    """Begin a connect(); return an errno if it finished at once (loopback often does)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    # RST on close instead of FIN: like nmap, do not leave the target holding a connection.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RST)
    err = sock.connect_ex((address, port))
    if err in (errno.EINPROGRESS, errno.EALREADY):
        sel.register(sock, selectors.EVENT_WRITE, (port, time.monotonic()))
        return None
    sock.close()
    return err


def connect_scan(target: str, address: str, ports: list[int], *,
                 tpl: Template = TEMPLATES[4], max_retries: int = 6,
                 progress: Progress | None = None, timeout: float = TIMEOUT) -> ScanResult:
    """connect()-scan ``ports`` of ``address`` (already checked against the scope)."""
    started = time.monotonic()
    limit = parallelism()
    done: dict[int, PortResult] = {}
    queue = list(reversed(ports))
    with selectors.DefaultSelector() as sel:
        while queue or sel.get_map():
            while queue and len(sel.get_map()) < limit:
                port = queue.pop()
                began = time.monotonic()
                err = _start(sel, address, port)
                if err is not None:
                    done[port] = PortResult(port, *states.from_connect_errno(err),
                                            time.monotonic() - began)
            for key, _ in sel.select(timeout=0.05):
                _finish(sel, key, done)
            _expire(sel, done, timeout)
    if progress is not None:
        progress(len(done), len(ports))
    results = [done[p] for p in ports]
    return ScanResult(target, address, "connect", results, time.monotonic() - started,
                      len(ports))


def _finish(sel: selectors.BaseSelector, key: selectors.SelectorKey,
            done: dict[int, PortResult]) -> None:
    sock = key.fileobj
    assert isinstance(sock, socket.socket)
    port, began = key.data
    err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    sel.unregister(sock)
    sock.close()
    done[port] = PortResult(port, *states.from_connect_errno(err), time.monotonic() - began)


def _expire(sel: selectors.BaseSelector, done: dict[int, PortResult], timeout: float) -> None:
    now = time.monotonic()
    for key in list(sel.get_map().values()):
        port, began = key.data
        if now - began >= timeout:
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            sel.unregister(sock)
            sock.close()
            done[port] = PortResult(port, *states.NO_ANSWER)
