"""ARP discovery of the local segment (like ``arp-scan --localnet`` and nmap ``-sn`` on a
LAN): one ARP request (RFC 826) to every address of the segment, and a list of who answered.

Frames are built with the wire codecs and sent on an AF_PACKET socket bound to the segment's
interface; the same socket reads the answers through a BPF filter (libpcap-compiled, see
:mod:`wirelab.craft.bpf`) that lets in only ARP replies addressed to us.  A reply counts when
its sender address is one we asked about and its target is our own address.

Timing: a round sends every request still unanswered, then waits; there are three rounds with
waits of 0.25, 0.5 and 1 s (exponential backoff), so a host that drops one request is still
found.  RTT is measured from the latest request to that address.
"""

from __future__ import annotations

import ipaddress
import json
import select
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field

from wirelab.craft import bpf
from wirelab.errors import NetworkError, PrivilegeError, ToolMissingError
from wirelab.recon.scope import LAB_NETWORK, ScopeError
from wirelab.wire.arp import ARP, ARPOp
from wirelab.wire.ethernet import Ethernet, EtherType

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


def choose(network: str | None, env_lab: str | None) -> tuple[Interface, list[str]]:
    """The interface to sweep from and the addresses to ask about; refuse outside the lab."""
    ifaces = interfaces()
    if network is None:
        if not ifaces:
            raise NetworkError("no Ethernet interface with an IPv4 address is up here")
        iface, target = ifaces[0], ifaces[0].network
    else:
        try:
            target = ipaddress.IPv4Network(network, strict=False)
        except ValueError:
            raise NetworkError(f"not an IPv4 network: {network!r}") from None
        matching = [i for i in ifaces if target.subnet_of(i.network)]
        if not matching:
            raise NetworkError(f"{target} is not on a segment this host is attached to: "
                               "ARP reaches only the local segment")
        iface = matching[0]
    if not (env_lab and target.subnet_of(LAB_NETWORK)):
        raise ScopeError(f"refusing to sweep {target}: only the segments of a running lab, "
                         "from inside a lab host (wirelab lab exec client -- wirelab discover)")
    hosts = [str(h) for h in (target.hosts() if target.prefixlen < 31 else target)]
    if len(hosts) > MAX_ADDRESSES:
        raise NetworkError(f"{target} has {len(hosts)} addresses; at most {MAX_ADDRESSES}")
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


def sweep(network: str | None = None, env_lab: str | None = None) -> Discovery:
    """ARP-sweep ``network`` (default: the first interface's segment)."""
    started = time.monotonic()
    iface, addresses = choose(network, env_lab)
    wanted = set(addresses)
    sent_at: dict[str, float] = {}
    found: dict[str, Found] = {}
    with _open(iface) as sock:
        for wait in WAITS:
            for ip in addresses:
                if ip not in found:
                    frame = _request(iface, ip)
                    # Stamped before sending: the reply can be queued before send() returns.
                    sent_at[ip] = time.monotonic()
                    sock.send(frame)
                    _drain(sock, iface, wanted, sent_at, found)  # early answers: exact RTT
            deadline = time.monotonic() + wait
            while len(found) < len(addresses) and (left := deadline - time.monotonic()) > 0:
                if select.select([sock], [], [], left)[0]:
                    _drain(sock, iface, wanted, sent_at, found)
            if len(found) == len(addresses):
                break
    hosts = sorted(found.values(), key=lambda f: ipaddress.IPv4Address(f.ip))
    return Discovery(iface, len(addresses), hosts, time.monotonic() - started)


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
