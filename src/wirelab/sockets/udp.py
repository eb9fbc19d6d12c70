"""A UDP server loop and client (curriculum 1.1, RFC 768).

The curriculum's server has two defects that this module is built around:

- ``recvfrom(1024)`` silently drops everything past byte 1024 of a datagram.  A UDP datagram
  is read in one call or not at all: the kernel discards what does not fit the buffer
  (recv(2), "excess bytes may be discarded").  Here the buffer holds 65,535 bytes, more than
  any UDP payload can be (65,507 over IPv4, 65,527 over IPv6 without jumbograms), and the
  receive asks the kernel for the datagram's real length with ``MSG_TRUNC`` (udp(7)), so a
  deliberately small ``bufsize`` shows the truncation instead of hiding it.
- ``data.decode()`` raises on the first non-UTF-8 datagram and kills the server.  Payloads
  are bytes; :func:`describe_payload` shows them as text only when they are text.

The server loop never copies more than one datagram and allocates its buffer once.
"""

from __future__ import annotations

import errno
import json
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from wirelab.errors import NetworkError, WirelabError

#: Largest UDP payload the length field allows minus nothing: the buffer must hold any datagram.
MAX_DATAGRAM = 65535
#: Largest payload a datagram can carry over IPv4 (65,535 - 20 IPv4 - 8 UDP).
MAX_PAYLOAD_V4 = 65507
#: Largest payload over IPv6 without a jumbo payload option (65,535 - 8 UDP).
MAX_PAYLOAD_V6 = 65527


class BadAddressError(WirelabError):
    """An address or host name that cannot be resolved or bound."""

    exit_code = NetworkError.exit_code


@dataclass(frozen=True, slots=True)
class Datagram:
    """One received datagram.

    ``size`` is the datagram's real payload length as the kernel reports it; ``payload`` holds
    the bytes that fitted the buffer, so ``truncated`` is ``size > len(payload)``.
    """

    host: str
    port: int
    size: int
    payload: bytes
    received_at: float

    @property
    def truncated(self) -> bool:
        return self.size > len(self.payload)


@dataclass(slots=True)
class Tally:
    """Datagrams and payload bytes counted by a server, for the summary line."""

    datagrams: int = 0
    bytes: int = 0
    started: float = field(default_factory=time.monotonic)

    def summary(self) -> str:
        plural = "" if self.datagrams == 1 else "s"
        return f"received {self.datagrams} datagram{plural}, {self.bytes} bytes"

    def as_json(self) -> dict[str, object]:
        return {"event": "summary", "datagrams": self.datagrams, "bytes": self.bytes}


# --- addresses ------------------------------------------------------------------------------


def resolve(host: str, port: int, *, passive: bool = False) -> tuple[int, tuple[object, ...]]:
    """Return ``(family, sockaddr)`` for a UDP endpoint; IPv4 and IPv6 alike.

    ``getaddrinfo`` rather than a hard-coded ``AF_INET`` is what makes ``--bind ::1`` work.
    """
    flags = socket.AI_PASSIVE if passive else 0
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM, flags=flags)
    except socket.gaierror as exc:
        raise BadAddressError(f"cannot resolve {host!r}: {exc.strerror}") from None
    family, _, _, _, sockaddr = infos[0]
    return family, sockaddr


def format_endpoint(host: str, port: int) -> str:
    """``127.0.0.1:8000`` or ``[::1]:8000`` (RFC 3986 brackets for an IPv6 literal)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# --- server ---------------------------------------------------------------------------------


def open_server(bind: str, port: int, *, rcvbuf: int | None = None) -> socket.socket:
    """A UDP socket bound to ``bind``:``port``.  ``port`` 0 lets the kernel choose."""
    family, sockaddr = resolve(bind, port, passive=True)
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.bind(sockaddr)
    except OSError as exc:
        sock.close()
        where = format_endpoint(bind, port)
        if exc.errno == errno.EADDRINUSE:
            raise NetworkError(f"cannot listen on {where}: port already in use") from None
        raise NetworkError(f"cannot listen on {where}: {exc.strerror}") from None
    return sock


def receive(sock: socket.socket, buf: bytearray, bufsize: int | None = None) -> Datagram:
    """Receive one datagram into ``buf`` and report its real size.

    ``MSG_TRUNC`` makes Linux return the datagram's full length even when the buffer was
    smaller (udp(7)), which is how a truncation becomes visible.
    """
    nbytes = bufsize if bufsize is not None else len(buf)
    size, addr = sock.recvfrom_into(buf, nbytes, socket.MSG_TRUNC)
    kept = min(size, nbytes)
    return Datagram(addr[0], addr[1], size, bytes(buf[:kept]), time.time())


def serve(
    sock: socket.socket,
    handle: Callable[[Datagram], None],
    *,
    tally: Tally,
    echo: bool = False,
    limit: int | None = None,
    bufsize: int = MAX_DATAGRAM,
) -> Tally:
    """Receive datagrams until ``limit`` (or forever), calling ``handle`` for each.

    The caller owns ``tally`` so that a KeyboardInterrupt raised inside the loop still leaves
    it with the count of everything received.  With ``echo`` each payload is sent back to its
    sender, which is what a client's ``--wait-reply`` waits for.
    """
    buf = bytearray(max(bufsize, 1))
    while limit is None or tally.datagrams < limit:
        datagram = receive(sock, buf, bufsize)
        tally.datagrams += 1
        tally.bytes += datagram.size
        handle(datagram)
        if echo:
            sock.sendto(datagram.payload, (datagram.host, datagram.port))
    return tally


def count(sock: socket.socket, *, tally: Tally, limit: int | None = None) -> Tally:
    """The quiet loop: count datagrams and bytes without looking at them.

    One preallocated buffer, ``recv_into`` (no sender address to build), two integer
    additions: this is what the receive-rate benchmark measures.
    """
    buf = bytearray(MAX_DATAGRAM)
    recv_into = sock.recv_into
    if limit is None:
        while True:
            size = recv_into(buf, MAX_DATAGRAM, socket.MSG_TRUNC)
            tally.bytes += size
            tally.datagrams += 1
    while tally.datagrams < limit:
        size = recv_into(buf, MAX_DATAGRAM, socket.MSG_TRUNC)
        tally.bytes += size
        tally.datagrams += 1
    return tally


# --- showing payloads -----------------------------------------------------------------------

_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\", '"': '\\"'}


def as_text(payload: bytes) -> str | None:
    """The payload as text if it is UTF-8, else None."""
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return None


def escape_text(text: str) -> str:
    """Quote text with control characters escaped, so one datagram stays on one line."""
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif not ch.isprintable():
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def describe_payload(payload: bytes, *, force_hex: bool = False, limit: int = 256) -> str:
    """``text "..."`` for UTF-8 payloads, ``hex 00ff..`` for anything else.

    Only the first ``limit`` bytes are shown; the size is printed beside it anyway.
    """
    shown = payload[:limit]
    more = len(payload) - len(shown)
    suffix = f" ... (+{more} bytes)" if more else ""
    text = None if force_hex else as_text(shown)
    if text is None and not force_hex and more:
        # The cut may have split a multi-byte character: judge the whole payload.
        whole = as_text(payload)
        if whole is not None:
            text = shown.decode("utf-8", errors="ignore")
    if text is not None:
        return f"text {escape_text(text)}{suffix}"
    return f"hex {shown.hex()}{suffix}"


def datagram_line(datagram: Datagram, *, force_hex: bool = False, limit: int = 256) -> str:
    """One human line per datagram: time, sender, real size, payload."""
    stamp = time.strftime("%H:%M:%S", time.localtime(datagram.received_at))
    frac = f"{datagram.received_at % 1:.6f}"[1:]
    size = f"{datagram.size} bytes"
    if datagram.truncated:
        size += f" (TRUNCATED to {len(datagram.payload)} by the receive buffer)"
    sender = format_endpoint(datagram.host, datagram.port)
    body = describe_payload(datagram.payload, force_hex=force_hex, limit=limit)
    return f"{stamp}{frac} from {sender} {size}: {body}"


def datagram_json(datagram: Datagram) -> str:
    """One JSON Lines record; the payload in full, as text or as hex."""
    text = as_text(datagram.payload)
    record: dict[str, object] = {
        "event": "datagram",
        "time": round(datagram.received_at, 6),
        "src": datagram.host,
        "sport": datagram.port,
        "size": datagram.size,
        "received": len(datagram.payload),
        "truncated": datagram.truncated,
        "payload": text,
        "payload_hex": None if text is not None else datagram.payload.hex(),
    }
    return json.dumps(record, ensure_ascii=False)


# --- client ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reply:
    """What came back for one sent datagram, if anything."""

    seq: int
    sent: int
    reply: Datagram | None
    rtt: float | None


def open_client(host: str, port: int) -> socket.socket:
    """A UDP socket *connected* to ``host``:``port``.

    connect() on UDP sends nothing; it fixes the peer so that the kernel delivers only its
    datagrams to us and reports an ICMP port unreachable as ECONNREFUSED on the next call,
    which the curriculum's fire-and-forget client can never notice.
    """
    family, sockaddr = resolve(host, port)
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.connect(sockaddr)
    except OSError as exc:
        sock.close()
        where = format_endpoint(host, port)
        raise NetworkError(f"cannot send to {where}: {exc.strerror}") from None
    return sock


def _refused(host: str, port: int) -> NetworkError:
    return NetworkError(
        f"{format_endpoint(host, port)} refused: ICMP port unreachable (nothing listening)"
    )


def send(
    host: str,
    port: int,
    message: bytes,
    *,
    count: int = 1,
    interval: float = 0.0,
    wait_reply: float | None = None,
) -> Iterator[Reply]:
    """Send ``message`` ``count`` times, ``interval`` seconds apart; yield one Reply each.

    With ``wait_reply`` each send waits that long for one datagram back (an echo).
    """
    sock = open_client(host, port)
    limit = MAX_PAYLOAD_V6 if sock.family == socket.AF_INET6 else MAX_PAYLOAD_V4
    if len(message) > limit:
        sock.close()
        raise NetworkError(
            f"message too long for one UDP datagram: {len(message)} bytes, at most {limit}"
        )
    buf = bytearray(MAX_DATAGRAM)
    try:
        for seq in range(count):
            if seq and interval:
                time.sleep(interval)
            started = time.monotonic()
            try:
                sent = sock.send(message)
            except ConnectionRefusedError:
                raise _refused(host, port) from None
            if wait_reply is None:
                yield Reply(seq, sent, None, None)
                continue
            sock.settimeout(wait_reply)
            try:
                reply = receive(sock, buf)
            except TimeoutError:
                yield Reply(seq, sent, None, None)
                continue
            except ConnectionRefusedError:
                raise _refused(host, port) from None
            yield Reply(seq, sent, reply, time.monotonic() - started)
    finally:
        sock.close()
