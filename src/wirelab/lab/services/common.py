"""What every lab service process shares: arguments, the readiness line, threads per socket.

A service is a small process started inside a host (``python -m wirelab.lab.services.KIND``).
It binds its sockets, writes ``ready`` on its stdout and closes it (the launcher waits for
that line, so ``up`` returns only when every port answers), then serves until SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable

from wirelab.lab.rootless import set_process_name


def parse_args(kind: str, argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=f"wirelab lab {kind} service (internal)")
    parser.add_argument("--lab", required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, action="append", default=[])
    parser.add_argument("--zone", help="JSON file: name -> addresses (dns only)")
    args = parser.parse_args(argv)
    set_process_name(f"wl-{kind}-{args.lab}")
    # SIGTERM from `down` ends the process at once: no state to save.
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    return args


def tcp_listener(port: int, backlog: int = 128) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("0.0.0.0", port))
    sock.listen(backlog)
    return sock


def serve_tcp(sock: socket.socket,
              handler: Callable[[socket.socket, tuple[str, int]], None]) -> threading.Thread:
    """Accept forever on ``sock`` in a thread; each connection gets its own thread."""

    def _handle(conn: socket.socket, addr: tuple[str, int]) -> None:
        try:
            handler(conn, addr)
        except OSError:
            pass  # the peer went away: nothing to report
        finally:
            conn.close()

    def _accept() -> None:
        while True:
            conn, addr = sock.accept()
            threading.Thread(target=_handle, args=(conn, addr), daemon=True).start()

    thread = threading.Thread(target=_accept, daemon=True)
    thread.start()
    return thread


def announce_ready() -> None:
    """Tell the launcher the sockets are bound; later output goes to the log (stderr)."""
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    os.dup2(2, 1)


def wait_forever() -> None:
    while True:
        signal.pause()
