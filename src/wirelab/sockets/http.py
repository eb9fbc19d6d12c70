"""One HTTP/1.1 exchange over a plain TCP socket (curriculum 1.2, RFC 9112).

The socket loop is ours; h11 is the sans-IO parser of the response.  The request bytes are
written by hand (:mod:`wirelab.sockets.request`).  The body is streamed to a sink as it
arrives: one preallocated buffer, ``recv_into`` a memoryview, write that slice out.  Nothing
ever holds the whole response.

Why not the curriculum's ``response += chunk``: ``bytes`` are immutable, so each ``+=``
allocates a new object and copies everything received so far into it.  After n chunks of
size c that is c*(1 + 2 + ... + n) ~ c*n^2/2 bytes copied: quadratic in the body size, and
the whole body sits in memory at the end.

How the body ends (RFC 9112 section 6.3), in order:
1. a response to HEAD, any 1xx, 204 or 304 has no body whatever its fields say;
2. Transfer-Encoding (chunked) beats Content-Length when both are present;
3. Content-Length counts the body;
4. otherwise the body runs until the server closes the connection.
h11 implements these rules; we follow its decision.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import h11

from wirelab.errors import NetworkError
from wirelab.sockets.request import URL

#: Receive buffer: large enough that a fast body needs few system calls.
RECV_SIZE = 256 * 1024
#: Heads larger than this are refused (h11's own default is 16 KiB).
MAX_HEAD = 64 * 1024


class Sink:
    """Where the body goes: a file descriptor written without Python-level buffering."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.written = 0

    def write(self, data: memoryview | bytes) -> None:
        """Write body bytes (counted in ``written``)."""
        self.emit(data)
        self.written += len(data)

    def emit(self, data: memoryview | bytes) -> None:
        """Write bytes that are not body (a head shown with ``-i``); a short write is resumed."""
        view = memoryview(data)
        while view:
            n = os.write(self.fd, view)
            view = view[n:]


@dataclass(slots=True)
class Response:
    """What came back: the final head, the trailers, how the body was framed and its size."""

    status: int = 0
    reason: str = ""
    http_version: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    trailers: list[tuple[str, str]] = field(default_factory=list)
    interim: list[int] = field(default_factory=list)  # 1xx status codes skipped
    framing: str = ""  # "none", "content-length", "chunked" or "until-close"
    body_bytes: int = 0
    seconds: float = 0.0


#: Called with the raw bytes of each response head and whether it was an interim (1xx) one.
HeadHook = Callable[[bytes, bool], None]


def _decode_fields(headers: list[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    return [(n.decode("latin-1"), v.decode("latin-1")) for n, v in headers]


def framing_of(method: str, status: int, headers: list[tuple[bytes, bytes]]) -> str:
    """The body framing rule of RFC 9112 section 6.3 that applies (h11 validated the fields)."""
    if method.upper() == "HEAD" or status < 200 or status in (204, 304):
        return "none"
    names = {name.lower() for name, _ in headers}
    if b"transfer-encoding" in names:
        return "chunked"  # h11 accepts no other transfer coding
    if b"content-length" in names:
        return "content-length"
    return "until-close"


class Exchange:
    """A single request and its response on one connection (``Connection: close``)."""

    def __init__(self, url: URL, method: str, request: bytes, *, timeout: float,
                 fast_body: bool = True) -> None:
        self.url = url
        self.method = method
        self.request = request
        self.timeout = timeout
        # With fast_body, a counted or until-close body bypasses h11 (see _stream_counted).
        self.fast_body = fast_body
        self.conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD)
        self.buf = bytearray(RECV_SIZE)
        self.view = memoryview(self.buf)
        self.pending = bytearray()  # bytes fed to h11 since the last head ended
        self.response = Response()

    # -- connection ---------------------------------------------------------------------------

    def _where(self) -> str:
        return f"{self.url.host} port {self.url.port}"

    def connect(self) -> socket.socket:
        try:
            return socket.create_connection((self.url.host, self.url.port), self.timeout)
        except ConnectionRefusedError:
            raise NetworkError(f"connection refused by {self._where()}") from None
        except TimeoutError:
            raise NetworkError(
                f"timed out after {self.timeout:g} s connecting to {self._where()}") from None
        except socket.gaierror as exc:
            raise NetworkError(f"cannot resolve {self.url.host!r}: {exc.strerror}") from None
        except OSError as exc:
            raise NetworkError(f"cannot connect to {self._where()}: {exc.strerror}") from None

    def _recv(self, sock: socket.socket, waiting_for: str) -> int:
        try:
            return sock.recv_into(self.buf)
        except TimeoutError:
            raise NetworkError(
                f"timed out after {self.timeout:g} s waiting for {waiting_for} "
                f"from {self._where()}") from None
        except ConnectionResetError:
            raise NetworkError(f"connection reset by {self._where()}") from None

    # -- the exchange -------------------------------------------------------------------------

    def run(self, sink: Sink, on_head: HeadHook | None = None) -> Response:
        started = time.perf_counter()
        with self.connect() as sock:
            try:
                sock.sendall(self.request)
            except OSError as exc:
                raise NetworkError(f"sending the request failed: {exc.strerror}") from None
            # h11 must know the method to frame the response (no body after HEAD), so it is
            # told that a request went out.  The bytes h11 would have produced are discarded:
            # the ones on the wire are ours.
            self.conn.send(h11.Request(method=self.method, target=self.url.target,
                                       headers=[("Host", self.url.authority)]))
            self.conn.send(h11.EndOfMessage())
            head = self._read_head(sock, on_head)
            self._read_body(sock, head, sink)
        self.response.body_bytes = sink.written
        self.response.seconds = time.perf_counter() - started
        return self.response

    def _read_head(self, sock: socket.socket, on_head: HeadHook | None) -> h11.Response:
        """Feed h11 until the final response head; interim 1xx heads are skipped (shown)."""
        while True:
            try:
                event = self.conn.next_event()
            except h11.RemoteProtocolError as exc:
                raise self._head_error(exc) from None
            if event is h11.NEED_DATA:
                n = self._recv(sock, "the response")
                chunk = bytes(self.view[:n])
                self.pending += chunk
                self.conn.receive_data(chunk)
                continue
            if isinstance(event, h11.InformationalResponse | h11.Response):
                raw = self._cut_head()
                final = isinstance(event, h11.Response)
                if on_head is not None:
                    on_head(raw, not final)
                if not final:
                    self.response.interim.append(event.status_code)
                    continue
                assert isinstance(event, h11.Response)
                self._record(event)
                return event
            raise NetworkError(f"unexpected {type(event).__name__} before the response head")

    def _cut_head(self) -> bytes:
        """The raw bytes of the head h11 just parsed: what was fed minus what it left over."""
        leftover = len(self.conn.trailing_data[0])
        used = len(self.pending) - leftover
        raw = bytes(self.pending[:used])
        del self.pending[:used]
        return raw

    def _head_error(self, exc: h11.RemoteProtocolError) -> NetworkError:
        first = bytes(self.pending).split(b"\n", 1)[0].rstrip(b"\r")
        if not self.pending:
            return NetworkError(f"{self._where()} closed the connection without a response")
        if b"\n" in self.pending and not _looks_like_status_line(first):
            return NetworkError(f"malformed status line from {self._where()}: {first!r}")
        return NetworkError(f"malformed response head from {self._where()}: {exc}")

    def _record(self, event: h11.Response) -> None:
        r = self.response
        r.status = event.status_code
        r.reason = event.reason.decode("latin-1")
        r.http_version = event.http_version.decode("ascii")
        r.headers = _decode_fields(list(event.headers.raw_items()))
        r.framing = framing_of(self.method, r.status, list(event.headers))

    def _read_body(self, sock: socket.socket, head: h11.Response, sink: Sink) -> None:
        framing = self.response.framing
        if framing == "none":
            return
        if self.fast_body and framing == "content-length":
            length = int(dict(head.headers)[b"content-length"])
            self._stream_counted(sock, sink, length)
        elif self.fast_body and framing == "until-close":
            self._stream_counted(sock, sink, None)
        else:
            self._stream_h11(sock, sink)

    def _stream_counted(self, sock: socket.socket, sink: Sink, length: int | None) -> None:
        """Stream a Content-Length or until-close body ourselves, past h11.

        h11 would copy every received chunk twice (into its buffer, then out as a Data event)
        and run its state machine per event; for a body whose end is a byte count or the
        close of the connection there is nothing left to parse, so after h11 has parsed the
        head we take the bytes it holds and move the rest straight from the socket to the
        sink.  The connection is closed afterwards, so h11's state no longer matters.
        """
        early = self.conn.trailing_data[0]
        if length is not None:
            early = early[:length]
        if early:
            sink.write(early)
        remaining = None if length is None else length - len(early)
        view, recv_into, write = self.view, sock.recv_into, sink.write
        while remaining is None or remaining > 0:
            try:
                n = recv_into(self.buf)
            except TimeoutError:
                raise self._body_timeout(sink.written, length) from None
            except ConnectionResetError:
                raise self._truncated(sink.written, length, "reset the connection") from None
            if n == 0:
                if remaining is None:
                    return
                raise self._truncated(sink.written, length, "closed the connection")
            if remaining is not None:
                n = min(n, remaining)  # bytes past the body are not part of this response
                remaining -= n
            write(view[:n])

    def _stream_h11(self, sock: socket.socket, sink: Sink) -> None:
        """Let h11 de-frame the body: chunked (extensions dropped, trailers kept) or any."""
        conn = self.conn
        while True:
            try:
                event = conn.next_event()
            except h11.ProtocolError as exc:
                # h11 reports a bad chunk footer as LocalProtocolError, though the peer sent it.
                raise self._body_error(exc, sink.written) from None
            if event is h11.NEED_DATA:
                try:
                    n = sock.recv_into(self.buf)
                except TimeoutError:
                    raise self._body_timeout(sink.written, None) from None
                except ConnectionResetError:
                    n = 0
                conn.receive_data(bytes(self.view[:n]))
            elif isinstance(event, h11.Data):
                sink.write(event.data)
            elif isinstance(event, h11.EndOfMessage):
                self.response.trailers = _decode_fields(list(event.headers.raw_items()))
                return
            else:
                raise NetworkError(f"unexpected {type(event).__name__} in the response body")

    # -- errors -------------------------------------------------------------------------------

    def _truncated(self, got: int, length: int | None, how: str) -> NetworkError:
        expected = f" of {length}" if length is not None else ""
        return NetworkError(
            f"body truncated: {self._where()} {how} after {got}{expected} bytes")

    def _body_timeout(self, got: int, length: int | None) -> NetworkError:
        expected = f" of {length}" if length is not None else ""
        return NetworkError(
            f"timed out after {self.timeout:g} s in the body from {self._where()} "
            f"({got}{expected} bytes received)")

    def _body_error(self, exc: h11.ProtocolError, got: int) -> NetworkError:
        text = str(exc)
        if "peer closed connection" in text or "incomplete chunked" in text:
            return self._truncated(got, None, f"closed the connection ({text})")
        return NetworkError(f"malformed body from {self._where()}: {text}")


def _looks_like_status_line(line: bytes) -> bool:
    """``HTTP/1.x NNN reason`` (RFC 9112 section 4), checked loosely for the error message."""
    parts = line.split(b" ", 2)
    return (len(parts) >= 2 and parts[0] in (b"HTTP/1.0", b"HTTP/1.1")
            and len(parts[1]) == 3 and parts[1].isdigit())
