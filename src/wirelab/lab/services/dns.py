"""The lab's DNS server: authoritative for the lab's names, and nothing else.

It answers from a zone file written by ``up`` (name -> addresses): ``A`` for ``HOST.lab`` (and
for the bare ``HOST``), ``PTR`` for the lab's addresses under in-addr.arpa (RFC 1035 3.5), an
empty answer with the zone's SOA for other types of a known name (NODATA, RFC 2308 section
2.2), NXDOMAIN for unknown names under ``lab``, and REFUSED for everything else: it is not a
recursive resolver and never asks anybody (hermetic).  UDP and TCP on port 53 (RFC 1035 4.2);
messages are decoded and built with :mod:`wirelab.wire.dns`.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import struct
import threading

from wirelab.errors import DecodeError
from wirelab.lab.services.common import (
    announce_ready,
    parse_args,
    serve_tcp,
    tcp_listener,
    wait_forever,
)
from wirelab.wire.dns import (
    PTR,
    SOA,
    A,
    DNSMessage,
    Opcode,
    QClass,
    QType,
    Rcode,
    ResourceRecord,
)

DOMAIN = "lab"
TTL = 60
_U16 = struct.Struct("!H")


class Zone:
    """The lab's names and addresses, and the answer to one question."""

    def __init__(self, names: dict[str, list[str]]) -> None:
        self.forward = {name.lower(): addrs for name, addrs in names.items()}
        self.reverse = {ipaddress.IPv4Address(a).reverse_pointer: name
                        for name, addrs in names.items() for a in addrs}
        self.soa = ResourceRecord(DOMAIN, SOA(mname=f"ns.{DOMAIN}", rname=f"hostmaster.{DOMAIN}",
                                              serial=1, refresh=3600, retry=600, expire=86400,
                                              minimum=TTL), ttl=TTL)

    def answer(self, query: DNSMessage) -> DNSMessage:
        if query.opcode != Opcode.QUERY:
            return query.reply(rcode=Rcode.NOTIMP, aa=False)
        if len(query.questions) != 1:
            return query.reply(rcode=Rcode.FORMERR, aa=False)
        question = query.questions[0]
        name = question.name.lower().rstrip(".")
        if "." not in name and f"{name}.{DOMAIN}" in self.forward:
            name = f"{name}.{DOMAIN}"  # a bare host name, as `dig server @...` sends it
        if question.qclass not in (QClass.IN, QClass.ANY):
            return query.reply(rcode=Rcode.REFUSED, aa=False)
        if name in self.forward:
            if question.qtype in (QType.A, QType.ANY):
                return query.reply([ResourceRecord(question.name, A(a), ttl=TTL)
                                    for a in self.forward[name]])
            return query.reply(authorities=[self.soa])
        if name in self.reverse:
            if question.qtype in (QType.PTR, QType.ANY):
                return query.reply([ResourceRecord(question.name, PTR(self.reverse[name]),
                                                   ttl=TTL)])
            return query.reply(authorities=[self.soa])
        if name == DOMAIN or name.endswith("." + DOMAIN):
            return query.reply(rcode=Rcode.NXDOMAIN, authorities=[self.soa])
        return query.reply(rcode=Rcode.REFUSED, aa=False)

    def respond(self, data: bytes) -> bytes | None:
        """Bytes in, bytes out; None when the input is not even a DNS header."""
        try:
            query = DNSMessage.decode(data)
        except DecodeError:
            if len(data) < 12:
                return None
            (ident,) = _U16.unpack_from(data)  # RFC 1035 4.1.1: FORMERR keeps the ID
            return DNSMessage(id=ident, qr=True, rcode=Rcode.FORMERR).encode()
        if query.qr:
            return None  # a response sent to us: never answer it (no reflection loops)
        return self.answer(query).encode()


def _serve_udp(zone: Zone, sock: socket.socket) -> None:
    while True:
        data, peer = sock.recvfrom(65535)
        reply = zone.respond(data)
        if reply is None:
            continue
        if len(reply) > 512:  # RFC 1035 4.2.1: truncate over UDP, the client retries on TCP
            query = DNSMessage.decode(data)
            reply = DNSMessage(id=query.id, qr=True, aa=True, tc=True,
                               questions=query.questions).encode()
        sock.sendto(reply, peer)


def _serve_tcp_conn(zone: Zone, conn: socket.socket) -> None:
    conn.settimeout(10.0)
    buf = b""
    while True:
        chunk = conn.recv(65535)
        if not chunk:
            return
        buf += chunk
        while len(buf) >= 2:
            (length,) = _U16.unpack_from(buf)
            if len(buf) < 2 + length:
                break
            message, buf = buf[2:2 + length], buf[2 + length:]
            reply = zone.respond(message)
            if reply is None:
                return
            conn.sendall(_U16.pack(len(reply)) + reply)


def main(argv: list[str] | None = None) -> int:
    args = parse_args("dns", argv)
    with open(args.zone) as handle:
        zone = Zone(json.load(handle))
    port = (args.port or [53])[0]
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("0.0.0.0", port))
    threading.Thread(target=_serve_udp, args=(zone, udp), daemon=True).start()
    serve_tcp(tcp_listener(port), lambda conn, _addr: _serve_tcp_conn(zone, conn))
    announce_ready()
    wait_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
