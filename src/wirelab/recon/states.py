"""Port states and reasons, as nmap defines them (nmap book, "Port Scanning Basics" and the
``--reason`` names in nmap's reason.cc).  Only rules here; the scans do the I/O.

SYN scan: a SYN/ACK (or a bare SYN: a split handshake) means open; a RST means closed; an
ICMP destination unreachable of code 0, 1, 2, 3, 9, 10 or 13 means filtered; no answer after
the retransmission means filtered.  Connect scan: connect() succeeding means open, refused
(the peer's RST) closed, anything else (time-out, an ICMP error turned into EHOSTUNREACH or
ENETUNREACH) filtered.  A time-out is never "closed".

UDP scan (nmap ``-sU``): any UDP reply means open (udp-response); an ICMP port unreachable
(type 3 code 3) closed (port-unreach); the other unreachables nmap lists for UDP (codes 0, 1,
2, 9, 10, 13) filtered; silence after the retransmissions open|filtered (no-response), since
an open UDP service that ignores an empty datagram and a firewall that drops it look the same.
"""

from __future__ import annotations

import errno
from enum import StrEnum

from wirelab.wire.icmp import UnreachableCode


class PortState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    FILTERED = "filtered"
    OPEN_FILTERED = "open|filtered"


class Reason(StrEnum):
    """nmap's reason names, printed by ``--reason``."""

    SYN_ACK = "syn-ack"
    SPLIT_HANDSHAKE_SYN = "split-handshake-syn"
    RESET = "reset"
    CONN_REFUSED = "conn-refused"
    NO_RESPONSE = "no-response"
    NET_UNREACH = "net-unreach"
    HOST_UNREACH = "host-unreach"
    PROTO_UNREACH = "proto-unreach"
    PORT_UNREACH = "port-unreach"
    NET_PROHIBITED = "net-prohibited"
    HOST_PROHIBITED = "host-prohibited"
    ADMIN_PROHIBITED = "admin-prohibited"
    UDP_RESPONSE = "udp-response"


Verdict = tuple[PortState, Reason]

# ICMP type 3 codes that mark a TCP port filtered (RFC 792, RFC 1812 section 5.2.7.1).
ICMP_FILTERED: dict[int, Reason] = {
    UnreachableCode.NET: Reason.NET_UNREACH,
    UnreachableCode.HOST: Reason.HOST_UNREACH,
    UnreachableCode.PROTOCOL: Reason.PROTO_UNREACH,
    UnreachableCode.PORT: Reason.PORT_UNREACH,
    UnreachableCode.NET_PROHIBITED: Reason.NET_PROHIBITED,
    UnreachableCode.HOST_PROHIBITED: Reason.HOST_PROHIBITED,
    UnreachableCode.ADMIN_PROHIBITED: Reason.ADMIN_PROHIBITED,
}

NO_ANSWER: Verdict = (PortState.FILTERED, Reason.NO_RESPONSE)
UDP_NO_ANSWER: Verdict = (PortState.OPEN_FILTERED, Reason.NO_RESPONSE)
UDP_ANSWER: Verdict = (PortState.OPEN, Reason.UDP_RESPONSE)


# Plain ints: ``&`` with an IntFlag member runs Python code, and this runs once an answer.
# TCP control bits (RFC 9293 section 3.1), as plain ints: ``&`` with an IntFlag member runs
# Python code, and this runs once an answer; wirelab.wire.tcp.TCPFlags has the same values.
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
_RST, _SYN, _ACK = RST, SYN, ACK


def from_tcp_flags(flags: int) -> Verdict | None:
    """The verdict a TCP reply to our SYN gives, or None if it says nothing."""
    flags = int(flags)
    if flags & _RST:
        return PortState.CLOSED, Reason.RESET
    if flags & _SYN:
        reason = Reason.SYN_ACK if flags & _ACK else Reason.SPLIT_HANDSHAKE_SYN
        return PortState.OPEN, reason
    return None


def from_icmp_unreachable(code: int) -> Verdict | None:
    """The verdict of an ICMP destination unreachable quoting our probe (None: ignored)."""
    reason = ICMP_FILTERED.get(code)
    return None if reason is None else (PortState.FILTERED, reason)


def from_connect_errno(err: int) -> Verdict:
    """The verdict of connect()'s outcome: 0 (success) or the errno it failed with."""
    if err == 0:
        return PortState.OPEN, Reason.SYN_ACK
    if err == errno.ECONNREFUSED:
        return PortState.CLOSED, Reason.CONN_REFUSED
    if err == errno.ENETUNREACH:
        return PortState.FILTERED, Reason.NET_UNREACH
    if err == errno.EHOSTUNREACH:
        return PortState.FILTERED, Reason.HOST_UNREACH
    return NO_ANSWER


def from_udp_icmp(code: int) -> Verdict | None:
    """The verdict of an ICMP destination unreachable quoting our UDP probe (None: ignored).

    Code 3 (port unreachable) is the target's own UDP stack saying nothing listens: closed.
    The other codes nmap honours for UDP mark the port filtered (nmap book, "UDP Scan").
    """
    if code == UnreachableCode.PORT:
        return PortState.CLOSED, Reason.PORT_UNREACH
    return from_icmp_unreachable(code)
