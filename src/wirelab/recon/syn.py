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
source ports and ICMP destination unreachables.  They are read at fixed offsets with
``struct`` (the IPv4 header length honoured), without building header objects.

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

The kernel answers a SYN/ACK to our raw probe with a RST (it has no socket for it), which
closes the half-open connection on the target for us, as it does for nmap.
"""

from __future__ import annotations

import hashlib
import os
import socket
import struct

from wirelab.craft import bpf
from wirelab.errors import PrivilegeError
from wirelab.recon import states
from wirelab.recon.result import Progress, ScanResult
from wirelab.recon.timing import TEMPLATES, Answer, ProbeLoop, Template
from wirelab.sockets.raw import open_raw, source_for
from wirelab.wire.ipv4 import IPProto, IPv4
from wirelab.wire.tcp import TCP, TCPFlags

ETH_P_IP = 0x0800
ETH_HLEN = 14
WINDOW = 1024
MAX_TRIES = 16  # source ports base .. base + 15 are ours
_TCP = struct.Struct("!HHIIHHHH")  # sport dport seq ack off/flags window checksum urgent
_TCP_ANSWER = struct.Struct("!HHIIH")  # sport dport seq ack off/flags
_QUOTED_TCP = struct.Struct("!HHI")  # sport, dport, seq: the first 8 quoted bytes hold them
_OFF_SYN = (5 << 12) | int(TCPFlags.SYN)
_RST, _SYN, _ACK = int(TCPFlags.RST), int(TCPFlags.SYN), int(TCPFlags.ACK)
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
        self.table: tuple[int, ...] = struct.unpack(f"!{65536}I", stream)

    def seq(self, dport: int) -> int:
        return self.table[dport]


def build_probe(src: str, dst: str, sport: int, dport: int, seq: int) -> bytes:
    """IPv4 header + SYN from the wire codecs, checksums computed (the reference bytes)."""
    segment = TCP(sport, dport, seq=seq, flags=TCPFlags.SYN, window=WINDOW).encode(src, dst)
    return IPv4(ttl=64, proto=IPProto.TCP, src=src, dst=dst, payload=segment).encode()


class Prober:
    """Builds SYN probes fast, sends them, and reads the answers."""

    def __init__(self, src: str, dst: str, base_sport: int, cookies: Cookies) -> None:
        self.dst = dst
        self.base = base_sport
        self.cookies = cookies
        self.target_bytes = socket.inet_aton(dst)
        # The IPv4 header with length, id and checksum zero: the kernel fills them in.
        self.ip = IPv4(ttl=64, proto=IPProto.TCP, src=src, dst=dst, payload=b"").encode()
        self.ip = self.ip[:2] + b"\0\0\0\0" + self.ip[6:10] + b"\0\0" + self.ip[12:20]
        s, d = socket.inet_aton(src), socket.inet_aton(dst)
        self._sum0 = (sum(struct.unpack("!HHHH", s + d)) + IPProto.TCP + 20
                      + _OFF_SYN + WINDOW)  # pseudo-header and the constant header words
        self.rx: socket.socket | None = None
        self.tx: socket.socket | None = None

    def packet(self, dport: int, tryno: int) -> bytes:
        sport = self.base + tryno
        seq = self.cookies.table[dport]
        total = self._sum0 + sport + dport + (seq >> 16) + (seq & 0xFFFF)
        total = (total & 0xFFFF) + (total >> 16)
        total = (total & 0xFFFF) + (total >> 16)
        return self.ip + _TCP.pack(sport, dport, seq, 0, _OFF_SYN, WINDOW, ~total & 0xFFFF, 0)

    def open(self) -> None:
        self.rx = open_receiver(self.dst, self.base)
        self.tx = open_raw(socket.AF_INET, hdrincl=True)
        self.tx.connect((self.dst, 0))  # then send() needs no address parsed per probe

    def close(self) -> None:
        for sock in (self.rx, self.tx):
            if sock is not None:
                sock.close()

    def send(self, dport: int, tryno: int) -> None:
        assert self.tx is not None
        self.tx.send(self.packet(dport, tryno))

    def interpret(self, frame: bytes) -> Answer | None:
        return interpret(frame, self.cookies, self.base)


def open_receiver(target: str, base_sport: int) -> socket.socket:
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
    except PermissionError:
        raise PrivilegeError("a SYN scan needs CAP_NET_RAW: run as root, in a lab host "
                             "(wirelab lab exec client -- wirelab scan ...), or use "
                             "--type connect") from None
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    expression = (f"inbound and ((tcp and src host {target} and dst portrange "
                  f"{base_sport}-{base_sport + MAX_TRIES - 1}) or (icmp and icmp[0] = 3))")
    bpf.attach(sock, bpf.compile_filter(expression))
    sock.setblocking(False)
    return sock


def interpret(frame: bytes, cookies: Cookies, base: int | None = None) -> Answer | None:
    """(port, try, verdict, TTL) if ``frame`` (Ethernet) answers one of our probes."""
    if base is None:
        base = cookies.sport
    if len(frame) < ETH_HLEN + 20 or frame[ETH_HLEN] >> 4 != 4:
        return None
    ihl = (frame[ETH_HLEN] & 0x0F) * 4
    proto = frame[ETH_HLEN + 9]
    at = ETH_HLEN + ihl
    if proto == 6:
        if frame[ETH_HLEN + 12:ETH_HLEN + 16] != cookies.target_bytes:
            return None
        if len(frame) < at + _TCP_ANSWER.size:
            return None
        sport, dport, _, ack, offflags = _TCP_ANSWER.unpack_from(frame, at)
        tryno = dport - base
        if not 0 <= tryno < MAX_TRIES or ack != (cookies.table[sport] + 1) & 0xFFFFFFFF:
            return None
        ttl = frame[ETH_HLEN + 8]
        if offflags & _RST:
            return sport, tryno, _CLOSED, ttl
        if offflags & _SYN:
            return sport, tryno, _OPEN if offflags & _ACK else _SPLIT, ttl
        return None
    if proto == 1:
        if len(frame) < at + 8 + 20 or frame[at] != 3:
            return None
        verdict = states.from_icmp_unreachable(frame[at + 1])
        quoted = at + 8
        qihl = (frame[quoted] & 0x0F) * 4
        if (verdict is None or frame[quoted + 9] != 6
                or frame[quoted + 16:quoted + 20] != cookies.target_bytes
                or len(frame) < quoted + qihl + _QUOTED_TCP.size):
            return None
        qsport, qdport, qseq = _QUOTED_TCP.unpack_from(frame, quoted + qihl)
        tryno = qsport - base
        if not 0 <= tryno < MAX_TRIES or qseq != cookies.table[qdport]:
            return None
        return qdport, tryno, verdict, frame[ETH_HLEN + 8]
    return None


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
