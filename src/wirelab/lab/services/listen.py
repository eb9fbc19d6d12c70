"""Plain TCP listeners on ``server`` (22 and 443): something to handshake with and to scan.

Port 22 greets like an SSH server, with an identification string (RFC 4253 section 4.2), so a
banner grab has something to read; it speaks no further SSH.  Port 443 accepts and holds the
connection without TLS.  Both read and discard until the peer closes or 30 s pass.
"""

from __future__ import annotations

import functools
import socket

from wirelab.lab.services.common import (
    announce_ready,
    parse_args,
    serve_tcp,
    tcp_listener,
    wait_forever,
)

SSH_BANNER = b"SSH-2.0-wirelab_lab\r\n"
IDLE_SECONDS = 30.0


def _hold(conn: socket.socket, _addr: tuple[str, int], greeting: bytes) -> None:
    conn.settimeout(IDLE_SECONDS)
    if greeting:
        conn.sendall(greeting)
    try:
        while conn.recv(4096):
            pass
    except TimeoutError:
        pass


def main(argv: list[str] | None = None) -> int:
    args = parse_args("listen", argv)
    for port in args.port or [22, 443]:
        greeting = SSH_BANNER if port == 22 else b""
        serve_tcp(tcp_listener(port), functools.partial(_hold, greeting=greeting))
    announce_ready()
    wait_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
