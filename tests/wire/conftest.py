"""Shared vectors and helpers of the wire codec tests.

Captured frames (``LO_*``, ``SLL_UDP``) were made for these tests on 2026-11-25 on this kind of
machine (Linux, tcpdump 4.99.3 / libpcap 1.10.3) and pasted as hex:

    tcpdump -i lo -w lo.pcap -c 12 'icmp or icmp6 or tcp port 40111 or udp port 40112'
      while running: ping -c1 127.0.0.1; ping -6 -c1 ::1; a Python client connecting to a
      listener on 127.0.0.1:40111, sending b"hello wirelab\\n" and closing
    tcpdump -i lo -w udp.pcap -c 4 'udp port 40112 or icmp or udp port 40113 or icmp6'
      while sending b"ping" to the closed 127.0.0.1:40112 (the kernel answers with ICMP
      port unreachable) and b"wirelab6" from ::1 to a bound ::1:40113
    tcpdump -i any -y LINUX_SLL -w sll.pcap -c 2 'udp port 40114'
      while sending b"cooked" to a bound 127.0.0.1:40114

and printed with ``bytes(scapy.all.rdpcap(file)[i]).hex()``.  On loopback the kernel leaves
TCP and UDP checksums CHECKSUM_PARTIAL (only the pseudo-header sum is filled in, no offload
ever completes it), so those checksums do not verify: ``tshark -o tcp.check_checksum:TRUE
-o udp.check_checksum:TRUE -T fields -e tcp.checksum.status -e udp.checksum.status`` reports
0 (bad) for every one of them, while IPv4, ICMP and ICMPv6 checksums are good (status 1).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings


def unhex(text: str) -> bytes:
    """Hex with any whitespace -> bytes."""
    return bytes.fromhex("".join(text.split()))


# ping -c1 127.0.0.1: echo request, id 0x54a5 (21669), seq 1, 56 data bytes
LO_ICMP_ECHO_REQ = unhex("""
000000000000 000000000000 0800
45000054b7024000400185a47f0000017f000001
0800219554a50001
d8ef066b00000000df96040000000000101112131415161718191a1b1c1d1e1f
202122232425262728292a2b2c2d2e2f3031323334353637""")
LO_ICMP_ECHO_REPLY = unhex("""
000000000000 000000000000 0800
45000054b70300004001c5a37f0000017f000001
0000299554a50001
d8ef066b00000000df96040000000000101112131415161718191a1b1c1d1e1f
202122232425262728292a2b2c2d2e2f3031323334353637""")
# ping -6 -c1 ::1: ICMPv6 echo request / reply, id 21671, seq 1
LO_ICMPV6_ECHO_REQ = unhex("""
000000000000 000000000000 86dd
6006fe6b00403a40 00000000000000000000000000000001 00000000000000000000000000000001
8000450454a70001
d8ef066b0000000043a9040000000000101112131415161718191a1b1c1d1e1f
202122232425262728292a2b2c2d2e2f3031323334353637""")
LO_ICMPV6_ECHO_REPLY = unhex("""
000000000000 000000000000 86dd
6008ffcc00403a40 00000000000000000000000000000001 00000000000000000000000000000001
8100440454a70001
d8ef066b0000000043a9040000000000101112131415161718191a1b1c1d1e1f
202122232425262728292a2b2c2d2e2f3031323334353637""")
# TCP 127.0.0.1:33758 -> 127.0.0.1:40111 handshake: [mss 65495,sackOK,TS val 3906899160
# ecr 0,nop,wscale 10]
LO_TCP_SYN = unhex("""
000000000000 000000000000 0800
4500003c24b040004006180a7f0000017f000001
83de9caf79ca2f5900000000a002ffd7fe300000
0204ffd70402080ae8de8cd8000000000103030a""")
LO_TCP_SYNACK = unhex("""
000000000000 000000000000 0800
4500003c0000400040063cba7f0000017f000001
9caf83deac79640c79ca2f5aa012ffcbfe300000
0204ffd70402080aec809eace8de8cd80103030a""")
LO_TCP_ACK = unhex("""
000000000000 000000000000 0800
4500003424b14000400618117f0000017f000001
83de9caf79ca2f5aac79640d80100040fe280000
0101080ae8de8cd8ec809eac""")
# [P.] seq 1:15 carrying b"hello wirelab\n"
LO_TCP_DATA = unhex("""
000000000000 000000000000 0800
4500004224b24000400618027f0000017f000001
83de9caf79ca2f5aac79640d80180040fe360000
0101080ae8de8cd8ec809eac
68656c6c6f20776972656c61620a""")
LO_TCP_FIN = unhex("""
000000000000 000000000000 0800
4500003424b340004006180f7f0000017f000001
83de9caf79ca2f68ac79640d80110040fe280000
0101080ae8de8cd8ec809eac""")
# UDP 127.0.0.1:41507 -> 127.0.0.1:40112 b"ping", and the kernel's port unreachable
LO_UDP = unhex("""
000000000000 000000000000 0800
450000206c7f40004011d04b7f0000017f000001
a2239cb0000cfe1f 70696e67""")
LO_ICMP_PORT_UNREACH = unhex("""
000000000000 000000000000 0800
45c0003cb7e600004001c4187f0000017f000001
0303e12b00000000
450000206c7f40004011d04b7f0000017f000001 a2239cb0000cfe1f 70696e67""")
# UDP ::1:39111 -> ::1:40113 b"wirelab6"
LO_UDP6 = unhex("""
000000000000 000000000000 86dd
600bb99d00101140 00000000000000000000000000000001 00000000000000000000000000000001
98c79cb100100023 776972656c616236""")
# Linux cooked capture (LINKTYPE_LINUX_SLL, 113): incoming, ARPHRD_LOOPBACK (772), 6-byte
# address 00:00:00:00:00:00, protocol IPv4; UDP 41507 -> 40114 b"cooked"
SLL_UDP = unhex("""
0000 0304 0006 0000000000000000 0800
450000226cc940004011cfff7f0000017f000001
a2239cb2000efe21 636f6f6b6564""")

LOOPBACK_FRAMES = {
    "icmp_echo_req": LO_ICMP_ECHO_REQ, "icmp_echo_reply": LO_ICMP_ECHO_REPLY,
    "icmpv6_echo_req": LO_ICMPV6_ECHO_REQ, "icmpv6_echo_reply": LO_ICMPV6_ECHO_REPLY,
    "tcp_syn": LO_TCP_SYN, "tcp_synack": LO_TCP_SYNACK, "tcp_ack": LO_TCP_ACK,
    "tcp_data": LO_TCP_DATA, "tcp_fin": LO_TCP_FIN, "udp": LO_UDP,
    "icmp_port_unreach": LO_ICMP_PORT_UNREACH, "udp6": LO_UDP6,
}

# Hypothesis settings for these tests, applied per test (``@PROPS``) rather than as a global
# profile so that other test modules keep their own: no deadline (CI machines may be slow and
# busy); WIRELAB_HYPOTHESIS_EXAMPLES raises the example count for a longer soak.
PROPS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow],
                 max_examples=int(os.environ.get("WIRELAB_HYPOTHESIS_EXAMPLES", "200")))


# --- a reproducible mix of frames built with wirelab's encoders -----------------------------


def mixed_frames(count: int, seed: int) -> list[bytes]:
    """``count`` Ethernet frames of every kind the codecs know, some with wrong checksums.

    Used where an independent dissector (tshark, Scapy) reads the same bytes.  Imports are
    local so that this module stays cheap for the tests that do not need it.
    """
    import random

    from wirelab.wire.arp import ARP, ARPOp
    from wirelab.wire.custom import Custom
    from wirelab.wire.dns import DNSMessage, QType
    from wirelab.wire.ethernet import Dot1Q, Ethernet, EtherType
    from wirelab.wire.icmp import ICMP, ICMPType
    from wirelab.wire.icmpv6 import ICMPv6, ICMPv6Type
    from wirelab.wire.ipv4 import FLAG_DF, FLAG_MF, IPProto, IPv4
    from wirelab.wire.ipv6 import ExtHeader, FragmentHeader, IPv6
    from wirelab.wire.tcp import (
        MSS,
        NOP,
        SACK,
        TCP,
        SACKPermitted,
        Timestamps,
        WindowScale,
    )
    from wirelab.wire.udp import UDP

    r = random.Random(seed)

    def mac() -> str:
        return ":".join(f"{r.randrange(256) & (0xFE if i == 0 else 0xFF):02x}" for i in range(6))

    def v4() -> str:
        return f"198.18.{r.randrange(256)}.{r.randrange(1, 255)}"

    def v6() -> str:
        return f"2001:db8:{r.randrange(65536):x}::{r.randrange(1, 65536):x}"

    def checksum() -> int | None:
        return None if r.random() < 0.9 else r.randrange(65536)  # 10 %: an explicit value

    def transport(src: str, dst: str, ipv6: bool) -> tuple[int, bytes]:
        kind = r.randrange(6)
        if kind <= 1:
            opts = r.choice([
                [MSS(r.randrange(536, 9000)), SACKPermitted(),
                 Timestamps(r.randrange(1 << 32), r.randrange(1 << 32)), NOP(),
                 WindowScale(r.randrange(15))],
                [NOP(), NOP(), Timestamps(r.randrange(1 << 32), r.randrange(1 << 32))],
                [NOP(), NOP(), SACK(((100, 200), (300, r.randrange(400, 1 << 32))))],
                []])
            seg = TCP(sport=r.randrange(1, 65536), dport=r.choice((80, 443, 53, 22, 8080)),
                      seq=r.randrange(1 << 32), ack=r.randrange(1 << 32),
                      flags=r.randrange(256), window=r.randrange(65536), options=opts,
                      urgent=r.randrange(65536) if r.random() < 0.1 else 0,
                      checksum=checksum(), payload=r.randbytes(r.randrange(0, 300)))
            return IPProto.TCP, seg.encode(src, dst)
        if kind == 2:
            msg = DNSMessage.query(r.choice(("example.com", "a.b.example.org")), QType.A,
                                   id=r.randrange(65536))
            dgram = UDP(sport=r.randrange(1024, 65536), dport=53, checksum=checksum(),
                        payload=msg.encode())
            return IPProto.UDP, dgram.encode(src, dst)
        if kind == 3:
            payload = r.randbytes(r.randrange(0, 200))
            dport = r.choice((12345, 123, 5000))
            if dport == 12345:
                payload = Custom(version=2, type=1, payload=payload).encode()
            dgram = UDP(sport=r.randrange(1024, 65536), dport=dport, checksum=checksum(),
                        payload=payload)
            return IPProto.UDP, dgram.encode(src, dst)
        if ipv6:
            msg6 = ICMPv6(type=r.choice((ICMPv6Type.ECHO_REQUEST, ICMPv6Type.ECHO_REPLY)),
                          id=r.randrange(65536), seq=r.randrange(65536),
                          checksum=checksum(), payload=r.randbytes(r.randrange(0, 64)))
            return IPProto.ICMPV6, msg6.encode(src, dst)
        if kind == 4:
            msg = ICMP(type=r.choice((ICMPType.ECHO_REQUEST, ICMPType.ECHO_REPLY)),
                       id=r.randrange(65536), seq=r.randrange(65536), checksum=checksum(),
                       payload=r.randbytes(r.randrange(0, 64)))
        else:
            quoted = IPv4(proto=IPProto.UDP, src=dst, dst=v4(), id=r.randrange(65536),
                          payload=UDP(sport=r.randrange(1, 65536), dport=33434,
                                      checksum=0, payload=bytes(20)).encode()).encode()[:28]
            msg = ICMP(type=r.choice((ICMPType.DEST_UNREACHABLE, ICMPType.TIME_EXCEEDED)),
                       code=r.randrange(4), checksum=checksum(), payload=quoted)
        return IPProto.ICMP, msg.encode()

    def network() -> tuple[int, bytes]:
        kind = r.random()
        if kind < 0.08:
            op = r.choice((ARPOp.REQUEST, ARPOp.REPLY))
            return EtherType.ARP, ARP(op=op, sha=mac(), spa=v4(), tha=mac(), tpa=v4()).encode()
        if kind < 0.35:
            src, dst = v6(), v6()
            proto, seg = transport(src, dst, True)
            exts: list[ExtHeader | FragmentHeader] = []
            if r.random() < 0.2:
                exts.append(ExtHeader(IPProto.HOPOPT, proto, bytes.fromhex("050200000100")))
            if r.random() < 0.1:  # a fragment; some are non-first ones
                exts.append(FragmentHeader(proto, frag_offset=r.choice((0, 0, 100)), m=1,
                                           identification=r.randrange(1 << 32)))
            for i in range(len(exts) - 1):
                exts[i].next_header = IPProto.FRAGMENT
            first = exts[0].type if exts else proto
            ip6 = IPv6(traffic_class=r.randrange(256), flow_label=r.randrange(1 << 20),
                       next_header=first, hop_limit=r.randrange(1, 256), src=src, dst=dst,
                       ext_headers=exts, payload=seg)
            return EtherType.IPV6, ip6.encode()
        src, dst = v4(), v4()
        proto, seg = transport(src, dst, False)
        flags, frag = r.choice(((FLAG_DF, 0), (0, 0), (0, 0), (FLAG_MF, 0), (0, 185)))
        opts = b"\x94\x04\x00\x00" if r.random() < 0.05 else b""
        ip = IPv4(tos=r.randrange(256), id=r.randrange(65536), flags=flags, frag_offset=frag,
                  ttl=r.randrange(1, 256), proto=proto, src=src, dst=dst, options=opts,
                  checksum=None if r.random() < 0.95 else r.randrange(65536), payload=seg)
        return EtherType.IPV4, ip.encode()

    frames = []
    for _ in range(count):
        etype, body = network()
        vlan = None
        if r.random() < 0.1:
            vlan = [Dot1Q(pcp=r.randrange(8), dei=r.randrange(2), vid=r.randrange(1, 4095),
                          type=etype)]
            etype = EtherType.VLAN
        frame = Ethernet(dst=mac(), src=mac(), type=etype, vlan=vlan, payload=body).encode()
        frames.append(frame + bytes(max(0, 60 - len(frame))))
    return frames
