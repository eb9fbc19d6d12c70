"""A small filter language to pick packets: a subset of tcpdump's (pcap-filter(7)) syntax.

Grammar (keywords are case-insensitive)::

    expr      := term   { ("or"  | "||") term }
    term      := factor { ("and" | "&&") factor }
    factor    := ("not" | "!") factor  |  "(" expr ")"  |  primitive
    primitive := "tcp" | "udp" | "icmp"                 (icmp matches ICMPv6 too)
               | [ "src" | "dst" ] "host" ADDRESS       (IPv4 or IPv6)
               | [ "src" | "dst" ] "port" NUMBER
               | "stream" NUMBER                       (tshark's tcp.stream or udp.stream)

Two primitives side by side need an ``and``, as in tcpdump.  Examples: ``tcp port 80`` is
not valid (write ``tcp and port 80``); ``host 198.18.0.1 and not port 22``;
``udp and (dst port 53 or dst port 8000)``.

A syntax error raises :class:`FilterError`, naming the position of the bad token.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass

from wirelab.errors import ExitCode, WirelabError
from wirelab.observe.packets import Observed
from wirelab.wire.ipv4 import IPProto

Predicate = Callable[[Observed, int | None], bool]
"""A compiled filter: (packet, its stream number or None) -> keep it?"""

_TOKEN = re.compile(r"\s*(\(|\)|&&|\|\||!|[^\s()!&|]+)")
_PROTOS = {"tcp": (IPProto.TCP,), "udp": (IPProto.UDP,), "icmp": (IPProto.ICMP, IPProto.ICMPV6)}


class FilterError(WirelabError):
    """A filter expression that does not parse."""

    exit_code = ExitCode.USAGE


@dataclass(frozen=True)
class Filter:
    """A parsed filter: call it with a packet (and its stream number) to test it."""

    text: str
    predicate: Predicate

    def __call__(self, packet: Observed, stream: int | None = None) -> bool:
        return self.predicate(packet, stream)


def _tokens(text: str) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    pos = 0
    while pos < len(text):
        rest = text[pos:]
        if rest.strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None:  # only a lone "&" or "|" gets here
            where = pos + len(rest) - len(rest.lstrip()) + 1
            raise FilterError(f"filter {text!r}: unexpected character at {where}")
        out.append((m.group(1), m.start(1)))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokens(text)
        self.i = 0

    def error(self, what: str) -> FilterError:
        if self.i < len(self.toks):
            tok, pos = self.toks[self.i]
            return FilterError(f"filter {self.text!r}: {what} at {pos + 1} ({tok!r})")
        return FilterError(f"filter {self.text!r}: {what} at the end")

    def peek(self) -> str | None:
        return self.toks[self.i][0].lower() if self.i < len(self.toks) else None

    def take(self) -> str:
        if self.i >= len(self.toks):
            raise self.error("expression incomplete")
        tok = self.toks[self.i][0]
        self.i += 1
        return tok

    def parse(self) -> Predicate:
        if not self.toks:
            raise FilterError("filter is empty")
        pred = self.expr()
        if self.i < len(self.toks):
            raise self.error("expected 'and', 'or' or the end")
        return pred

    def expr(self) -> Predicate:
        left = self.term()
        while self.peek() in ("or", "||"):
            self.i += 1
            right = self.term()
            left = _or(left, right)
        return left

    def term(self) -> Predicate:
        left = self.factor()
        while self.peek() in ("and", "&&"):
            self.i += 1
            right = self.factor()
            left = _and(left, right)
        return left

    def factor(self) -> Predicate:
        tok = self.peek()
        if tok in ("not", "!"):
            self.i += 1
            inner = self.factor()
            return lambda p, s: not inner(p, s)
        if tok == "(":
            self.i += 1
            inner = self.expr()
            if self.peek() != ")":
                raise self.error("expected ')'")
            self.i += 1
            return inner
        return self.primitive()

    def primitive(self) -> Predicate:
        tok = self.peek()
        if tok in _PROTOS:
            self.i += 1
            protos = _PROTOS[tok]
            return lambda p, s: p.proto in protos
        if tok == "stream":
            self.i += 1
            number = self.number("stream number", 1 << 32)
            return lambda p, s: s == number
        direction = None
        if tok in ("src", "dst"):
            direction = tok
            self.i += 1
            tok = self.peek()
        if tok == "host":
            self.i += 1
            return _host(self.address(), direction)
        if tok == "port":
            self.i += 1
            return _port(self.number("port", 65536), direction)
        raise self.error("expected tcp, udp, icmp, host, port, stream, not or '('")

    def number(self, what: str, limit: int) -> int:
        tok = self.take()
        if not tok.isdigit() or int(tok) >= limit:
            self.i -= 1
            raise self.error(f"expected a {what}")
        return int(tok)

    def address(self) -> str:
        tok = self.take()
        try:
            return str(ipaddress.ip_address(tok))
        except ValueError:
            self.i -= 1
            raise self.error("expected an IPv4 or IPv6 address") from None


def _or(a: Predicate, b: Predicate) -> Predicate:
    return lambda p, s: a(p, s) or b(p, s)


def _and(a: Predicate, b: Predicate) -> Predicate:
    return lambda p, s: a(p, s) and b(p, s)


def _host(addr: str, direction: str | None) -> Predicate:
    if direction == "src":
        return lambda p, s: p.src == addr
    if direction == "dst":
        return lambda p, s: p.dst == addr
    return lambda p, s: addr in (p.src, p.dst)


def _port(port: int, direction: str | None) -> Predicate:
    if direction == "src":
        return lambda p, s: p.sport == port
    if direction == "dst":
        return lambda p, s: p.dport == port
    return lambda p, s: port in (p.sport, p.dport)


def parse_filter(text: str) -> Filter:
    """Compile a filter expression; raises :class:`FilterError` if it does not parse."""
    return Filter(text, _Parser(text).parse())
