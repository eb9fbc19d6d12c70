"""The ``service`` of a flow: which application protocol its payload shows, as Zeek guesses it.

Zeek does not name a service from a port number alone: its dynamic protocol detection (DPD)
tries analyzers -- chosen by well-known port or by a payload signature -- and the service is
logged only once an analyzer *confirmed* the protocol by parsing it.  A SYN scan to port 22
therefore has no service, while SSH on port 2222 is ``ssh``.  We do the same, on the first
payload bytes of each direction, with Zeek's service names:

- ``http``: a request line (``GET / HTTP/1.1``: a method, a space, a target) from the
  originator, or a status line ``HTTP/1.x`` from the responder (RFC 9112 sections 3 and 4);
- ``ssl`` (Zeek's name for TLS and SSL): a handshake record, content type 22, version 3.x,
  carrying a ClientHello (type 1) or ServerHello (type 2) (RFC 8446 section 5.1);
- ``ssh``: the identification string ``SSH-`` (RFC 4253 section 4.2);
- ``dns``: on port 53 or 5353 (the analyzer is chosen by port), a 12-byte header whose counts
  are plausible and whose first question name parses (RFC 1035 section 4.1); over TCP after
  the two-byte length prefix (section 4.2.2).

Anything else, and a flow that never carried payload, has no service (``None``, which the
TSV log prints as ``-``, Zeek's unset field).
"""

from __future__ import annotations

from wirelab.monitor.keys import TCP

_METHODS = (b"GET ", b"POST ", b"HEAD ", b"PUT ", b"DELETE ", b"OPTIONS ", b"CONNECT ",
            b"PATCH ", b"TRACE ")
DNS_PORTS = frozenset({53, 5353})
SNIFF_SEGMENTS = 4
"""Payload-carrying packets of a flow looked at before giving up on naming its service."""


def guess(data: bytes | memoryview, from_orig: bool, proto: int, ports: tuple[int, int]) -> \
        str | None:
    """The service that ``data``, the payload of one packet, confirms; None if none does."""
    head = bytes(data[:16])
    if proto == TCP:
        if from_orig and head.startswith(_METHODS) or not from_orig and \
                head.startswith((b"HTTP/1.", b"HTTP/2")):
            return "http"
        if head.startswith(b"SSH-"):
            return "ssh"
        if _tls_hello(head, from_orig):
            return "ssl"
        if DNS_PORTS & set(ports) and len(data) >= 14 and _dns(data[2:]):
            return "dns"
        return None
    if DNS_PORTS & set(ports) and _dns(data):
        return "dns"
    return None


def _tls_hello(head: bytes, from_orig: bool) -> bool:
    """A TLS record header (type 22, version 3.0-3.4) followed by a Client/ServerHello."""
    if len(head) < 6 or head[0] != 22 or head[1] != 3 or head[2] > 4:
        return False
    return head[5] == (1 if from_orig else 2)


def _dns(msg: bytes | memoryview) -> bool:
    """A DNS header with at most a few questions and a first name that parses."""
    if len(msg) < 12:
        return False
    opcode = (msg[2] >> 3) & 0x0F
    qdcount = msg[4] << 8 | msg[5]
    if opcode > 6 or qdcount > 16:
        return False
    if qdcount == 0:
        return (msg[2] & 0x80) != 0  # a response may carry no question (e.g. some errors)
    pos = 12
    for _ in range(64):  # labels of the first question name (RFC 1035 section 3.1)
        if pos >= len(msg):
            return False
        length = msg[pos]
        if length == 0:
            return pos + 5 <= len(msg)  # the root label, then QTYPE and QCLASS
        if length & 0xC0:
            return False  # no compression pointer can come before any name
        pos += 1 + length
    return False
