"""An HTTP/1.1 request written by hand (RFC 9112 section 3), and the URL it goes to.

No library builds these bytes: the request line, each header field and the empty line that
ends the head are joined with CRLF here, so ``wirelab http get -v`` shows exactly what the
lesson talks about.  Anything the user adds (``-X``, ``-H``) is checked against the RFC 9110
grammar first, because a stray CR or LF in a header value would split the request in two
(request splitting, RFC 9112 section 11).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from wirelab import __version__
from wirelab.errors import ExitCode, WirelabError

CRLF = b"\r\n"
USER_AGENT = f"wirelab/{__version__}"

# RFC 9110 section 5.6.2: token = 1*tchar
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
# RFC 9110 section 5.5: field-value = *field-content; no CR, LF or NUL anywhere.
_FIELD_VALUE = re.compile(rb"[^\x00\r\n]*\Z")


class RequestError(WirelabError):
    """A URL, method or header field that cannot go on the wire as given."""

    exit_code = ExitCode.BAD_INPUT


@dataclass(frozen=True, slots=True)
class URL:
    """The parts of an ``http://`` URL that a request needs."""

    host: str
    port: int
    target: str  # origin-form request-target: absolute path and query (RFC 9112 section 3.2.1)

    @property
    def authority(self) -> str:
        """The Host field value (RFC 9110 section 7.2): port only when not the default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == 80 else f"{host}:{self.port}"

    def __str__(self) -> str:
        return f"http://{self.authority}{self.target}"


def parse_url(text: str) -> URL:
    """Split ``http://host[:port]/path?query``; a missing scheme means ``http``."""
    if "://" not in text:
        text = "http://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise RequestError(f"bad URL {text!r}: {exc}") from None
    if parts.scheme.lower() == "https":
        raise RequestError("https is not supported: this tool speaks plain HTTP/1.1 (no TLS)")
    if parts.scheme.lower() != "http":
        raise RequestError(f"bad URL {text!r}: only http:// is supported")
    if not parts.hostname:
        raise RequestError(f"bad URL {text!r}: no host")
    if parts.username is not None:
        raise RequestError(f"bad URL {text!r}: credentials in the URL are not supported")
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    if any(ch in target for ch in " \r\n\t"):
        raise RequestError(f"bad URL {text!r}: spaces and line breaks must be percent-encoded")
    # A request-target is ASCII (RFC 3986 section 2): percent-encode anything else as UTF-8.
    target = quote(target, safe="/?#[]@!$&'()*+,;=:%~-._")
    return URL(parts.hostname, port if port is not None else 80, target)


def parse_header(text: str) -> tuple[bytes, bytes]:
    """``'Name: value'`` from ``-H`` into a checked (name, value) pair."""
    name, sep, value = text.partition(":")
    if not sep:
        raise RequestError(f"bad header {text!r}: expected 'Name: value'")
    raw_name = name.strip().encode("ascii", errors="replace")
    raw_value = value.strip().encode("utf-8")
    if not _TOKEN.match(raw_name):
        raise RequestError(f"bad header name {name.strip()!r}: not an RFC 9110 token")
    if not _FIELD_VALUE.match(raw_value):
        raise RequestError(f"bad header value for {name.strip()}: contains CR, LF or NUL")
    return raw_name, raw_value


def check_method(method: str) -> bytes:
    raw = method.encode("ascii", errors="replace")
    if not _TOKEN.match(raw):
        raise RequestError(f"bad method {method!r}: not an RFC 9110 token")
    return raw


def build_request(
    method: str,
    url: URL,
    headers: list[tuple[bytes, bytes]] = [],  # noqa: B006 - never mutated
    body: bytes | None = None,
) -> bytes:
    """The request as bytes: request line, fields, empty line, body.

    Host comes first (RFC 9112 section 3.2: a client MUST send it in every HTTP/1.1
    request); ``Connection: close`` asks the server to end the exchange by closing, so a
    body without a length still has an end.  A user field of the same name replaces a
    default one.
    """
    given = {name.lower() for name, _ in headers}
    defaults: list[tuple[bytes, bytes]] = [
        (b"Host", url.authority.encode("ascii")),
        (b"User-Agent", USER_AGENT.encode("ascii")),
        (b"Accept", b"*/*"),
        (b"Connection", b"close"),
    ]
    fields = [(n, v) for n, v in defaults if n.lower() not in given] + list(headers)
    if body is not None and b"content-length" not in given:
        fields.append((b"Content-Length", str(len(body)).encode("ascii")))
    lines = [check_method(method) + b" " + url.target.encode("ascii") + b" HTTP/1.1"]
    lines += [name + b": " + value for name, value in fields]
    return CRLF.join(lines) + CRLF + CRLF + (body or b"")


def show_raw(data: bytes, prefix: str) -> list[str]:
    """Bytes as they went over the wire, one line per line, CR and LF made visible."""
    out = []
    for line in data.splitlines(keepends=True):
        text = line.decode("latin-1")
        visible = "".join(_visible(ch) for ch in text)
        out.append(prefix + visible)
    return out


def _visible(ch: str) -> str:
    if ch == "\r":
        return "\\r"
    if ch == "\n":
        return "\\n"
    if ch == "\t":
        return "\\t"
    if ch == "\\":
        return "\\\\"
    code = ord(ch)
    if code < 0x20 or 0x7F <= code:
        return f"\\x{code:02x}"
    return ch
