"""Host discovery: who is up?  Like nmap ``-sn``, the method depends on where the targets are.

On the local segment, ARP (like ``arp-scan --localnet`` and nmap ``-sn`` on a LAN): one ARP
request (RFC 826) to every address of the segment, and a list of who answered.  Beyond it
(routed targets) ARP cannot reach, and :func:`probe_sweep` sends nmap's default probes for a
privileged user instead: ICMP echo, TCP SYN to 443, TCP ACK to 80 and ICMP timestamp.

Frames are built with the wire codecs and sent on an AF_PACKET socket bound to the segment's
interface; the same socket reads the answers through a BPF filter (libpcap-compiled, see
:mod:`wirelab.craft.bpf`) that lets in only ARP replies addressed to us.  A reply counts when
its sender address is one we asked about and its target is our own address.

Timing: a round sends every request still unanswered, then waits; there are three rounds, the
wait doubling each time (exponential backoff), so a host that drops one request is still found.
The waits follow the measured round trips as nmap -T4's do: the first round's answers feed an
RFC 6298 estimator (:class:`wirelab.recon.timing.RTOEstimator`, bounds 100 ms to 1.25 s), and
round k waits RTO * 2**k, but never longer than the fixed 0.25, 0.5, 1 s (ARP) or 0.3, 0.6,
1.2 s (probes) used when nothing has answered.  RTT is measured from the latest request to
that address.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import ipaddress
import json
import os
import select
import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from wirelab.craft import bpf
from wirelab.errors import NetworkError, PrivilegeError, ToolMissingError
from wirelab.recon.scope import LAB_NETWORK, ScopeError
from wirelab.recon.timing import RTOEstimator
from wirelab.wire.arp import ARP, ARPOp
from wirelab.wire.ethernet import Ethernet, EtherType
from wirelab.wire.icmp import ICMP, ICMPType
from wirelab.wire.ipv4 import IPProto, IPv4
from wirelab.wire.tcp import TCP, TCPFlags

ETH_P_ARP = 0x0806
BROADCAST = "ff:ff:ff:ff:ff:ff"
WAITS = (0.25, 0.5, 1.0)
MAX_ADDRESSES = 4096  # a /20: bigger sweeps are not what a lab segment needs


@dataclass(frozen=True, slots=True)
class Interface:
    name: str
    mac: str
    address: str
    network: ipaddress.IPv4Network


@dataclass(slots=True)
class Found:
    ip: str
    mac: str
    rtt: float


@dataclass(slots=True)
class Discovery:
    interface: Interface
    scanned: int
    hosts: list[Found] = field(default_factory=list)
    elapsed: float = 0.0


def interfaces() -> list[Interface]:
    """This namespace's Ethernet interfaces with an IPv4 address.

    From ``ip -j addr`` (with ``-4`` it would leave out the MAC address we need).
    """
    ip = shutil.which("ip")
    if ip is None:
        raise ToolMissingError("the ip command (iproute2) is needed to find the segment")
    done = subprocess.run([ip, "-j", "addr", "show"], capture_output=True, text=True,
                          check=True)
    found = []
    for link in json.loads(done.stdout):
        mac = link.get("address", "")
        if link.get("link_type") != "ether" or "UP" not in link.get("flags", []):
            continue
        for addr in link.get("addr_info", []):
            if addr.get("family") == "inet":
                net = ipaddress.IPv4Network(f"{addr['local']}/{addr['prefixlen']}", strict=False)
                found.append(Interface(link["ifname"], mac, addr["local"], net))
    return found


def parse_network(network: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(network, strict=False)
    except ValueError:
        raise NetworkError(f"not an IPv4 network: {network!r}") from None


def check_sweep_scope(target: ipaddress.IPv4Network, env_lab: str | None) -> list[str]:
    """The addresses of ``target`` to probe; refuse anything outside the running lab."""
    if not (env_lab and target.subnet_of(LAB_NETWORK)):
        raise ScopeError(f"refusing to sweep {target}: only the segments of a running lab, "
                         "from inside a lab host (wirelab lab exec client -- wirelab discover)")
    hosts = [str(h) for h in (target.hosts() if target.prefixlen < 31 else target)]
    if len(hosts) > MAX_ADDRESSES:
        raise NetworkError(f"{target} has {len(hosts)} addresses; at most {MAX_ADDRESSES}")
    return hosts


def local_interface(target: ipaddress.IPv4Network) -> Interface | None:
    """The interface whose segment holds ``target``, if any (then ARP reaches it)."""
    matching = [i for i in interfaces() if target.subnet_of(i.network)]
    return matching[0] if matching else None


Targets = str | Sequence[str] | None


def _networks(targets: Targets) -> list[ipaddress.IPv4Network]:
    names = [targets] if isinstance(targets, str) else list(targets or [])
    return [parse_network(n) for n in names]


def _addresses(networks: list[ipaddress.IPv4Network], env_lab: str | None) -> list[str]:
    """Every address of ``networks`` once, in order; scope and size checked."""
    seen: dict[str, None] = {}
    for net in networks:
        seen.update(dict.fromkeys(check_sweep_scope(net, env_lab)))
    if len(seen) > MAX_ADDRESSES:
        raise NetworkError(f"{len(seen)} addresses to sweep; at most {MAX_ADDRESSES}")
    return list(seen)


def choose(targets: Targets, env_lab: str | None) -> tuple[Interface, list[str]]:
    """The interface to sweep from and the addresses to ask about; refuse outside the lab."""
    networks = _networks(targets)
    if not networks:
        ifaces = interfaces()
        if not ifaces:
            raise NetworkError("no Ethernet interface with an IPv4 address is up here")
        iface, networks = ifaces[0], [ifaces[0].network]
    else:
        found = {local_interface(net) for net in networks}
        if None in found or len(found) > 1:
            where = " ".join(str(n) for n in networks)
            raise NetworkError(f"{where} is not on a segment this host is attached to: "
                               "ARP reaches only the local segment")
        iface = found.pop()  # type: ignore[assignment]
    hosts = _addresses(networks, env_lab)
    return iface, [h for h in hosts if h != iface.address]


def _request(iface: Interface, ip: str) -> bytes:
    arp = ARP(op=ARPOp.REQUEST, sha=iface.mac, spa=iface.address, tpa=ip).encode()
    return Ethernet(dst=BROADCAST, src=iface.mac, type=EtherType.ARP, payload=arp).encode()


def _open(iface: Interface) -> socket.socket:
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
    except PermissionError:
        raise PrivilegeError("ARP discovery needs CAP_NET_RAW: run it in a lab host "
                             "(wirelab lab exec client -- wirelab discover)") from None
    bpf.attach(sock, bpf.compile_filter(f"arp and arp[6:2] = 2 and arp dst host {iface.address}"))
    sock.bind((iface.name, ETH_P_ARP))
    sock.setblocking(False)
    return sock


def round_wait(fixed: float, rto: RTOEstimator, round_no: int) -> float:
    """How long round ``round_no`` (0-based) waits: the backed-off RTO, at most ``fixed``."""
    if rto.srtt is None:  # nothing answered yet: nothing to measure
        return fixed
    return min(fixed, rto.rto * 2 ** round_no)


def sweep(network: Targets = None, env_lab: str | None = None) -> Discovery:
    """ARP-sweep ``network`` (one or several; default: the first interface's segment)."""
    started = time.monotonic()
    iface, addresses = choose(network, env_lab)
    wanted = set(addresses)
    sent_at: dict[str, float] = {}
    found: dict[str, Found] = {}
    rto = RTOEstimator()
    with _open(iface) as sock:
        for round_no, fixed in enumerate(WAITS):
            for ip in addresses:
                if ip not in found:
                    frame = _request(iface, ip)
                    # Stamped before sending: the reply can be queued before send() returns.
                    sent_at[ip] = time.monotonic()
                    sock.send(frame)
                    _drain(sock, iface, wanted, sent_at, found)  # early answers: exact RTT
            deadline = time.monotonic() + round_wait(fixed, _sampled(rto, found), round_no)
            while len(found) < len(addresses) and (left := deadline - time.monotonic()) > 0:
                if select.select([sock], [], [], left)[0]:
                    _drain(sock, iface, wanted, sent_at, found)
            if len(found) == len(addresses):
                break
    hosts = sorted(found.values(), key=lambda f: ipaddress.IPv4Address(f.ip))
    return Discovery(iface, len(addresses), hosts, time.monotonic() - started)


def _sampled(rto: RTOEstimator, found: dict[str, Any]) -> RTOEstimator:
    """``rto`` fed once with the RTTs measured so far (first answers only: Karn's rule holds,
    since an address is not asked again once it answered)."""
    if rto.srtt is None:
        for answer in found.values():
            rto.sample(answer.rtt)
    return rto


def _drain(sock: socket.socket, iface: Interface, wanted: set[str], sent_at: dict[str, float],
           found: dict[str, Found]) -> None:
    while True:
        try:
            frame = sock.recv(2048)
        except BlockingIOError:
            return
        now = time.monotonic()
        try:
            arp = ARP.decode(Ethernet.decode(frame).payload)
        except Exception:  # noqa: BLE001 - a frame we cannot decode is not an answer
            continue
        if arp.op != ARPOp.REPLY or arp.tpa != iface.address:
            continue
        if arp.spa in wanted and arp.spa not in found and arp.spa in sent_at:
            found[arp.spa] = Found(arp.spa, arp.sha, now - sent_at[arp.spa])


# -- beyond the segment: nmap's default probes ----------------------------------------------
#
# nmap -sn as root, for targets off the local segment, sends four probes a host: ICMP echo,
# TCP SYN to 443, TCP ACK to 80 and ICMP timestamp (nmap book, "Host Discovery Controls",
# default when no -P option is given); all four are sent.  Any answer means the host is up:
# an echo or timestamp reply; a SYN/ACK or RST to the SYN (open or closed port: either way a
# live TCP stack answered); a RST to the unsolicited ACK (RFC 9293 3.10.7.1: a segment that
# acknowledges nothing we sent gets <SEQ=SEG.ACK><CTL=RST>).  The timestamp request (RFC 792)
# finds hosts whose firewall drops only echo requests, as many do.  ICMP errors from a router
# (host unreachable after its ARP failed) do not make a host up, as in nmap.
#
# Matching is keyed like the SYN scan's: the SYN's sequence number and the ACK's
# acknowledgment number are HMAC cookies of (address, port, source port), so a SYN/ACK or RST
# counts only if it acknowledges cookie + 1 (to the SYN) or carries seq == cookie (to the
# ACK); the echo and timestamp requests carry a random identifier and the address's index as
# their sequence number.

PROBE_WAITS = (0.3, 0.6, 1.2)  # a round's wait, doubling: the retries' backoff
SYN_PORT, ACK_PORT = 443, 80
ICMP_REPLIES = {int(ICMPType.ECHO_REPLY): "echo-reply",
                int(ICMPType.TIMESTAMP_REPLY): "timestamp-reply"}


@dataclass(slots=True)
class Up:
    ip: str
    reason: str  # nmap's reason names: echo-reply, timestamp-reply, syn-ack, reset
    rtt: float


@dataclass(slots=True)
class ProbeDiscovery:
    network: str
    source: str
    scanned: int
    hosts: list[Up] = field(default_factory=list)
    elapsed: float = 0.0
    rounds: int = 0


class _Keys:
    """The probes' identifiers for one sweep."""

    def __init__(self, addresses: list[str]) -> None:
        self.key = os.urandom(16)
        self.echo_id = int.from_bytes(os.urandom(2), "big")
        self.sport = 32768 + int.from_bytes(os.urandom(2), "big") % 28000
        self.index = {ip: i for i, ip in enumerate(addresses)}

    def cookie(self, ip: str, dport: int) -> int:
        msg = f"{ip}|{dport}|{self.sport}".encode()
        return int.from_bytes(hmac.digest(self.key, msg, hashlib.sha256)[:4], "big")


def build_probes(src: str, ip: str, keys: _Keys) -> list[bytes]:
    """The four IPv4 packets for ``ip``: echo, SYN to 443, ACK to 80, timestamp."""
    seq = keys.index[ip] & 0xFFFF
    echo = ICMP(ICMPType.ECHO_REQUEST, 0, id=keys.echo_id, seq=seq,
                payload=b"wirelab-discover").encode()
    # originate, receive, transmit timestamps (ms since midnight UT); the target fills in two
    stamp = int(time.time() % 86400 * 1000).to_bytes(4, "big")
    timestamp = ICMP(ICMPType.TIMESTAMP, 0, id=keys.echo_id, seq=seq,
                     payload=stamp + bytes(8)).encode()
    syn = TCP(keys.sport, SYN_PORT, seq=keys.cookie(ip, SYN_PORT), flags=TCPFlags.SYN,
              window=1024).encode(src, ip)
    ack = TCP(keys.sport, ACK_PORT, seq=0, ack=keys.cookie(ip, ACK_PORT), flags=TCPFlags.ACK,
              window=1024).encode(src, ip)
    return [IPv4(ttl=64, proto=proto, src=src, dst=ip, payload=body).encode()
            for proto, body in ((IPProto.ICMP, echo), (IPProto.TCP, syn), (IPProto.TCP, ack),
                                (IPProto.ICMP, timestamp))]


def classify(frame: bytes, keys: _Keys) -> tuple[str, str] | None:
    """(address, reason) if ``frame`` answers one of our probes, else None."""
    try:
        ip = IPv4.decode(frame, 14)
        if ip.src not in keys.index:
            return None
        if ip.proto == IPProto.ICMP:
            icmp = ICMP.decode(ip.payload)
            reason = ICMP_REPLIES.get(int(icmp.type))
            if (reason is not None and icmp.id == keys.echo_id
                    and icmp.seq == keys.index[ip.src] & 0xFFFF):
                return ip.src, reason
            return None
        if ip.proto != IPProto.TCP:
            return None
        tcp = TCP.decode(ip.payload)
        flags = int(tcp.flags)
        if tcp.dport != keys.sport:
            return None
        if tcp.sport == SYN_PORT and tcp.ack == (keys.cookie(ip.src, SYN_PORT) + 1) % 2**32:
            if flags & int(TCPFlags.RST):
                return ip.src, "reset"
            if flags & int(TCPFlags.SYN):
                return ip.src, "syn-ack"
        if (tcp.sport == ACK_PORT and flags & int(TCPFlags.RST)
                and tcp.seq == keys.cookie(ip.src, ACK_PORT)):
            return ip.src, "reset"
    except Exception:  # noqa: BLE001 - a frame we cannot decode is not an answer
        return None
    return None


def _probe_receiver(sport: int) -> socket.socket:
    return bpf.open_ip_receiver(
        f"inbound and ((icmp and (icmp[0] = 0 or icmp[0] = 14)) or (tcp and dst port {sport}))",
        refusal="discovery beyond the segment needs CAP_NET_RAW: run it in a lab host "
        "(wirelab lab exec client -- wirelab discover ...)")


def probe_sweep(network: Targets, env_lab: str | None) -> ProbeDiscovery:
    """Find the hosts of routed ``network`` (one or several) answering any of nmap's probes."""
    from wirelab.sockets.raw import open_raw, source_for

    started = time.monotonic()
    networks = _networks(network)
    if not networks:
        raise NetworkError("discovery beyond the segment needs a network to probe")
    addresses = _addresses(networks, env_lab)
    src = source_for(addresses[0], SYN_PORT)
    addresses = [a for a in addresses if a != src]
    keys = _Keys(addresses)
    sent_at: dict[str, float] = {}
    found: dict[str, Up] = {}
    rounds = 0
    rto = RTOEstimator()
    with _probe_receiver(keys.sport) as rx, open_raw(socket.AF_INET, hdrincl=True) as tx:
        for round_no, fixed in enumerate(PROBE_WAITS):
            rounds += 1
            for ip in addresses:
                if ip in found:
                    continue
                sent_at[ip] = time.monotonic()  # before sending: the answer can beat send()
                for packet in build_probes(src, ip, keys):
                    _send_probe(tx, packet, ip)
                _drain_probes(rx, keys, sent_at, found)
            deadline = time.monotonic() + round_wait(fixed, _sampled(rto, found), round_no)
            while len(found) < len(addresses) and (left := deadline - time.monotonic()) > 0:
                if select.select([rx], [], [], left)[0]:
                    _drain_probes(rx, keys, sent_at, found)
            if len(found) == len(addresses):
                break
    hosts = sorted(found.values(), key=lambda u: ipaddress.IPv4Address(u.ip))
    return ProbeDiscovery(" ".join(map(str, networks)), src, len(addresses), hosts,
                          time.monotonic() - started,
                          rounds)


def _send_probe(tx: socket.socket, packet: bytes, ip: str) -> None:
    while True:
        try:
            tx.sendto(packet, (ip, 0))
            return
        except OSError as exc:
            if exc.errno == errno.ENOBUFS:  # the device queue is full: let it drain
                time.sleep(0.001)
                continue
            if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
                return  # no route to this one: it cannot answer, the sweep goes on
            raise NetworkError(f"sending to {ip} failed: {exc.strerror}") from None


def _drain_probes(rx: socket.socket, keys: _Keys, sent_at: dict[str, float],
                  found: dict[str, Up]) -> None:
    while True:
        try:
            frame = rx.recv(65535)
        except BlockingIOError:
            return
        now = time.monotonic()
        answer = classify(frame, keys)
        if answer is not None and answer[0] not in found and answer[0] in sent_at:
            ip, reason = answer
            found[ip] = Up(ip, reason, now - sent_at[ip])


def discover(targets: Targets, env_lab: str | None) -> Discovery | ProbeDiscovery:
    """ARP when the targets are on this host's segment (or none are given), nmap's probes
    when none of them is; a mix of both is refused (run the two kinds separately)."""
    networks = _networks(targets)
    local = [local_interface(net) is not None for net in networks]
    if networks and not any(local):
        return probe_sweep(targets, env_lab)
    if networks and not all(local):
        _addresses(networks, env_lab)  # out of scope: say that first
        raise NetworkError("some targets are on this host's segment (ARP) and some beyond it "
                           "(probes): sweep them in two runs")
    return sweep(targets, env_lab)
