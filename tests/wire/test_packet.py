"""decode_frame: every link type, the layer chain, errors kept or raised, and tshark's reading
of the same bytes as an independent oracle."""

from __future__ import annotations

import pathlib
import shutil
import subprocess

import pytest
from scapy.layers.dns import DNS, DNSQR
from scapy.layers.inet import IP
from scapy.layers.inet import TCP as STCP
from scapy.layers.inet import UDP as SUDP
from scapy.layers.l2 import Ether

from wirelab.errors import BadFieldError, TrailingDataError, TruncatedError
from wirelab.wire.arp import ARP
from wirelab.wire.custom import Custom
from wirelab.wire.dns import DNSMessage
from wirelab.wire.ethernet import Ethernet, LinuxSLL
from wirelab.wire.icmp import ICMP
from wirelab.wire.icmpv6 import ICMPv6
from wirelab.wire.ipv4 import FLAG_MF, IPProto, IPv4
from wirelab.wire.ipv6 import FragmentHeader, IPv6
from wirelab.wire.packet import LinkType, Packet, decode_frame
from wirelab.wire.pcap import PcapWriter
from wirelab.wire.tcp import TCP
from wirelab.wire.udp import UDP

from .conftest import (
    LO_ICMP_PORT_UNREACH,
    LO_ICMPV6_ECHO_REQ,
    LO_TCP_DATA,
    LO_UDP6,
    LOOPBACK_FRAMES,
    SLL_UDP,
    mixed_frames,
)

CHAINS = {
    "icmp_echo_req": [Ethernet, IPv4, ICMP], "icmp_echo_reply": [Ethernet, IPv4, ICMP],
    "icmpv6_echo_req": [Ethernet, IPv6, ICMPv6], "icmpv6_echo_reply": [Ethernet, IPv6, ICMPv6],
    "tcp_syn": [Ethernet, IPv4, TCP], "tcp_synack": [Ethernet, IPv4, TCP],
    "tcp_ack": [Ethernet, IPv4, TCP], "tcp_data": [Ethernet, IPv4, TCP],
    "tcp_fin": [Ethernet, IPv4, TCP], "udp": [Ethernet, IPv4, UDP],
    "icmp_port_unreach": [Ethernet, IPv4, ICMP], "udp6": [Ethernet, IPv6, UDP],
}


def chain(pkt: Packet) -> list[type]:
    return [type(layer) for layer in pkt.layers]


@pytest.mark.parametrize("name", sorted(CHAINS))
def test_captured_frames_decode_fully(name: str) -> None:
    pkt = decode_frame(LOOPBACK_FRAMES[name], strict=True)
    assert pkt.ok and pkt.error is None
    assert chain(pkt) == CHAINS[name]
    assert pkt.highest is pkt.layers[-1] and len(pkt) == len(CHAINS[name])


def test_get_and_contains() -> None:
    pkt = decode_frame(LO_TCP_DATA)
    tcp = pkt.get(TCP)
    assert tcp is not None and tcp.payload == b"hello wirelab\n"
    assert pkt.get(UDP) is None
    assert TCP in pkt and UDP not in pkt
    assert repr(pkt) == "<Packet Ethernet/IPv4/TCP>"
    assert list(pkt) == pkt.layers


def test_linux_cooked_capture() -> None:
    pkt = decode_frame(SLL_UDP, LinkType.LINUX_SLL, strict=True)
    assert chain(pkt) == [LinuxSLL, IPv4, UDP]
    udp = pkt.get(UDP)
    assert udp is not None and udp.payload == b"cooked"


@pytest.mark.parametrize("linktype", [LinkType.RAW, LinkType.IPV4])
def test_raw_ipv4(linktype: int) -> None:
    pkt = decode_frame(LO_TCP_DATA[14:], linktype, strict=True)
    assert chain(pkt) == [IPv4, TCP]
    assert pkt.layers[1].offset == 20  # offsets count from the start of the raw frame


@pytest.mark.parametrize("linktype", [LinkType.RAW, LinkType.IPV6])
def test_raw_ipv6(linktype: int) -> None:
    assert chain(decode_frame(LO_UDP6[14:], linktype, strict=True)) == [IPv6, UDP]


def test_raw_ip_trailing_bytes_are_an_error_after_all_layers() -> None:
    data = LO_TCP_DATA[14:] + b"junk"
    pkt = decode_frame(data, LinkType.RAW)
    assert chain(pkt) == [IPv4, TCP]  # every layer kept
    assert isinstance(pkt.error, TrailingDataError)
    with pytest.raises(TrailingDataError, match=r"IPv4\.payload at byte 66: trailing data: 4 "
                                                r"bytes after the IP datagram"):
        decode_frame(data, LinkType.RAW, strict=True)
    # on Ethernet the same bytes are link padding, not an error
    assert decode_frame(LO_TCP_DATA + b"junk", strict=True).ok


def test_raw_ip_bad_version() -> None:
    with pytest.raises(BadFieldError, match=r"IP\.version at byte 0: bad field: 5 is neither"):
        decode_frame(b"\x55" + bytes(39), LinkType.RAW, strict=True)
    assert decode_frame(b"", LinkType.RAW).error is not None


def test_unknown_linktype_is_a_decode_error() -> None:
    pkt = decode_frame(LO_TCP_DATA, 147)
    assert pkt.layers == [] and isinstance(pkt.error, BadFieldError)
    assert "link type 147 is not decoded" in str(pkt.error)


def test_dns_on_port_53() -> None:
    frame = bytes(Ether() / IP(src="198.18.0.1", dst="198.18.0.53")
                  / SUDP(sport=40000, dport=53) / DNS(id=0x4242, rd=1,
                                                      qd=DNSQR(qname="wirelab.example")))
    pkt = decode_frame(frame, strict=True)
    assert chain(pkt) == [Ethernet, IPv4, UDP, DNSMessage]
    dns = pkt.get(DNSMessage)
    assert dns is not None and dns.id == 0x4242 and dns.questions[0].name == "wirelab.example"
    assert chain(decode_frame(frame, app=False)) == [Ethernet, IPv4, UDP]


def test_malformed_dns_keeps_the_udp_layer_and_reports_absolute_offset() -> None:
    frame = bytes(Ether() / IP() / SUDP(sport=40000, dport=53) / b"\x12\x34\x01")
    pkt = decode_frame(frame)
    assert chain(pkt) == [Ethernet, IPv4, UDP]
    assert isinstance(pkt.error, TruncatedError) and pkt.error.layer == "DNS"
    assert pkt.error.offset is not None and pkt.error.offset >= 42  # inside the UDP payload


def test_custom_on_port_12345_either_direction() -> None:
    body = Custom(version=2, type=1, payload=b"x").encode()
    for sport, dport in ((40000, 12345), (12345, 40000)):
        frame = bytes(Ether() / IP() / SUDP(sport=sport, dport=dport) / body)
        assert chain(decode_frame(frame, strict=True))[-1] is Custom


def test_non_first_fragment_stops_at_ip() -> None:
    frame = bytes(Ether() / IP(frag=100, proto=17) / (b"\x00\x35\x00\x35" + bytes(20)))
    pkt = decode_frame(frame, strict=True)
    assert chain(pkt) == [Ethernet, IPv4]


def test_first_fragment_decodes_transport_partially() -> None:
    dgram = UDP(sport=5000, dport=53, payload=bytes(1000)).encode("10.0.0.1", "10.0.0.2")
    ip = IPv4(src="10.0.0.1", dst="10.0.0.2", proto=IPProto.UDP, flags=FLAG_MF,
              payload=dgram[:504])
    pkt = decode_frame(Ethernet(payload=ip.encode()).encode(), strict=True)
    assert chain(pkt) == [Ethernet, IPv4, UDP]  # no DNS: the datagram is incomplete
    udp = pkt.get(UDP)
    assert udp is not None and udp.partial and udp.length == 1008
    assert udp.checksum_ok("10.0.0.1", "10.0.0.2") is None


def test_ipv6_fragments() -> None:
    seg = UDP(sport=1, dport=2, payload=b"abc").encode("2001:db8::1", "2001:db8::2")
    for offset, expected in ((0, [Ethernet, IPv6, UDP]), (10, [Ethernet, IPv6])):
        ip6 = IPv6(src="2001:db8::1", dst="2001:db8::2", next_header=IPProto.FRAGMENT,
                   ext_headers=[FragmentHeader(IPProto.UDP, frag_offset=offset, m=1)],
                   payload=seg)
        assert chain(decode_frame(Ethernet(type=0x86DD, payload=ip6.encode()).encode(),
                                  strict=True)) == expected


def test_arp_frame() -> None:
    frame = Ethernet(type=0x0806, payload=ARP(spa="10.0.0.1", tpa="10.0.0.2").encode()).encode()
    assert chain(decode_frame(frame + bytes(18), strict=True)) == [Ethernet, ARP]


def test_error_keeps_the_layers_before_it() -> None:
    cut = LO_TCP_DATA[:14 + 20 + 10]
    cut = cut[:16] + (30).to_bytes(2, "big") + cut[18:]  # IP length consistent with the cut
    pkt = decode_frame(cut)
    assert chain(pkt) == [Ethernet, IPv4]
    assert isinstance(pkt.error, TruncatedError)
    assert str(pkt.error) == "TCP.sport at byte 34: truncated: needs 20 bytes, 10 left"
    with pytest.raises(TruncatedError, match=r"TCP\.sport at byte 34"):
        decode_frame(cut, strict=True)
    assert decode_frame(b"").layers == []


def test_memoryview_and_bytearray_input() -> None:
    for data in (memoryview(LO_ICMP_PORT_UNREACH), bytearray(LO_ICMP_PORT_UNREACH)):
        pkt = decode_frame(data, strict=True)
        assert chain(pkt) == [Ethernet, IPv4, ICMP]
        icmp = pkt.get(ICMP)
        assert icmp is not None and icmp.payload[:1] == b"\x45"
        quoted = icmp.quoted
        assert quoted is not None and quoted.src == "127.0.0.1"


def test_http_segment_is_tcp() -> None:
    frame = bytes(Ether() / IP() / STCP(dport=80, flags="PA") / b"GET / HTTP/1.1\r\n\r\n")
    pkt = decode_frame(frame, strict=True)
    assert chain(pkt) == [Ethernet, IPv4, TCP]
    assert pkt.layers[-1].payload.startswith(b"GET ")


def test_icmpv6_layer_checksum() -> None:
    pkt = decode_frame(LO_ICMPV6_ECHO_REQ, strict=True)
    ip6, icmp6 = pkt.get(IPv6), pkt.get(ICMPv6)
    assert ip6 is not None and icmp6 is not None
    assert icmp6.checksum_ok(ip6.src, ip6.dst) is True


# --- tshark as the oracle -------------------------------------------------------------------

TSHARK_FIELDS = [
    "frame.protocols", "eth.src", "eth.dst", "vlan.id", "vlan.priority",
    "ip.src", "ip.dst", "ip.ttl", "ip.id", "ip.len", "ip.hdr_len", "ip.dsfield", "ip.flags",
    "ip.frag_offset", "ip.proto", "ip.checksum.status",
    "ipv6.src", "ipv6.dst", "ipv6.plen", "ipv6.nxt", "ipv6.hlim", "ipv6.flow", "ipv6.tclass",
    "tcp.srcport", "tcp.dstport", "tcp.seq_raw", "tcp.ack_raw", "tcp.hdr_len", "tcp.flags",
    "tcp.window_size_value", "tcp.urgent_pointer", "tcp.options.mss_val",
    "tcp.options.wscale.shift", "tcp.options.timestamp.tsval", "tcp.options.timestamp.tsecr",
    "tcp.checksum.status",
    "udp.srcport", "udp.dstport", "udp.length", "udp.checksum.status",
    "icmp.type", "icmp.code", "icmp.ident", "icmp.seq", "icmp.checksum.status",
    "icmpv6.type", "icmpv6.code", "icmpv6.echo.identifier", "icmpv6.echo.sequence_number",
    "icmpv6.checksum.status",
    "arp.opcode", "arp.src.hw_mac", "arp.src.proto_ipv4", "arp.dst.hw_mac", "arp.dst.proto_ipv4",
    "dns.id", "dns.qry.name",
]
TSHARK_NAMES = {Ethernet: "eth", IPv4: "ip", IPv6: "ipv6", TCP: "tcp", UDP: "udp",
                ICMP: "icmp", ICMPv6: "icmpv6", ARP: "arp", DNSMessage: "dns"}


def _same(theirs: str, ours: str) -> bool:
    """Equal as numbers when both are numbers (tshark pads hex: 0x0040), else as text."""
    try:
        return int(theirs, 0) == int(ours, 0)
    except ValueError:
        return theirs == ours


def _status(ok: bool | None) -> str:
    return {True: "1", False: "0", None: "2"}[ok]


def _expected(pkt: Packet) -> dict[str, str]:
    """What tshark should print for each field, from wirelab's decoding."""
    exp: dict[str, str] = {}
    eth = pkt.get(Ethernet)
    assert eth is not None
    exp.update({"eth.src": eth.src, "eth.dst": eth.dst})
    if eth.vlan:
        exp.update({"vlan.id": str(eth.vlan[0].vid), "vlan.priority": str(eth.vlan[0].pcp)})
    ip, ip6 = pkt.get(IPv4), pkt.get(IPv6)
    src = dst = ""
    if ip is not None:
        src, dst = ip.src, ip.dst
        exp.update({"ip.src": src, "ip.dst": dst, "ip.ttl": str(ip.ttl), "ip.id": hex(ip.id),
                    "ip.len": str(ip.total_length), "ip.hdr_len": str(ip.header_length),
                    "ip.dsfield": hex(ip.tos), "ip.flags": hex(ip.flags),
                    "ip.frag_offset": str(ip.frag_offset), "ip.proto": str(int(ip.proto)),
                    "ip.checksum.status": _status(ip.checksum_ok)})
    if ip6 is not None:
        src, dst = ip6.src, ip6.dst
        exp.update({"ipv6.src": src, "ipv6.dst": dst, "ipv6.plen": str(ip6.payload_length),
                    "ipv6.nxt": str(int(ip6.next_header)), "ipv6.hlim": str(ip6.hop_limit),
                    "ipv6.flow": hex(ip6.flow_label), "ipv6.tclass": hex(ip6.traffic_class)})
    tcp, udp, icmp, icmp6 = pkt.get(TCP), pkt.get(UDP), pkt.get(ICMP), pkt.get(ICMPv6)
    if tcp is not None:
        exp.update({"tcp.srcport": str(tcp.sport), "tcp.dstport": str(tcp.dport),
                    "tcp.seq_raw": str(tcp.seq), "tcp.ack_raw": str(tcp.ack),
                    "tcp.hdr_len": str((tcp.data_offset or 5) * 4),
                    "tcp.flags": f"0x{(tcp.reserved << 8) | tcp.flags:04x}",
                    "tcp.window_size_value": str(tcp.window),
                    "tcp.urgent_pointer": str(tcp.urgent)})
        for opt in tcp.options:
            name = type(opt).__name__
            if name == "MSS":
                exp["tcp.options.mss_val"] = str(opt.value)  # type: ignore[union-attr]
            elif name == "WindowScale":
                exp["tcp.options.wscale.shift"] = str(opt.shift)  # type: ignore[union-attr]
            elif name == "Timestamps":
                exp["tcp.options.timestamp.tsval"] = str(opt.tsval)  # type: ignore[union-attr]
                exp["tcp.options.timestamp.tsecr"] = str(opt.tsecr)  # type: ignore[union-attr]
        if not tcp.partial:
            exp["tcp.checksum.status"] = _status(tcp.checksum_ok(src, dst))
    if udp is not None:
        exp.update({"udp.srcport": str(udp.sport), "udp.dstport": str(udp.dport),
                    "udp.length": str(udp.length)})
        if not udp.partial:
            exp["udp.checksum.status"] = _status(udp.checksum_ok(src, dst))
    if icmp is not None:
        exp.update({"icmp.type": str(int(icmp.type)), "icmp.code": str(icmp.code)})
        if icmp.is_echo:
            exp.update({"icmp.ident": str(icmp.id), "icmp.seq": str(icmp.seq)})
        if not icmp.partial:
            exp["icmp.checksum.status"] = _status(icmp.checksum_ok)
    if icmp6 is not None:
        exp.update({"icmpv6.type": str(int(icmp6.type)), "icmpv6.code": str(icmp6.code),
                    "icmpv6.echo.identifier": str(icmp6.id),
                    "icmpv6.echo.sequence_number": str(icmp6.seq)})
        if not icmp6.partial:
            exp["icmpv6.checksum.status"] = _status(icmp6.checksum_ok(src, dst))
    arp = pkt.get(ARP)
    if arp is not None:
        exp.update({"arp.opcode": str(int(arp.op)), "arp.src.hw_mac": arp.sha,
                    "arp.src.proto_ipv4": arp.spa, "arp.dst.hw_mac": arp.tha,
                    "arp.dst.proto_ipv4": arp.tpa})
    dns = pkt.get(DNSMessage)
    if dns is not None:
        exp["dns.id"] = hex(dns.id)
        if dns.questions:
            exp["dns.qry.name"] = dns.questions[0].name
    return exp


@pytest.mark.tshark
@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
def test_every_field_agrees_with_tshark(tmp_path: pathlib.Path) -> None:
    frames = mixed_frames(1500, seed=2024)
    path = tmp_path / "mixed.pcap"
    with PcapWriter(path) as writer:
        for i, frame in enumerate(frames):
            writer.write(frame, ts=1_700_000_000 + i / 1000)
    argv = ["tshark", "-r", str(path), "-T", "fields", "-E", "occurrence=f",
            "-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE",
            "-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE",
            "-o", "udp.check_checksum:TRUE"]
    for name in TSHARK_FIELDS:
        argv += ["-e", name]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=300).stdout
    rows = out.splitlines()
    assert len(rows) == len(frames)
    compared = 0
    for i, (frame, row) in enumerate(zip(frames, rows, strict=True)):
        theirs = dict(zip(TSHARK_FIELDS, row.split("\t"), strict=True))
        pkt = decode_frame(frame, strict=True)
        ours = [TSHARK_NAMES[type(layer)] for layer in pkt.layers if type(layer) in TSHARK_NAMES]
        known = [p for p in theirs["frame.protocols"].split(":") if p in TSHARK_NAMES.values()]
        assert known[:len(ours)] == ours, f"frame {i + 1}: {theirs['frame.protocols']}"
        for field, value in _expected(pkt).items():
            assert _same(theirs[field], value), f"frame {i + 1} {field}: tshark " \
                                                f"{theirs[field]!r}, wirelab {value!r}"
            compared += 1
    assert compared > 15 * len(frames)  # about 16 fields a frame on this mix
