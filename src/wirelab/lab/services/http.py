"""The lab's HTTP/1.1 origin, in the spirit of httpbin, on ``server`` ports 80 and 8080.

Framing is h11's (sans-IO, RFC 9112); this module only routes requests and streams bodies.
Endpoints:

- ``/get`` (and ``/headers``, ``/ip``): JSON echo of the request: method, path, query
  arguments, headers in the order received, and the client's address and port.
- ``/anything``, ``/post``: the same echo plus the request body (any method).
- ``/bytes/N[?seed=S]``: N pseudo-random bytes with a Content-Length, streamed in 64 KiB
  pieces (never built in memory); the same seed gives the same bytes.
- ``/stream-bytes/N[?chunk_size=C&seed=S]``: the same with chunked transfer coding
  (RFC 9112 section 7.1), one chunk per piece.
- ``/status/CODE``: that status (3xx with ``Location: /get``).
- ``/delay/S``: the ``/get`` echo after S seconds (at most 10).
"""

from __future__ import annotations

import json
import random
import socket
import time
from collections.abc import Iterator
from email.utils import formatdate
from urllib.parse import parse_qs, urlsplit

import h11

from wirelab.lab.services.common import (
    announce_ready,
    parse_args,
    serve_tcp,
    tcp_listener,
    wait_forever,
)

SERVER = b"wirelab-lab/1"
PIECE = 64 * 1024
MAX_BYTES = 1 << 32  # 4 GiB: large transfers are the point; memory use stays one piece
MAX_BODY = 1 << 20  # request bodies we echo
MAX_DELAY = 10.0
IDLE_SECONDS = 30.0

Headers = list[tuple[bytes, bytes]]


class Reply:
    """What a route returns: status, extra headers, and a body as bytes or a piece iterator."""

    def __init__(self, status: int, body: bytes | Iterator[bytes] = b"",
                 headers: Headers | None = None, length: int | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = headers or []
        # bytes -> Content-Length; an iterator -> `length` if known, else chunked coding
        self.length = len(body) if isinstance(body, bytes) else length


def _json(data: object, status: int = 200) -> Reply:
    body = json.dumps(data, indent=2).encode() + b"\n"
    return Reply(status, body, [(b"content-type", b"application/json")])


def _pieces(total: int, size: int, seed: int | None) -> Iterator[bytes]:
    rng = random.Random(seed)
    left = total
    while left:
        n = min(size, left)
        yield rng.randbytes(n)
        left -= n


def _echo(req: h11.Request, body: bytes, client: tuple[str, int]) -> dict[str, object]:
    url = urlsplit(req.target.decode("latin-1"))
    args = {k: v if len(v) > 1 else v[0] for k, v in parse_qs(url.query).items()}
    return {"method": req.method.decode(), "path": url.path, "args": args,
            "headers": {k.decode("latin-1").title(): v.decode("latin-1")
                        for k, v in req.headers},
            "http_version": req.http_version.decode(), "origin": client[0],
            "client": {"address": client[0], "port": client[1]},
            **({"body": body.decode("utf-8", "replace"), "body_length": len(body)}
               if body else {})}


def _number(text: str, kind: type[int] | type[float]) -> int | float | None:
    try:
        value = kind(text)
    except ValueError:
        return None
    return value if value >= 0 else None


def route(req: h11.Request, body: bytes, client: tuple[str, int]) -> Reply:
    """Pick the endpoint for one request.  Pure: no I/O beyond /delay's sleep."""
    url = urlsplit(req.target.decode("latin-1"))
    query = {k: v[-1] for k, v in parse_qs(url.query).items()}
    parts = url.path.strip("/").split("/")
    method = req.method.decode()
    head = parts[0]
    if head in ("anything", "post") or (head == "get" and len(parts) == 1):
        if head == "post" and method != "POST" or head == "get" and method not in ("GET",
                                                                                   "HEAD"):
            return Reply(405, b"method not allowed\n", [(b"allow", b"POST" if head == "post"
                                                         else b"GET, HEAD")])
        return _json(_echo(req, body, client))
    if method not in ("GET", "HEAD"):
        return Reply(405, b"method not allowed\n", [(b"allow", b"GET, HEAD")])
    if head == "headers" and len(parts) == 1:
        return _json({"headers": _echo(req, body, client)["headers"]})
    if head == "ip" and len(parts) == 1:
        return _json({"origin": client[0]})
    if head in ("bytes", "stream-bytes") and len(parts) == 2:
        return _bytes(head, parts[1], query)
    if head == "status" and len(parts) == 2:
        return _status(parts[1])
    if head == "delay" and len(parts) == 2:
        seconds = _number(parts[1], float)
        if seconds is None:
            return Reply(400, b"delay: give seconds, e.g. /delay/2\n")
        time.sleep(min(float(seconds), MAX_DELAY))
        return _json(_echo(req, body, client))
    if url.path == "/":
        return Reply(200, __doc__.encode() if __doc__ else b"", [(b"content-type",
                                                                 b"text/plain")])
    return Reply(404, b"not found\n")


def _bytes(kind: str, count: str, query: dict[str, str]) -> Reply:
    n = _number(count, int)
    seed = _number(query.get("seed", ""), int) if "seed" in query else None
    if n is None or n > MAX_BYTES:
        return Reply(400, f"{kind}: a byte count 0..{MAX_BYTES}\n".encode())
    octet = [(b"content-type", b"application/octet-stream")]
    if kind == "bytes":
        return Reply(200, _pieces(int(n), PIECE, None if seed is None else int(seed)), octet,
                     length=int(n))
    size = _number(query.get("chunk_size", str(10240)), int) or 10240
    return Reply(200, _pieces(int(n), min(int(size), PIECE * 16),
                              None if seed is None else int(seed)), octet)


def _status(code_text: str) -> Reply:
    code = _number(code_text, int)
    if code is None or not 200 <= code <= 599:
        return Reply(400, b"status: a code 200..599\n")
    if 300 <= code < 400:
        return Reply(int(code), b"", [(b"location", b"/get")])
    return Reply(int(code), b"")


# -- the connection loop (the only I/O) ------------------------------------------------------


def _send(conn: h11.Connection, sock: socket.socket, event: h11.Event) -> None:
    data = conn.send(event)
    if data:
        sock.sendall(data)


def _next_event(conn: h11.Connection, sock: socket.socket) -> h11.Event:
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event  # type: ignore[return-value]
        conn.receive_data(sock.recv(PIECE))


def _respond(conn: h11.Connection, sock: socket.socket, req: h11.Request,
             reply: Reply) -> None:
    headers: Headers = [(b"server", SERVER), (b"date", formatdate(usegmt=True).encode()),
                        *reply.headers]
    if reply.length is not None:
        headers.append((b"content-length", str(reply.length).encode()))
    _send(conn, sock, h11.Response(status_code=reply.status, headers=headers))
    bodiless = req.method == b"HEAD" or reply.status in (204, 304)
    if not bodiless:
        pieces = [reply.body] if isinstance(reply.body, bytes) else reply.body
        for piece in pieces:
            if piece:
                _send(conn, sock, h11.Data(data=piece))
    _send(conn, sock, h11.EndOfMessage())


def handle(sock: socket.socket, client: tuple[str, int]) -> None:
    """Serve one connection: requests in a row (keep-alive) until either side closes."""
    sock.settimeout(IDLE_SECONDS)
    conn = h11.Connection(h11.SERVER)
    while True:
        try:
            event = _next_event(conn, sock)
            if isinstance(event, h11.ConnectionClosed):
                return
            assert isinstance(event, h11.Request)
            body = b""
            while True:
                part = _next_event(conn, sock)
                if isinstance(part, h11.EndOfMessage):
                    break
                if isinstance(part, h11.Data) and len(body) < MAX_BODY:
                    body += part.data
            _respond(conn, sock, event, route(event, body, client))
        except h11.RemoteProtocolError as exc:
            if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                status = exc.error_status_hint
                _send(conn, sock, h11.Response(status_code=status, headers=[
                    (b"server", SERVER), (b"content-length", b"0"),
                    (b"connection", b"close")]))
                _send(conn, sock, h11.EndOfMessage())
            return
        except TimeoutError:
            return
        if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
            return
        try:
            conn.start_next_cycle()
        except h11.LocalProtocolError:
            return


def main(argv: list[str] | None = None) -> int:
    args = parse_args("http", argv)
    for port in args.port or [80, 8080]:
        serve_tcp(tcp_listener(port), handle)
    announce_ready()
    wait_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
