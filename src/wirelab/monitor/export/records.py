"""A bidirectional Zeek-style flow as the unidirectional records NetFlow and IPFIX carry.

Zeek (and :mod:`wirelab.monitor.flows`) keeps one record per connection with counters for
each side; NetFlow v5 and IPFIX's basic elements describe packets going one way, from a
source to a destination.  So one conn.log record becomes up to two records: originator to
responder, and responder to originator when the responder sent anything.  A direction that
carried no packet gives no record (a router would not have seen one either).

We chose this over RFC 5103's bidirectional IPFIX (reverse information elements under
enterprise number 29305) so that both export formats say the same thing, and so that any
collector -- nfdump included -- reads the records without a biflow-aware decoder.

What a unidirectional record carries and where each value comes from:

- ``octets``: the IP bytes of that direction (``orig_ip_bytes``/``resp_ip_bytes``, header
  included, as a router's NetFlow counts them).  A record without IP byte counts falls back
  to the payload bytes; :func:`split` says which in ``UniFlow.ip_bytes``.
- ``first_ms``/``last_ms``: the flow's own start and end (``ts``, ``ts + duration``).  The
  conn.log record has no per-direction times, so both directions share the span.
- ``tcp_flags``: rebuilt from ``history`` (S: SYN, H: SYN+ACK, A and D: ACK, F: FIN, R: RST,
  upper case for the originator's direction).  PSH and URG are not recorded by the flow table,
  so they never appear.
- ICMP: NetFlow's convention, type * 256 + code in the destination port, source port 0
  (nfdump prints it as ``type.code``).  Zeek puts the originator's ICMP type in
  ``id.orig_p``, and in ``id.resp_p`` the counterpart type for a request/reply pair (echo
  8 -> 0) or else the code.  So a pair gives ``orig_p.0`` one way and ``resp_p.0`` back; any
  other message gives ``orig_p.resp_p``.  Zeek says ``icmp`` for ICMPv6 too: the address
  family decides between protocol 1 and 58.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

PROTO_NUMBERS = {"icmp": 1, "tcp": 6, "udp": 17}
"""conn.log's ``proto`` (Zeek's transport_proto enum: ICMPv6 is ``icmp`` too)."""
_ICMP_PAIRS = {(8, 0), (13, 14), (15, 16), (17, 18), (10, 9),
               (128, 129), (133, 134), (135, 136), (130, 131), (139, 140)}
"""(request, answer) types of ICMP and ICMPv6 that Zeek pairs into one flow (its
ICMP4_counterpart and ICMP6_counterpart)."""

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
_HISTORY_FLAGS = {"S": SYN, "H": SYN | ACK, "A": ACK, "D": ACK, "F": FIN, "R": RST}


class UniFlow(NamedTuple):
    """One direction of a flow: what a NetFlow v5 or IPFIX data record says.

    A named tuple, not a dataclass: the export makes one or two per flow, and a tuple is
    built several times faster.
    """

    src: str
    dst: str
    sport: int
    dport: int
    proto: int
    packets: int
    octets: int
    first_ms: int
    """Epoch milliseconds of the first packet."""
    last_ms: int
    tcp_flags: int = 0
    ip_bytes: bool = True
    """False when ``octets`` are payload bytes (a record without IP byte counts)."""


def history_flags(history: str, originator: bool) -> int:
    """The TCP flags a direction's history letters imply (upper case: the originator)."""
    flags = 0
    for letter in history:
        if letter.isupper() == originator:
            flags |= _HISTORY_FLAGS.get(letter.upper(), 0)
    return flags


def split(record: Mapping[str, Any]) -> list[UniFlow]:
    """The one or two unidirectional records of a conn.log-style ``record``."""
    proto = PROTO_NUMBERS.get(record["proto"])
    if proto is None:
        return []
    ts = record["ts"]
    first = round(ts * 1000)
    last = round((ts + (record.get("duration") or 0.0)) * 1000)
    orig_h, resp_h = record["id.orig_h"], record["id.resp_h"]
    orig_p, resp_p = record["id.orig_p"], record["id.resp_p"]
    has_ip = record.get("orig_ip_bytes") is not None
    orig_pkts, resp_pkts = record["orig_pkts"], record["resp_pkts"]
    if has_ip:
        orig_oct, resp_oct = record["orig_ip_bytes"], record["resp_ip_bytes"]
    else:
        orig_oct, resp_oct = record["orig_bytes"], record["resp_bytes"]
    history = record.get("history") or ""
    if proto == 6:
        orig_flags, resp_flags = history_flags(history, True), history_flags(history, False)
        orig_ports, resp_ports = (orig_p, resp_p), (resp_p, orig_p)
    elif proto == 17:
        orig_flags = resp_flags = 0
        orig_ports, resp_ports = (orig_p, resp_p), (resp_p, orig_p)
    else:  # ICMP
        if ":" in orig_h:
            proto = 58
        orig_flags = resp_flags = 0
        orig_ports = (0, _icmp_port(orig_p, resp_p, True))
        resp_ports = (0, _icmp_port(orig_p, resp_p, False))
    out = []
    if orig_pkts:
        out.append(UniFlow(orig_h, resp_h, *orig_ports, proto, orig_pkts, orig_oct, first, last,
                           orig_flags, has_ip))
    if resp_pkts:
        out.append(UniFlow(resp_h, orig_h, *resp_ports, proto, resp_pkts, resp_oct, first, last,
                           resp_flags, has_ip))
    return out


def _icmp_port(orig_p: int, resp_p: int, originator: bool) -> int:
    """NetFlow's ICMP type * 256 + code for one direction of a Zeek ICMP flow."""
    if (orig_p, resp_p) in _ICMP_PAIRS or (resp_p, orig_p) in _ICMP_PAIRS:
        return (orig_p if originator else resp_p) * 256
    return orig_p * 256 + resp_p
