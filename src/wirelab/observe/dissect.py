"""Presenting decoded packets the way tshark does: summary lines, field trees, JSON.

The decoding is :func:`wirelab.wire.packet.decode_frame`'s; this module only says what a
person (one line a packet, or a tree with ``-V``) or a script (JSON Lines) wants to read.

Two things need state across packets, as in tshark: times are relative to the first packet,
and TCP sequence numbers are shown relative to each direction's initial sequence number
(Wireshark's "relative sequence numbers").  :class:`Dissector` keeps both.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from wirelab.wire.arp import ARP
from wirelab.wire.capture import CapturedPacket
from wirelab.wire.custom import Custom
from wirelab.wire.dns import DNSMessage, QType, Rcode, ResourceRecord
from wirelab.wire.ethernet import Ethernet, EtherType, LinuxSLL
from wirelab.wire.icmp import ICMP, ICMPType, TimeExceededCode, UnreachableCode
from wirelab.wire.icmpv6 import ICMPv6
from wirelab.wire.ipv4 import IPProto, IPv4
from wirelab.wire.ipv6 import IPv6
from wirelab.wire.packet import Packet, decode_frame, wire_payload_length
from wirelab.wire.tcp import MSS, SACK, TCP, SACKPermitted, TCPFlags, Timestamps, WindowScale
from wirelab.wire.udp import UDP

ARROW = "\u2192"  # tshark's "→"
HTTP_PORTS = frozenset({80, 8080})
_HTTP_METHODS = (b"GET ", b"HEAD ", b"POST ", b"PUT ", b"DELETE ", b"OPTIONS ", b"PATCH ",
                 b"CONNECT ", b"TRACE ")

LAYER_TITLES = {
    "Ethernet": "Ethernet II",
    "SLL": "Linux cooked capture v1",
    "ARP": "Address Resolution Protocol",
    "IPv4": "Internet Protocol Version 4",
    "IPv6": "Internet Protocol Version 6",
    "ICMP": "Internet Control Message Protocol",
    "ICMPv6": "Internet Control Message Protocol v6",
    "UDP": "User Datagram Protocol",
    "TCP": "Transmission Control Protocol",
    "DNS": "Domain Name System",
    "Custom": "wirelab custom protocol (curriculum 2.4)",
}


@dataclass(slots=True)
class Row:
    """One packet as tshark's default columns show it."""

    number: int
    time: float
    src: str
    dst: str
    protocol: str
    length: int
    info: str

    def line(self) -> str:
        return (f"{self.number:>5} {self.time:>12.6f} {self.src:>15} {ARROW} {self.dst:<15} "
                f"{self.protocol:<6} {self.length:>5} {self.info}")


@dataclass(slots=True)
class Dissected:
    """A captured packet, its decoded layers, and its summary row."""

    number: int
    captured: CapturedPacket
    packet: Packet
    row: Row


class Dissector:
    """Turns captured packets into :class:`Dissected` ones, keeping tshark's cross-packet state."""

    def __init__(self) -> None:
        self._first_ts: int | None = None
        self._isn: dict[tuple[str, int, str, int], int] = {}
        self._count = 0

    def dissect(self, captured: CapturedPacket) -> Dissected:
        self._count += 1
        if self._first_ts is None:
            self._first_ts = captured.ts_ns
        packet = decode_frame(captured.data, captured.linktype,
                              snapped=captured.caplen < captured.orig_len)
        rel = (captured.ts_ns - self._first_ts) / 1e9
        row = self._row(self._count, rel, captured, packet)
        return Dissected(self._count, captured, packet, row)

    def run(self, packets: Iterator[CapturedPacket], count: int | None = None
            ) -> Iterator[Dissected]:
        for captured in packets:
            if count is not None and self._count >= count:
                return
            yield self.dissect(captured)

    # -- the summary row --------------------------------------------------------------

    def _row(self, number: int, rel: float, captured: CapturedPacket, pkt: Packet) -> Row:
        src, dst = _addresses(pkt)
        protocol, info = self._info(pkt)
        if pkt.error is not None:
            info = f"{info} [Malformed: {pkt.error}]".lstrip()
        return Row(number, rel, src, dst, protocol, captured.orig_len, info)

    def _info(self, pkt: Packet) -> tuple[str, str]:
        top = pkt.highest
        ip = pkt.get(IPv4) or pkt.get(IPv6)
        if isinstance(top, DNSMessage):
            return "DNS", dns_info(top)
        if isinstance(top, Custom):
            return "Custom", custom_info(top)
        if isinstance(top, TCP):
            assert ip is not None
            http = http_line(top)
            if http is not None:
                return "HTTP", http
            return "TCP", self._tcp_info(ip, top)
        if isinstance(top, UDP):
            return "UDP", f"{top.sport} {ARROW} {top.dport} Len={len(top.payload)}"
        if isinstance(top, ICMP):
            ttl = f", ttl={ip.ttl}" if isinstance(ip, IPv4) else ""
            return "ICMP", icmp_info(top) + (ttl if top.is_echo else "")
        if isinstance(top, ICMPv6):
            return "ICMPv6", icmpv6_info(top)
        if isinstance(top, ARP):
            return "ARP", arp_info(top)
        if isinstance(top, IPv4):
            return "IPv4", ip_info(top.proto, top.frag_offset * 8, top.id, top.is_fragment)
        if isinstance(top, IPv6):
            frag = top.fragment
            return "IPv6", ip_info(top.upper_proto, frag.frag_offset * 8 if frag else 0,
                                   frag.identification if frag else 0, frag is not None)
        if isinstance(top, Ethernet | LinuxSLL):
            kind = top.protocol if isinstance(top, LinuxSLL) else (
                top.vlan[-1].type if top.vlan else top.type)
            return "ETH", f"EtherType 0x{int(kind):04x}"
        return "?", ""

    def _tcp_info(self, ip: IPv4 | IPv6, tcp: TCP) -> str:
        src, dst = ip.src, ip.dst
        fwd = (src, tcp.sport, dst, tcp.dport)
        rev = (dst, tcp.dport, src, tcp.sport)
        flags = tcp.flags
        if flags & TCPFlags.SYN or fwd not in self._isn:
            self._isn[fwd] = tcp.seq
        seq = (tcp.seq - self._isn[fwd]) & 0xFFFFFFFF
        parts = [f"{tcp.sport} {ARROW} {tcp.dport} [{tcp.flag_names()}] Seq={seq}"]
        if flags & TCPFlags.ACK:
            base = self._isn.get(rev)
            parts.append(f"Ack={(tcp.ack - base) & 0xFFFFFFFF if base is not None else tcp.ack}")
        parts.append(f"Win={tcp.window}")
        parts.append(f"Len={wire_payload_length(ip, tcp)}")
        parts.extend(tcp_option_words(tcp))
        return " ".join(parts)


# --- info helpers (pure) --------------------------------------------------------------------


def _addresses(pkt: Packet) -> tuple[str, str]:
    ip = pkt.get(IPv4) or pkt.get(IPv6)
    if ip is not None:
        return ip.src, ip.dst
    link = pkt.get(Ethernet)
    if link is not None:
        return link.src, link.dst
    return "", ""


def http_line(tcp: TCP) -> str | None:
    """The first line of an HTTP message on ports 80/8080, or None if it is not one."""
    if tcp.sport not in HTTP_PORTS and tcp.dport not in HTTP_PORTS:
        return None
    data = tcp.payload
    if not (data.startswith(_HTTP_METHODS) or data.startswith(b"HTTP/1.")):
        return None
    line = data.split(b"\r\n", 1)[0].split(b"\n", 1)[0]
    return line.decode("latin-1") + " "


def tcp_option_words(tcp: TCP) -> list[str]:
    """tshark's option words: ``MSS=1460 SACK_PERM TSval=.. TSecr=.. WS=128``."""
    words: list[str] = []
    for opt in tcp.options:
        if isinstance(opt, MSS):
            words.append(f"MSS={opt.value}")
        elif isinstance(opt, SACKPermitted):
            words.append("SACK_PERM")
        elif isinstance(opt, Timestamps):
            words.append(f"TSval={opt.tsval} TSecr={opt.tsecr}")
        elif isinstance(opt, WindowScale):
            words.append(f"WS={1 << min(opt.shift, 14)}")
        elif isinstance(opt, SACK):
            words.extend(f"SLE={left} SRE={right}" for left, right in opt.blocks)
    return words


_ICMP_NAMES = {
    ICMPType.ECHO_REPLY: "Echo (ping) reply",
    ICMPType.ECHO_REQUEST: "Echo (ping) request",
    ICMPType.DEST_UNREACHABLE: "Destination unreachable",
    ICMPType.TIME_EXCEEDED: "Time-to-live exceeded",
}


def icmp_info(icmp: ICMP) -> str:
    name = _ICMP_NAMES.get(icmp.type, f"Type {icmp.type}")
    if icmp.is_echo:
        return f"{name}  id=0x{icmp.id:04x}, seq={icmp.seq}"
    if icmp.type == ICMPType.DEST_UNREACHABLE:
        return f"{name} ({_code_name(UnreachableCode, icmp.code)})"
    if icmp.type == ICMPType.TIME_EXCEEDED:
        return f"{name} ({_code_name(TimeExceededCode, icmp.code)})"
    return f"{name} code {icmp.code}"


def _code_name(kind: type[enum.IntEnum], code: int) -> str:
    try:
        return kind(code).name.replace("_", " ").lower()
    except ValueError:
        return f"code {code}"


def icmpv6_info(icmp: ICMPv6) -> str:
    names = {128: "Echo (ping) request", 129: "Echo (ping) reply"}
    name = names.get(icmp.type, f"Type {icmp.type}")
    if icmp.type in names:
        return f"{name} id=0x{icmp.id:04x}, seq={icmp.seq}"
    return f"{name} code {icmp.code}"


def arp_info(arp: ARP) -> str:
    if arp.op == 1:
        return f"Who has {arp.tpa}? Tell {arp.spa}"
    if arp.op == 2:
        return f"{arp.spa} is at {arp.sha}"
    return f"opcode {arp.op}"


def ip_info(proto: int, offset: int, ident: int, fragment: bool) -> str:
    name = _enum_name(IPProto, proto)
    if fragment:
        return f"Fragmented IP protocol (proto={name} {proto}, off={offset}, ID={ident:04x})"
    return f"IP protocol {name} ({proto})"


def dns_info(msg: DNSMessage) -> str:
    kind = "Standard query response" if msg.qr else "Standard query"
    words = [f"{kind} 0x{msg.id:04x}"]
    if msg.rcode:
        words.append(_enum_name(Rcode, msg.rcode))
    for q in msg.questions:
        words.append(f"{_enum_name(QType, q.qtype)} {q.name}")
    for rr in msg.answers:
        words.append(rr_text(rr))
    return " ".join(words)


def rr_text(rr: ResourceRecord) -> str:
    rtype = _enum_name(QType, rr.rtype if rr.rtype is not None else 0)
    return f"{rtype} {rdata_text(rr)}"


def rdata_text(rr: ResourceRecord) -> str:
    data = rr.rdata
    for attr in ("address", "target", "exchange"):
        if hasattr(data, attr):
            return str(getattr(data, attr))
    return str(_jsonable(data))


def custom_info(custom: Custom) -> str:
    verdict = "" if custom.length_ok else f" [length mismatch: payload is {len(custom.payload)}]"
    return f"version={custom.version} type={custom.type} length={custom.length}{verdict}"


def _enum_name(kind: type[enum.IntEnum], value: int) -> str:
    try:
        return kind(value).name
    except ValueError:
        return str(value)


# --- trees (-V) ------------------------------------------------------------------------------


def tree_lines(d: Dissected) -> list[str]:
    """Every layer and field, indented, with checksum status, like ``tshark -V``."""
    cap = d.captured
    lines = [f"Frame {d.number}: {cap.orig_len} bytes on wire, {cap.caplen} bytes captured, "
             f"interface {cap.interface_id}, time {cap.ts_sec}.{cap.ts_frac_ns:09d}"]
    for layer, fields in layer_dicts(d.packet):
        lines.append(LAYER_TITLES.get(layer, layer))
        lines.extend(_tree_fields(layer, fields, 1))
    if d.packet.error is not None:
        lines.append(f"[Malformed packet: {d.packet.error}]")
    return lines


# Fields whose numbers have names: shown as "TCP (6)" in trees.
_NAMED: dict[tuple[str, str], type[enum.IntEnum]] = {
    ("Ethernet", "type"): EtherType,
    ("SLL", "protocol"): EtherType,
    ("IPv4", "proto"): IPProto,
    ("IPv6", "next_header"): IPProto,
    ("ICMP", "type"): ICMPType,
    ("DNS", "rcode"): Rcode,
}
_HEX = frozenset({"checksum", "flags", "tos", "id", "type", "ptype", "protocol", "hwtype"})


def _tree_fields(layer: str, fields: dict[str, Any], depth: int) -> Iterator[str]:
    pad = "    " * depth
    for name, value in fields.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            yield f"{pad}{name}: ({len(value)})"
            for item in value:
                words = ", ".join(f"{k}={v}" for k, v in item.items() if k != "option")
                yield f"{pad}    {item.get('option', '-')}: {words}"
        elif isinstance(value, dict):
            yield f"{pad}{name}:"
            yield from _tree_fields(layer, value, depth + 1)
        else:
            yield f"{pad}{name}: {_show(layer, name, value)}"


def _show(layer: str, name: str, value: Any) -> str:
    if isinstance(value, bool) or value is None or not isinstance(value, int):
        return str(value)
    kind = _NAMED.get((layer, name))
    text = f"0x{value:04x}" if name in _HEX else str(value)
    if kind is not None:
        return f"{_enum_name(kind, value)} ({text})"
    return text


# --- layers as plain data (tree and JSON) ----------------------------------------------------


def layer_dicts(pkt: Packet) -> list[tuple[str, dict[str, Any]]]:
    """``(layer name, fields)`` for each decoded layer, with checksum verdicts added."""
    out: list[tuple[str, dict[str, Any]]] = []
    ip: IPv4 | IPv6 | None = None
    for layer in pkt.layers:
        if isinstance(layer, DNSMessage):
            out.append(("DNS", dns_dict(layer)))
            continue
        fields = {name: _jsonable(value) for name, value in layer.iter_fields()}
        if isinstance(layer, IPv4):
            fields["checksum_ok"] = layer.checksum_ok
            ip = layer
        elif isinstance(layer, IPv6):
            ip = layer
        elif isinstance(layer, ICMP):
            fields["checksum_ok"] = layer.checksum_ok
        elif isinstance(layer, UDP | TCP | ICMPv6) and ip is not None:
            fields["checksum_ok"] = layer.checksum_ok(ip.src_bytes, ip.dst_bytes)
        elif isinstance(layer, Custom):
            fields["length_ok"] = layer.length_ok
        if isinstance(layer, UDP | TCP | ICMP | ICMPv6) and ip is not None:
            fields["payload_length"] = wire_payload_length(ip, layer)
        elif isinstance(layer, Custom):
            fields["payload_length"] = len(layer.payload)
        out.append((layer.layer, fields))
    return out


def dns_dict(msg: DNSMessage) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": msg.id, "qr": msg.qr, "opcode": msg.opcode, "aa": msg.aa, "tc": msg.tc,
        "rd": msg.rd, "ra": msg.ra, "rcode": msg.rcode,
        "qdcount": len(msg.questions) if msg.qdcount is None else msg.qdcount,
        "ancount": len(msg.answers) if msg.ancount is None else msg.ancount,
        "nscount": len(msg.authorities) if msg.nscount is None else msg.nscount,
        "arcount": len(msg.additionals) if msg.arcount is None else msg.arcount,
        "questions": [{"name": q.name, "qtype": q.qtype, "qclass": q.qclass}
                      for q in msg.questions],
    }
    for section in ("answers", "authorities", "additionals"):
        out[section] = [
            {"name": rr.name, "rtype": rr.rtype, "rclass": rr.rclass, "ttl": rr.ttl,
             "rdata": rdata_text(rr)}
            for rr in getattr(msg, section)
        ]
    return out


def _jsonable(value: Any) -> Any:
    """Header field values as JSON-ready data: enums as ints, bytes as hex, objects as dicts."""
    if isinstance(value, bool | int | float | str) or value is None:
        return int(value) if isinstance(value, enum.IntEnum | enum.IntFlag) else value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "to_dict"):
        return {k: _jsonable(v) for k, v in value.to_dict().items()}
    if hasattr(value, "__dataclass_fields__"):
        out = {"option": type(value).__name__, "kind": _jsonable(getattr(value, "kind", None))}
        out.update({k: _jsonable(getattr(value, k)) for k in value.__dataclass_fields__})
        return out
    return str(value)


def json_record(d: Dissected) -> dict[str, Any]:
    cap, row = d.captured, d.row
    err = d.packet.error
    return {
        "number": d.number,
        "time": f"{cap.ts_sec}.{cap.ts_frac_ns:09d}",
        "time_relative": round(row.time, 9),
        "interface": cap.interface_id,
        "length": cap.orig_len,
        "caplen": cap.caplen,
        "linktype": cap.linktype,
        "src": row.src,
        "dst": row.dst,
        "protocol": row.protocol,
        "info": row.info,
        "layers": [{"layer": name, **fields} for name, fields in layer_dicts(d.packet)],
        "error": None if err is None else {
            "type": type(err).__name__, "layer": err.layer, "field": err.field,
            "offset": err.offset, "message": str(err)},
    }


def json_line(d: Dissected) -> str:
    return json.dumps(json_record(d), separators=(",", ":"))
