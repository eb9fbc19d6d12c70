"""The UDP scan (nmap ``-sU``).

A UDP port has no handshake to complete, so the states come from what the target does with a
datagram (nmap book, "UDP Scan (-sU)"):

- any UDP reply from the port: open (``udp-response``);
- ICMP port unreachable (type 3 code 3): closed (``port-unreach``): the target's UDP stack
  found no socket (RFC 1122 section 4.1.3.1);
- ICMP unreachable codes 0, 1, 2, 9, 10, 13: filtered (a router or a firewall said no);
- silence after the retransmissions: open|filtered (``no-response``): an open service that
  ignores the datagram and a firewall that drops it look the same.

So the probe should be something a service answers: for the ports of nmap's
``nmap-payloads`` we send the same kind of request (DNS: a header-only query with opcode
STATUS, which a server answers even if only with NOTIMP; NTP: a version 4 client request);
other ports get an empty datagram, as nmap sends.

Probes: IPv4 + UDP from the wire codecs on an ``IPPROTO_RAW`` socket; answers on AF_PACKET
with a BPF filter (UDP from the target, ICMP unreachables).  Matching: the source port of the
probe to port P at try t is a keyed cookie, BLAKE2b(key, P, t) mapped to 1024..65535; a UDP
reply must come from P to that port, an ICMP error must quote it (RFC 792: the IP header and
the first 8 bytes, the whole UDP header).  For DNS the transaction ID carries the cookie too.

Linux limits ICMP errors (:mod:`wirelab.recon.ratelimit`): closed ports beyond a burst of
six answer at about one a second, so silence after ICMP answers makes the loop slow down to
that rate (:class:`wirelab.recon.timing.ProbeLoop`), and the result says so in ``notes``.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import socket
import struct

from wirelab.craft import bpf
from wirelab.recon import ratelimit, states
from wirelab.recon.result import Progress, ScanResult
from wirelab.recon.timing import TEMPLATES, Answer, ProbeLoop, Template, recv_all
from wirelab.sockets.raw import open_raw, source_for
from wirelab.wire.ipv4 import IPProto, IPv4
from wirelab.wire.udp import UDP

ETH_HLEN = 14
MAX_TRIES = 16
_UDP_PORTS = struct.Struct("!HH")

DNS_PORTS = frozenset({53, 5353})
NTP_REQUEST = b"\xe3" + bytes(47)  # LI 3 (unsynchronised), version 4, mode 3 (client)


def payload(dport: int, cookie: int) -> bytes:
    """What to send to ``dport`` (nmap-payloads' choice for well-known services)."""
    if dport in DNS_PORTS:
        # RFC 1035 4.1.1 header: ID, flags with opcode 2 (STATUS), no records at all.
        return struct.pack("!HHHHHH", cookie, 2 << 11, 0, 0, 0, 0)
    if dport == 123:
        return NTP_REQUEST
    return b""


class Prober:
    """Builds UDP probes, sends them, and reads the answers."""

    def __init__(self, src: str, dst: str, key: bytes | None = None) -> None:
        self.src, self.dst = src, dst
        self.key = key if key is not None else os.urandom(16)
        self.target_bytes = socket.inet_aton(dst)
        self._cookies: dict[tuple[int, int], int] = {}
        self.rx: socket.socket | None = None
        self.tx: socket.socket | None = None

    def cookie(self, dport: int, tryno: int) -> int:
        """The source port of the probe to ``dport`` at try ``tryno``: 1024..65535."""
        value = self._cookies.get((dport, tryno))
        if value is None:
            digest = hashlib.blake2b(struct.pack("!4sHH", self.target_bytes, dport, tryno),
                                     key=self.key, digest_size=4).digest()
            value = 1024 + int.from_bytes(digest, "big") % (65536 - 1024)
            self._cookies[dport, tryno] = value
        return value

    def packet(self, dport: int, tryno: int) -> bytes:
        sport = self.cookie(dport, tryno)
        datagram = UDP(sport, dport, payload=payload(dport, sport)).encode(self.src, self.dst)
        return IPv4(ttl=64, proto=IPProto.UDP, src=self.src, dst=self.dst,
                    payload=datagram).encode()

    def open(self) -> None:
        self.rx = open_receiver(self.dst)
        self.tx = open_raw(socket.AF_INET, hdrincl=True)
        self.tx.connect((self.dst, 0))

    def close(self) -> None:
        for sock in (self.rx, self.tx):
            if sock is not None:
                sock.close()

    def send(self, dport: int, tryno: int) -> None:
        assert self.tx is not None
        self.tx.send(self.packet(dport, tryno))

    def read_answers(self) -> list[Answer]:
        """The answers received since the last call."""
        assert self.rx is not None
        return [a for f in recv_all(self.rx) if (a := self.interpret(f)) is not None]

    def match(self, dport: int, sport: int) -> int | None:
        """The try number whose probe to ``dport`` left from ``sport``, or None."""
        for tryno in range(MAX_TRIES):
            if self.cookie(dport, tryno) == sport:
                return tryno
        return None

    def interpret(self, frame: bytes) -> Answer | None:
        """(port, try, verdict, TTL) if ``frame`` (Ethernet) answers one of our probes."""
        if len(frame) < ETH_HLEN + 20 or frame[ETH_HLEN] >> 4 != 4:
            return None
        ihl = (frame[ETH_HLEN] & 0x0F) * 4
        proto = frame[ETH_HLEN + 9]
        at = ETH_HLEN + ihl
        if proto == IPProto.UDP:
            if (frame[ETH_HLEN + 12:ETH_HLEN + 16] != self.target_bytes
                    or len(frame) < at + 8):
                return None
            rsport, rdport = _UDP_PORTS.unpack_from(frame, at)
            tryno = self.match(rsport, rdport)
            ttl = frame[ETH_HLEN + 8]
            return None if tryno is None else (rsport, tryno, states.UDP_ANSWER, ttl)
        if proto == IPProto.ICMP:
            if len(frame) < at + 8 + 20 or frame[at] != 3:
                return None
            verdict = states.from_udp_icmp(frame[at + 1])
            quoted = at + 8
            qihl = (frame[quoted] & 0x0F) * 4
            if (verdict is None or frame[quoted + 9] != IPProto.UDP
                    or frame[quoted + 16:quoted + 20] != self.target_bytes
                    or len(frame) < quoted + qihl + 4):
                return None
            qsport, qdport = _UDP_PORTS.unpack_from(frame, quoted + qihl)
            tryno = self.match(qdport, qsport)
            ttl = frame[ETH_HLEN + 8]
            return None if tryno is None else (qdport, tryno, verdict, ttl)
        return None


def open_receiver(target: str) -> socket.socket:
    return bpf.open_ip_receiver(
        f"inbound and ((udp and src host {target}) or (icmp and icmp[0] = 3))",
        refusal="a UDP scan needs CAP_NET_RAW: run as root or in a lab host "
        "(wirelab lab exec client -- wirelab scan --type udp ...)")


def udp_scan(target: str, address: str, ports: list[int], *, tpl: Template = TEMPLATES[4],
             max_retries: int = 6, progress: Progress | None = None) -> ScanResult:
    """UDP-scan ``ports`` of ``address`` (already checked against the scope)."""
    prober = Prober(source_for(address, ports[0]), address)
    # Linux never rate-limits ICMP sent over loopback (icmpv4_xrlim_allow): nothing to detect.
    limited = None if ipaddress.ip_address(address).is_loopback else ratelimit.from_icmp
    loop = ProbeLoop(ports, tpl, min(max_retries, MAX_TRIES - 1),
                     silence=states.UDP_NO_ANSWER, progress=progress, icmp_limited=limited)
    prober.open()
    try:
        loop.run(prober)
    finally:
        prober.close()
    result = loop.result(target, address, "udp")
    result.notes.extend(ratelimit.explain(loop, address))
    return result
