"""A UDP datagram whose header we pack ourselves, sent on a raw socket (curriculum 1.4).

The header bytes come from the wire codec (:class:`wirelab.wire.udp.UDP`, and
:class:`wirelab.wire.ipv4.IPv4` with ``hdrincl``); this module picks the addresses, opens the
socket and sends.

The curriculum says the kernel fills in the UDP checksum on an ``IPPROTO_UDP`` raw socket.  It
does not: on a raw socket the kernel builds only the IP header (raw(7)); whatever is in the
UDP checksum field leaves the machine as it is.  A zero there happens to be legal over IPv4
("no checksum", RFC 768), which is why the curriculum's packet still arrives, but it is not a
checksum.  So the modes are:

- ``auto``: we compute it over the pseudo-header (source and destination address, protocol 17,
  UDP length; RFC 768), which needs the source address the packet will carry;
- ``zero``: 0, "no checksum" (legal over IPv4; over IPv6 receivers must drop it, RFC 8200
  section 8.1);
- an explicit 16-bit value, sent as given, to watch a receiver drop a bad datagram.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
from dataclasses import dataclass

from wirelab.errors import ExitCode, NetworkError, PrivilegeError, WirelabError
from wirelab.wire.ipv4 import FLAG_DF, IPProto, IPv4
from wirelab.wire.udp import UDP

AUTO = "auto"
ZERO = "zero"

LAB_HINT = "wirelab lab exec client -- wirelab raw udp ..."


class RawArgumentError(WirelabError):
    """A combination of options that cannot be sent (``--hdrincl`` to an IPv6 address...)."""

    exit_code = ExitCode.BAD_INPUT


def parse_checksum(text: str) -> str | int:
    """``auto``, ``zero``, or a 16-bit value in hex (``0xbeef`` or ``beef``)."""
    lowered = text.strip().lower()
    if lowered in (AUTO, ZERO):
        return lowered
    try:
        value = int(lowered, 16)
    except ValueError:
        raise RawArgumentError(f"bad --checksum {text!r}: auto, zero or a hex value") from None
    if not 0 <= value <= 0xFFFF:
        raise RawArgumentError(f"bad --checksum {text!r}: does not fit 16 bits")
    return value


@dataclass(frozen=True, slots=True)
class RawUDP:
    """Everything about one datagram to send, with the bytes already packed."""

    family: int
    src: str  # the source address the packet will carry (what the checksum covers)
    dst: str
    udp: UDP
    wire: bytes  # what is handed to sendto(): the UDP datagram, or IPv4 header + datagram
    checksum_mode: str | int
    correct_checksum: int  # the checksum ``auto`` would have sent, for comparison
    ip: IPv4 | None = None

    @property
    def hdrincl(self) -> bool:
        return self.ip is not None

    @property
    def datagram(self) -> bytes:
        return self.wire[self.ip.header_length:] if self.ip is not None else self.wire

    def explain_checksum(self) -> str:
        mode, value = self.checksum_mode, self.udp.checksum
        ver = "IPv6" if self.family == socket.AF_INET6 else "IPv4"
        if mode == AUTO:
            return (f"0x{value:04x} (auto: computed over the {ver} pseudo-header "
                    f"{self.src} -> {self.dst}, protocol 17, length {len(self.datagram)})")
        if mode == ZERO:
            if self.family == socket.AF_INET6:
                return ("0x0000 (zero: forbidden over IPv6 by RFC 8200 section 8.1; "
                        "the receiver drops it)")
            return "0x0000 (zero: no checksum, allowed over IPv4 by RFC 768; nobody checks it)"
        verdict = "correct" if value == self.correct_checksum else (
            f"wrong: the right one is 0x{self.correct_checksum:04x}, receivers will drop it")
        return f"0x{value:04x} (as given; {verdict})"


def family_of(address: str) -> int:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise RawArgumentError(f"not an IP address: {address!r}") from None
    return socket.AF_INET6 if ip.version == 6 else socket.AF_INET


def resolve_dst(host: str) -> str:
    """An address for ``host`` (a literal, or a name such as a lab host's)."""
    try:
        family_of(host)
        return host
    except RawArgumentError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_DGRAM)
    except socket.gaierror as exc:
        raise NetworkError(f"cannot resolve {host!r}: {exc.strerror}") from None
    return str(infos[0][4][0])


def source_for(dst: str, dport: int) -> str:
    """The source address the kernel would pick to reach ``dst`` (its routing decision).

    connect() on a UDP socket sends nothing but runs the route lookup and fixes the local
    address, which getsockname() then reports: the same answer ``ip route get`` gives.
    """
    family = family_of(dst)
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((dst, dport))
        except OSError as exc:
            raise NetworkError(f"no route to {dst}: {exc.strerror}") from None
        return str(probe.getsockname()[0])


def build(dst: str, dport: int, *, sport: int = 12345, payload: bytes = b"",
          checksum: str | int = AUTO, src: str | None = None, hdrincl: bool = False,
          ttl: int = 64, ip_id: int | None = None) -> RawUDP:
    """Pack the datagram (and with ``hdrincl`` the IPv4 header) for ``dst``."""
    family = family_of(dst)
    if hdrincl and family != socket.AF_INET:
        raise RawArgumentError("--hdrincl builds an IPv4 header: give an IPv4 destination")
    if src is None:
        src = source_for(dst, dport)
    elif family_of(src) != family:
        raise RawArgumentError(f"--src {src} and destination {dst} are different IP versions")
    correct = UDP(sport, dport, payload=payload).encode(src=src, dst=dst)
    correct_sum = int.from_bytes(correct[6:8], "big")
    if checksum == AUTO:
        udp = UDP(sport, dport, checksum=correct_sum, payload=payload)
    else:
        udp = UDP(sport, dport, checksum=0 if checksum == ZERO else int(checksum),
                  payload=payload)
    datagram = udp.encode()
    udp.length = len(datagram)
    if not hdrincl:
        return RawUDP(family, src, dst, udp, datagram, checksum, correct_sum)
    if ip_id is None:
        # The kernel replaces a zero id with its own (raw(7)); pick one so that what we
        # print is what goes on the wire.
        ip_id = int.from_bytes(os.urandom(2), "big") or 1
    ip = IPv4(id=ip_id, flags=FLAG_DF, ttl=ttl, proto=IPProto.UDP, src=src, dst=dst,
              payload=datagram)
    wire = ip.encode()
    ip = IPv4.decode(wire)  # the header with its computed length and checksum filled in
    return RawUDP(family, src, dst, udp, wire, checksum, correct_sum, ip)


def open_raw(family: int, *, hdrincl: bool) -> socket.socket:
    """A raw socket; a missing CAP_NET_RAW becomes one line pointing to the lab.

    With ``hdrincl`` it is ``IPPROTO_RAW``, which implies IP_HDRINCL (raw(7)): we supply the
    whole IPv4 header; the kernel still fills in the total length and header checksum (the
    same values we computed) and an id or source left zero.  It is also send-only, so it
    does not queue copies of every UDP packet the host receives as an IPPROTO_UDP one would.
    """
    proto = socket.IPPROTO_RAW if hdrincl else socket.IPPROTO_UDP
    try:
        sock = socket.socket(family, socket.SOCK_RAW, proto)
    except PermissionError:
        raise PrivilegeError(
            "raw sockets need CAP_NET_RAW: run as root, or in the lab where you have it: "
            + LAB_HINT) from None
    if hdrincl:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    return sock


def send(packet: RawUDP, *, ttl: int | None = None) -> int:
    """Send the packet; return the number of bytes handed to the kernel."""
    sock = open_raw(packet.family, hdrincl=packet.hdrincl)
    with sock:
        try:
            if not packet.hdrincl:
                # Bind to the source the checksum was computed for, so the kernel cannot
                # pick another one (a host with several addresses on the route).
                sock.bind((packet.src, 0))
                if ttl is not None:
                    level = (socket.IPPROTO_IPV6 if packet.family == socket.AF_INET6
                             else socket.IPPROTO_IP)
                    opt = (socket.IPV6_UNICAST_HOPS if packet.family == socket.AF_INET6
                           else socket.IP_TTL)
                    sock.setsockopt(level, opt, ttl)
            # The port of a raw socket's address is not a UDP port; it must be 0 (ipv6(7)).
            return sock.sendto(packet.wire, (packet.dst, 0))
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL:
                raise NetworkError(f"{packet.src} is not an address of this host "
                                   "(use --hdrincl to write any source address)") from None
            if exc.errno == errno.EMSGSIZE:
                raise NetworkError(f"{len(packet.wire)} bytes do not fit the path MTU "
                                   f"towards {packet.dst}") from None
            raise NetworkError(f"sending to {packet.dst} failed: {exc.strerror}") from None

