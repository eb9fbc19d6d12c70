"""Cisco NetFlow version 5: a 24-byte header and up to 30 records of 48 bytes each.

NetFlow v5 has no RFC; the layout is Cisco's ("NetFlow Export Datagram Format", the
version 5 header and flow record tables), the one every collector reads.  All fields are
big-endian.  Header::

    version(2)=5  count(2)  sys_uptime(4)  unix_secs(4)  unix_nsecs(4)
    flow_sequence(4)  engine_type(1)  engine_id(1)  sampling_interval(2)

``sys_uptime`` is the exporter's milliseconds since boot when the datagram was sent, and
``unix_secs``/``unix_nsecs`` the wall clock at that same moment.  A record's ``first`` and
``last`` are *uptime* milliseconds, so a collector computes a packet's wall time as
``unix time - sys_uptime + first`` (nfdump does exactly this).  Uptime is 32 bits: it wraps
after 49.7 days, which is why we set "boot" at the first flow we export rather than at the
epoch.  ``flow_sequence`` counts the records sent before this datagram, so a collector can
count the ones it lost.  Record::

    srcaddr(4) dstaddr(4) nexthop(4) input(2) output(2) dPkts(4) dOctets(4) first(4) last(4)
    srcport(2) dstport(2) pad1(1) tcp_flags(1) prot(1) tos(1) src_as(2) dst_as(2)
    src_mask(1) dst_mask(1) pad2(2)

``dOctets`` are layer-3 bytes (IP header included); ``tcp_flags`` is the OR of the flags of
every packet of the flow.  IPv4 only: an IPv6 flow cannot be written in v5 (use IPFIX).
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from wirelab.errors import DecodeError, EncodeError, TruncatedError
from wirelab.monitor.export.records import UniFlow

VERSION = 5
MAX_RECORDS = 30
HEADER = struct.Struct("!HHIIIIBBH")
RECORD = struct.Struct("!4s4s4sHHIIIIHHxBBBHHBBxx")
assert HEADER.size == 24 and RECORD.size == 48

_U32 = 0xFFFFFFFF


@dataclass(frozen=True)
class Header:
    count: int
    sys_uptime: int
    unix_secs: int
    unix_nsecs: int
    flow_sequence: int
    engine_type: int = 0
    engine_id: int = 0
    sampling_interval: int = 0


class Exporter:
    """Packs :class:`UniFlow` records into v5 datagrams (sans-IO: returns bytes).

    ``boot_ms`` is the exporter's boot time in epoch milliseconds: uptimes are counted from
    it.  By default it is set from the first flow, so replaying a capture of any date keeps
    uptimes small, and moved back when a flow that started earlier comes later.  Uptime is
    32 bits of milliseconds: a replay spanning more than 49.7 days wraps it.  Each
    datagram's header time is the latest end among its records (a replayed capture looks as
    if exported when its flows ended).
    """

    def __init__(self, engine_type: int = 0, engine_id: int = 0,
                 boot_ms: int | None = None) -> None:
        self.engine_type = engine_type
        self.engine_id = engine_id
        self.boot_ms = boot_ms
        self.sequence = 0
        self.skipped = 0
        """Records that v5 cannot carry (IPv6)."""

    def datagrams(self, flows: Iterable[UniFlow]) -> Iterator[bytes]:
        """Datagrams of up to 30 records for ``flows`` (IPv6 flows are skipped, counted)."""
        batch: list[UniFlow] = []
        for flow in flows:
            if ":" in flow.src:
                self.skipped += 1
                continue
            batch.append(flow)
            if len(batch) == MAX_RECORDS:
                yield self.datagram(batch)
                batch = []
        if batch:
            yield self.datagram(batch)

    def datagram(self, flows: list[UniFlow]) -> bytes:
        """One datagram for 1 to 30 IPv4 records."""
        if not 1 <= len(flows) <= MAX_RECORDS:
            raise EncodeError(f"a NetFlow v5 datagram holds 1 to 30 records, not {len(flows)}")
        earliest = min(f.first_ms for f in flows)
        if self.boot_ms is None or earliest < self.boot_ms:
            # Flows are exported as they end, so a long flow may come after shorter ones
            # that started later.  Its start cannot be an uptime before boot: move boot
            # back.  Each datagram carries its own (uptime, wall clock) pair, and that pair
            # is all a collector uses to place the datagram's records in time.
            self.boot_ms = earliest
        boot = self.boot_ms
        now = max(f.last_ms for f in flows)
        out = [HEADER.pack(VERSION, len(flows), (now - boot) & _U32, now // 1000,
                           (now % 1000) * 1_000_000, self.sequence & _U32, self.engine_type,
                           self.engine_id, 0)]
        for f in flows:
            try:
                out.append(RECORD.pack(
                    socket.inet_aton(f.src), socket.inet_aton(f.dst), bytes(4), 0, 0,
                    f.packets & _U32, f.octets & _U32, (f.first_ms - boot) & _U32,
                    (f.last_ms - boot) & _U32, f.sport, f.dport, f.tcp_flags & 0xFF, f.proto,
                    0, 0, 0, 0, 0))
            except (OSError, struct.error) as exc:
                raise EncodeError(f"cannot encode flow {f.src} -> {f.dst}: {exc}") from None
        self.sequence += len(flows)
        return b"".join(out)


def decode(data: bytes) -> tuple[Header, list[UniFlow]]:
    """Header and records of one v5 datagram, times made absolute as a collector does."""
    if len(data) < HEADER.size:
        raise TruncatedError("NetFlow5", "header", 0, f"{len(data)} bytes")
    version, count, uptime, secs, nsecs, seq, etype, eid, sampling = HEADER.unpack_from(data)
    if version != VERSION:
        raise DecodeError("NetFlow5", "version", 0, f"{version}, not 5")
    if len(data) < HEADER.size + count * RECORD.size:
        raise TruncatedError("NetFlow5", "records", HEADER.size, f"count {count}")
    header = Header(count, uptime, secs, nsecs, seq, etype, eid, sampling)
    boot = secs * 1000 + nsecs // 1_000_000 - uptime
    flows = []
    for i in range(count):
        (src, dst, _hop, _in, _out, pkts, octets, first, last, sport, dport, flags, proto,
         _tos, _sas, _das, _sm, _dm) = RECORD.unpack_from(data, HEADER.size + i * RECORD.size)
        flows.append(UniFlow(socket.inet_ntoa(src), socket.inet_ntoa(dst), sport, dport, proto,
                             pkts, octets, boot + first, boot + last, flags))
    return header, flows
