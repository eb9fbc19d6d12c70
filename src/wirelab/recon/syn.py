"""The half-open SYN scan (nmap ``-sS``).

Probes: IPv4 + TCP SYN, sent on an ``IPPROTO_RAW`` socket (send-only, so it does not queue
copies of every segment the host receives).  The IPv4 header is the same for every probe: the
kernel fills in the total length, the checksum and (left zero) the identification (raw(7)).
The TCP header differs only in destination port, source port and sequence number, so its
checksum (RFC 9293 section 3.1, RFC 1071) is the precomputed sum of the constant words plus
those three: one pack a probe instead of a header object.  :func:`build_probe` builds the same
bytes with the wire codecs; the unit tests prove both agree.

Answers: a separate AF_PACKET socket with a BPF filter compiled by libpcap
(:mod:`wirelab.craft.bpf`), so the kernel hands us only inbound TCP from the target to our
source ports and ICMP destination unreachables.  The kernel puts them in a TPACKET_V2 ring
shared by ``mmap`` (Documentation/networking/packet_mmap.rst: one status word a frame, no
system call a frame; falls back to ``recv`` where a ring cannot be had).  They are read at
fixed offsets with ``struct`` (the IPv4 header length honoured), without header objects.

Matching: the initial sequence number of the probe to port P is a keyed cookie, 32 bits of a
SHAKE-256 keystream keyed by a secret drawn for this scan (the target and the source port are
mixed in), so each cookie is an index into a table computed once.  SHAKE is immune to length
extension, so key || context is a sound keyed construction (what KMAC, NIST SP 800-185,
standardises).  A SYN/ACK or RST answering our SYN acknowledges cookie + 1 (RFC 9293 section
3.10.7.3); an ICMP error quotes our TCP header's first 8 bytes, sequence number included (RFC
792).  Like nmap, the try number is in the source port (base + try), so an answer says which
copy of a retransmitted probe it answers: RTT samples stay exact and an answer to a
retransmission is evidence of loss (:func:`wirelab.recon.timing.allowed_tries`).  A packet
without the right cookie for its port is ignored: stray traffic is never counted.

Sending at the link layer: like nmap on Ethernet (its ``--send-eth``, the default there), once
the kernel has resolved the next hop's MAC address (the first probes go out on the raw IP
socket, which makes it ARP), the rest are sent as whole Ethernet frames on an AF_PACKET
socket bound to the outgoing interface: that skips the kernel's per-packet route lookup,
output firewall hooks and neighbour lookup, about a seventh of the kernel time a probe costs
in the lab.  The IPv4 header is then ours in full (id 0 with DF, RFC 6864's "atomic"
datagram; checksum computed once).  Loopback and anything not plain Ethernet stay on the raw
IP socket.

The kernel answers a SYN/ACK to our raw probe with a RST (it has no socket for it), which
closes the half-open connection on the target for us, as it does for nmap.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import socket
import struct
from collections.abc import Callable

from wirelab.craft import bpf
from wirelab.recon import states
from wirelab.recon.result import Progress, ScanResult
from wirelab.recon.timing import TEMPLATES, Answer, ProbeLoop, Template, recv_all
from wirelab.sockets.raw import open_raw, source_for
from wirelab.wire.ipv4 import FLAG_DF, IPProto, IPv4

ETH_P_IP = 0x0800
ETH_HLEN = 14
WINDOW = 1024
MAX_TRIES = 16  # source ports base .. base + 15 are ours
LINK_AFTER = 8  # raw IP probes sent before looking for the next hop's MAC address
SOL_PACKET, PACKET_RX_RING, PACKET_VERSION = 263, 5, 10  # linux/if_packet.h
TPACKET_V2, TP_STATUS_USER = 1, 1
_TCP = struct.Struct("!HHIIHHHH")  # sport dport seq ack off/flags window checksum urgent
_TCP_ANSWER = struct.Struct("!HHIIH")  # sport dport seq ack off/flags
_QUOTED_TCP = struct.Struct("!HHI")  # sport, dport, seq: the first 8 quoted bytes hold them
_OFF_SYN = (5 << 12) | states.SYN  # data offset 5 words, SYN
_RST, _SYN, _ACK = states.RST, states.SYN, states.ACK
_OPEN = (states.PortState.OPEN, states.Reason.SYN_ACK)
_SPLIT = (states.PortState.OPEN, states.Reason.SPLIT_HANDSHAKE_SYN)
_CLOSED = (states.PortState.CLOSED, states.Reason.RESET)


class Cookies:
    """The keyed initial sequence number of the probes to each port (all 65,536 at once)."""

    def __init__(self, target: str, sport: int, key: bytes | None = None) -> None:
        self.key = key if key is not None else os.urandom(16)
        self.target = target
        self.target_bytes = socket.inet_aton(target)
        self.sport = sport
        context = b"wirelab syn|" + socket.inet_aton(target) + sport.to_bytes(2, "big")
        stream = hashlib.shake_256(self.key + context).digest(4 * 65536)
        # Read in place as 65,536 machine-order words: nothing unpacked that is not used.
        self.table = memoryview(stream).cast("I")

    def seq(self, dport: int) -> int:
        return self.table[dport]


def build_probe(src: str, dst: str, sport: int, dport: int, seq: int) -> bytes:
    """IPv4 header + SYN from the wire codecs, checksums computed (the reference bytes)."""
    from wirelab.wire.tcp import TCP, TCPFlags  # the codec: only for this reference path

    segment = TCP(sport, dport, seq=seq, flags=TCPFlags.SYN, window=WINDOW).encode(src, dst)
    return IPv4(ttl=64, proto=IPProto.TCP, src=src, dst=dst, payload=segment).encode()


class Prober:
    """Builds SYN probes fast, sends them, and reads the answers."""

    def __init__(self, src: str, dst: str, base_sport: int, cookies: Cookies) -> None:
        self.dst = dst
        self.base = base_sport
        self.cookies = cookies
        self.src = src
        self.target_bytes = socket.inet_aton(dst)
        # The IPv4 header with length, id and checksum zero: the kernel fills them in.
        self.ip = IPv4(ttl=64, proto=IPProto.TCP, src=src, dst=dst, payload=b"").encode()
        self.ip = self.ip[:2] + b"\0\0\0\0" + self.ip[6:10] + b"\0\0" + self.ip[12:20]
        s, d = socket.inet_aton(src), socket.inet_aton(dst)
        self._sum0 = (sum(struct.unpack("!HHHH", s + d)) + IPProto.TCP + 20
                      + _OFF_SYN + WINDOW)  # pseudo-header and the constant header words
        self.rx: socket.socket | None = None
        self.tx: socket.socket | None = None
        self.link: socket.socket | None = None
        self.ring: RxRing | None = None
        self.raw_sent = 0
        self.on_link = False  # True once probes go out as Ethernet frames

    def packet(self, dport: int, tryno: int) -> bytes:
        sport = self.base + tryno
        seq = self.cookies.table[dport]
        total = self._sum0 + sport + dport + (seq >> 16) + (seq & 0xFFFF)
        total = (total & 0xFFFF) + (total >> 16)
        total = (total & 0xFFFF) + (total >> 16)
        return self.ip + _TCP.pack(sport, dport, seq, 0, _OFF_SYN, WINDOW, ~total & 0xFFFF, 0)

    def open(self) -> None:
        self.rx = open_receiver(self.dst, self.base)
        try:
            self.ring = RxRing(self.rx)
        except OSError:
            self.ring = None  # no ring here: recv() one frame at a time
        self.tx = open_raw(socket.AF_INET, hdrincl=True)
        self.tx.connect((self.dst, 0))  # then send() needs no address parsed per probe
        self.send = self._fast_send(self.tx.send, self.ip, count=True)
        self.reader = make_reader(self.cookies, self.base)
        self.interpret = make_interpreter(self.cookies, self.base)

    def _fast_send(self, tx_send: Callable[[bytes], int], head: bytes, *,
                   count: bool) -> Callable[[int, int], None]:
        """:meth:`packet` and the send in one closure over locals: the per-probe hot path.
        ``head`` is what precedes the TCP header (the IPv4 header, or Ethernet + IPv4)."""
        table, pack, base, sum0 = self.cookies.table, _TCP.pack, self.base, self._sum0

        def send(dport: int, tryno: int) -> None:
            sport = base + tryno
            seq = table[dport]
            total = sum0 + sport + dport + (seq >> 16) + (seq & 0xFFFF)
            total = (total & 0xFFFF) + (total >> 16)
            total = (total & 0xFFFF) + (total >> 16)
            tx_send(head + pack(sport, dport, seq, 0, _OFF_SYN, WINDOW, ~total & 0xFFFF, 0))

        if not count:
            return send

        def send_then_try_link(dport: int, tryno: int) -> None:
            send(dport, tryno)
            self.raw_sent += 1
            if self.raw_sent == LINK_AFTER:
                self._to_link()

        return send_then_try_link

    def _to_link(self) -> None:
        """Switch to Ethernet frames if the next hop's MAC address is known by now."""
        way = link_route(self.dst)
        if way is None:
            return
        device, dst_mac, src_mac = way
        try:
            link = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)  # protocol 0: send-only
            link.bind((device, 0))
        except OSError:
            return
        self.link = link
        ip = IPv4(ttl=64, proto=IPProto.TCP, flags=FLAG_DF, src=self.src, dst=self.dst,
                  payload=bytes(20)).encode()[:20]  # total length 40, checksum computed
        frame_head = dst_mac + src_mac + ETH_P_IP.to_bytes(2, "big") + ip
        self.send = self._fast_send(link.send, frame_head, count=False)
        self.on_link = True

    def read_answers(self) -> list[Answer]:
        """The answers received since the last call."""
        if self.ring is not None:
            return self.ring.answers(self.reader)
        assert self.rx is not None
        return [a for f in recv_all(self.rx) if (a := self.interpret(f)) is not None]

    def close(self) -> None:
        if self.ring is not None:
            self.ring.close()
        for sock in (self.rx, self.tx, self.link):
            if sock is not None:
                sock.close()

    def send(self, dport: int, tryno: int) -> None:  # replaced by _fast_send once open
        assert self.tx is not None
        self.tx.send(self.packet(dport, tryno))

    def interpret(self, frame: bytes) -> Answer | None:
        return interpret(frame, self.cookies, self.base)


class RxRing:
    """A TPACKET_V2 receive ring on an AF_PACKET socket (packet_mmap.rst).

    The kernel copies each accepted frame into the next free slot of ``FRAMES`` slots of
    ``SLOT`` bytes (truncated to fit: an answer needs at most 150) and sets the slot's
    ``tp_status`` to TP_STATUS_USER; we copy the frame out and hand the slot back by writing
    TP_STATUS_KERNEL.  Slots are used in order, so reading stops at the first slot the kernel
    still owns.  If the ring is full the kernel drops (the loop reads it every 64 probes).
    """

    FRAMES = 8192
    SLOT = 256
    _HEADER = struct.Struct("=IIIHH")  # tpacket2_hdr: status, len, snaplen, mac, net
    _KERNEL = struct.Struct("=I")

    def __init__(self, sock: socket.socket) -> None:
        block = mmap.PAGESIZE
        per_block = block // self.SLOT
        sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V2)
        sock.setsockopt(SOL_PACKET, PACKET_RX_RING, struct.pack(
            "=IIII", block, self.FRAMES // per_block, self.SLOT, self.FRAMES))
        self.map = mmap.mmap(sock.fileno(), self.FRAMES * self.SLOT, mmap.MAP_SHARED,
                             mmap.PROT_READ | mmap.PROT_WRITE)
        self.next = 0
        recv_all(sock)  # frames queued before the ring existed: the ring sees the rest

    def answers(self, read: Reader) -> list[Answer]:
        """What ``read`` makes of every frame the kernel has put in the ring since the last
        call (read in place: no copy a frame); the slots go back to the kernel."""
        ring, slot, count = self.map, self.SLOT, self.FRAMES
        header, release = self._HEADER.unpack_from, self._KERNEL.pack_into
        found = []
        at = self.next
        while True:
            offset = at * slot
            status, _, snaplen, mac, _ = header(ring, offset)
            if not status & TP_STATUS_USER:
                break
            answer = read(ring, offset + mac, snaplen)
            if answer is not None:
                found.append(answer)
            release(ring, offset, 0)
            at = (at + 1) % count
        self.next = at
        return found

    def close(self) -> None:
        self.map.close()


def link_route(dst: str) -> tuple[str, bytes, bytes] | None:
    """(interface, next hop MAC, our MAC) to reach ``dst`` over Ethernet, or None.

    From the kernel's own tables, read as text: the main routing table (/proc/net/route,
    longest prefix wins), the neighbour (ARP) cache (/proc/net/arp, complete entries only)
    and the interface's type and address (/sys/class/net).  None for anything unusual
    (loopback, no route, no resolved neighbour, not Ethernet): then the raw IP socket stays.
    """
    target = int.from_bytes(socket.inet_aton(dst), "little")  # /proc/net/route's byte order
    best: tuple[int, str, int] | None = None
    try:
        with open("/proc/net/route") as table:
            next(table)
            for line in table:
                iface, dest, gateway, flags, *_, mask = line.split()[:8]
                net, netmask = int(dest, 16), int(mask, 16)
                if int(flags, 16) & 1 and target & netmask == net:  # RTF_UP, and matches
                    length = bin(netmask).count("1")
                    if best is None or length > best[0]:
                        best = (length, iface, int(gateway, 16))
        if best is None:
            return None
        _, device, gateway = best
        hop = socket.inet_ntoa(gateway.to_bytes(4, "little")) if gateway else dst
        with open(f"/sys/class/net/{device}/type") as kind:
            if kind.read().strip() != "1":  # ARPHRD_ETHER
                return None
        with open(f"/sys/class/net/{device}/address") as address:
            own = bytes.fromhex(address.read().strip().replace(":", ""))
        with open("/proc/net/arp") as arp:
            next(arp)
            for line in arp:
                ip, _, flags, mac, _, dev = line.split()[:6]
                if ip == hop and dev == device and int(flags, 16) & 0x2:  # ATF_COM
                    return device, bytes.fromhex(mac.replace(":", "")), own
    except (OSError, ValueError, StopIteration):
        return None
    return None


def open_receiver(target: str, base_sport: int) -> socket.socket:
    return bpf.open_ip_receiver(
        f"inbound and ((tcp and src host {target} and dst portrange "
        f"{base_sport}-{base_sport + MAX_TRIES - 1}) or (icmp and icmp[0] = 3))",
        refusal="a SYN scan needs CAP_NET_RAW: run as root, in a lab host (wirelab lab exec "
        "client -- wirelab scan ...), or use --type connect", rcvbuf=8 << 20)


def interpret(frame: bytes, cookies: Cookies, base: int | None = None) -> Answer | None:
    """(port, try, verdict, TTL) if ``frame`` (Ethernet) answers one of our probes."""
    return make_interpreter(cookies, cookies.sport if base is None else base)(frame)


def make_interpreter(cookies: Cookies, base: int) -> Callable[[bytes], Answer | None]:
    """The answer reader for one scan, for a frame in its own ``bytes``."""
    at = make_reader(cookies, base)
    return lambda frame: at(frame, 0, len(frame))


Reader = Callable[[bytes | mmap.mmap, int, int], Answer | None]


def make_reader(cookies: Cookies, base: int) -> Reader:
    """The answer reader for one scan: ``read(buffer, start, length)`` for the Ethernet frame
    of ``length`` bytes at ``start`` in ``buffer`` (a ``bytes``, or the receive ring itself,
    so a frame is read where the kernel put it), its constants bound as locals (hot path)."""
    target, table, top = cookies.target_bytes, cookies.table, base + MAX_TRIES
    tcp_answer, quoted_tcp = _TCP_ANSWER.unpack_from, _QUOTED_TCP.unpack_from
    icmp_verdict = states.from_icmp_unreachable

    def read(frame: bytes | mmap.mmap, start: int, length: int) -> Answer | None:
        ip = start + ETH_HLEN
        end = start + length
        if length < ETH_HLEN + 20 or frame[ip] >> 4 != 4:
            return None
        at = ip + (frame[ip] & 0x0F) * 4
        proto = frame[ip + 9]
        if proto == 6:  # TCP: SYN/ACK or RST acknowledging our cookie + 1
            if frame[ip + 12:ip + 16] != target or end < at + 14:
                return None
            sport, dport, _, ack, offflags = tcp_answer(frame, at)
            if not base <= dport < top or ack != (table[sport] + 1) & 0xFFFFFFFF:
                return None
            if offflags & _RST:
                return sport, dport - base, _CLOSED, frame[ip + 8]
            if offflags & _SYN:
                opened = _OPEN if offflags & _ACK else _SPLIT
                return sport, dport - base, opened, frame[ip + 8]
            return None
        if proto == 1:  # ICMP destination unreachable quoting our SYN
            if end < at + 8 + 20 or frame[at] != 3:
                return None
            verdict = icmp_verdict(frame[at + 1])
            quoted = at + 8
            qihl = (frame[quoted] & 0x0F) * 4
            if (verdict is None or frame[quoted + 9] != 6
                    or frame[quoted + 16:quoted + 20] != target
                    or end < quoted + qihl + 8):
                return None
            qsport, qdport, qseq = quoted_tcp(frame, quoted + qihl)
            if not base <= qsport < top or qseq != table[qdport]:
                return None
            return qdport, qsport - base, verdict, frame[ip + 8]
        return None

    return read


def syn_scan(target: str, address: str, ports: list[int], *, tpl: Template = TEMPLATES[4],
             max_retries: int = 6, progress: Progress | None = None) -> ScanResult:
    """SYN-scan ``ports`` of ``address`` (already checked against the scope)."""
    src = source_for(address, ports[0])
    base = 32768 + int.from_bytes(os.urandom(2), "big") % (28000 - MAX_TRIES)
    prober = Prober(src, address, base, Cookies(address, base))
    loop = ProbeLoop(ports, tpl, min(max_retries, MAX_TRIES - 1), silence=states.NO_ANSWER,
                     progress=progress)
    prober.open()
    try:
        loop.run(prober)
    finally:
        prober.close()
    return loop.result(target, address, "syn")
