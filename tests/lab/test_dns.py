"""The lab's DNS server: real queries on the wire, answered only for the lab's names."""

from __future__ import annotations

import socket
import struct
from pathlib import Path

import pytest

from wirelab.lab.lab import Lab
from wirelab.wire.dns import DNSMessage, QType, Rcode
from wirelab.wire.pcap import PcapReader

pytestmark = pytest.mark.lab


def _ask_udp(server: str, name: str, qtype: int) -> DNSMessage:
    query = DNSMessage.query(name, qtype)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(3)
        sock.sendto(query.encode(), (server, 53))
        reply = DNSMessage.decode(sock.recv(4096))
    assert reply.id == query.id and reply.qr
    return reply


def _ask_tcp(server: str, name: str) -> DNSMessage:
    query = DNSMessage.query(name, QType.A)
    with socket.create_connection((server, 53), timeout=3) as sock:
        sock.sendall(query.encode_tcp())
        (length,) = struct.unpack("!H", sock.recv(2, socket.MSG_WAITALL))
        return DNSMessage.decode(sock.recv(length, socket.MSG_WAITALL))


def test_getent_resolves_lab_names(shared_lab: Lab) -> None:
    client = shared_lab.host("client")
    for name, address in (("server", "198.18.0.20"), ("remote", "198.18.1.10"),
                          ("router.lab", "198.18.0.1")):
        result = client.run(["getent", "hosts", name])
        assert result.returncode == 0, (name, result.stderr)
        assert result.stdout.split()[0] == address


def test_a_record_over_udp_and_tcp(shared_lab: Lab) -> None:
    client = shared_lab.host("client")
    reply = client.call(_ask_udp, "198.18.0.20", "remote.lab", QType.A)
    assert reply.rcode == Rcode.NOERROR and reply.aa
    assert [rr.rdata.address for rr in reply.answers] == ["198.18.1.10"]  # type: ignore
    reply = client.call(_ask_tcp, "198.18.0.20", "server.lab")
    assert [rr.rdata.address for rr in reply.answers] == ["198.18.0.20"]  # type: ignore


def test_router_has_two_addresses(shared_lab: Lab) -> None:
    reply = shared_lab.host("remote").call(_ask_udp, "198.18.0.20", "router.lab", QType.A)
    assert sorted(rr.rdata.address for rr in reply.answers) == [  # type: ignore
        "198.18.0.1", "198.18.1.1"]


def test_reverse_lookup(shared_lab: Lab) -> None:
    reply = shared_lab.host("client").call(_ask_udp, "198.18.0.20",
                                           "10.1.18.198.in-addr.arpa", QType.PTR)
    assert [rr.rdata.target for rr in reply.answers] == ["remote.lab"]  # type: ignore


def test_unknown_and_outside_names(shared_lab: Lab) -> None:
    client = shared_lab.host("client")
    missing = client.call(_ask_udp, "198.18.0.20", "nobody.lab", QType.A)
    assert missing.rcode == Rcode.NXDOMAIN and missing.authorities
    nodata = client.call(_ask_udp, "198.18.0.20", "server.lab", QType.AAAA)
    assert nodata.rcode == Rcode.NOERROR and not nodata.answers and nodata.authorities
    # Not a recursive resolver: an Internet name is refused, never forwarded anywhere.
    outside = client.call(_ask_udp, "198.18.0.20", "example.com", QType.A)
    assert outside.rcode == Rcode.REFUSED and not outside.answers


def test_name_lookup_puts_dns_on_the_wire(lab: Lab, tmp_path: Path) -> None:
    path = tmp_path / "dns.pcap"
    with lab.capture("server", path, bpf="udp port 53") as cap:
        result = lab.host("client").run(["getent", "hosts", "remote"])
        assert result.returncode == 0
        cap.wait(timeout=0.5)
    messages = []
    for packet in PcapReader(str(path)):
        udp = packet.data[14 + 20:]
        messages.append(DNSMessage.decode(udp[8:]))
    queries = [m for m in messages if not m.qr]
    answers = [m for m in messages if m.qr and m.answers]
    assert any(q.questions[0].name == "remote.lab" for q in queries)
    assert any(rr.rdata.address == "198.18.1.10"  # type: ignore[attr-defined]
               for m in answers for rr in m.answers)
