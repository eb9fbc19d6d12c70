"""Regenerate the capture vectors in this directory (run as root; needs tcpdump, tshark, editcap).

    sudo .venv/bin/python tests/wire/data/make_vectors.py

Everything happens inside a private network and mount namespace (``unshare -mn``): only its
own loopback exists, so the captures hold nothing but the traffic made here, and the
resolv.conf bind-mounted for glibc's resolver is invisible outside.  The packets come from real
implementations: the kernel's UDP/TCP stack, glibc's stub resolver (getaddrinfo) asking a small
responder whose answers Scapy builds and compresses (``dns_compress``), and Scapy-built queries
for MX/TXT/SOA/NS/PTR.  The files are written by tcpdump, tshark (dumpcap) and editcap.
"""

from __future__ import annotations

import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = pathlib.Path(__file__).resolve().parent
NAME = "www.wirelab.test"


def _answer(query: bytes) -> bytes:
    """The response Scapy builds for one query (A/AAAA via a CNAME, and a few other types)."""
    from scapy.layers.dns import DNS, DNSRR, DNSRRMX, DNSRRSOA, dns_compress

    q = DNS(query)
    qname = q.qd[0].qname.decode().rstrip(".")
    qtype = q.qd[0].qtype
    soa = DNSRRSOA(rrname="wirelab.test", ttl=3600, mname="ns1.wirelab.test",
                   rname="hostmaster.wirelab.test", serial=2024010101, refresh=7200,
                   retry=900, expire=1209600, minimum=300)
    an: list = []
    ns: list = []
    ar: list = []
    rcode = 0
    if qname == NAME and qtype in (1, 28):
        an.append(DNSRR(rrname=NAME, type="CNAME", ttl=300, rdata="web.wirelab.test"))
        if qtype == 1:
            an += [DNSRR(rrname="web.wirelab.test", type="A", ttl=60, rdata="198.18.0.7"),
                   DNSRR(rrname="web.wirelab.test", type="A", ttl=60, rdata="198.18.0.8")]
        else:
            an.append(DNSRR(rrname="web.wirelab.test", type="AAAA", ttl=60,
                            rdata="2001:db8::7"))
    elif qtype == 15:
        an.append(DNSRRMX(rrname=qname, ttl=600, preference=10, exchange="mail.wirelab.test"))
        ar.append(DNSRR(rrname="mail.wirelab.test", type="A", ttl=600, rdata="198.18.0.25"))
    elif qtype == 16:
        an.append(DNSRR(rrname=qname, type="TXT", ttl=60,
                        rdata=[b"v=spf1 -all", b"wirelab vector"]))
    elif qtype == 2:
        an.append(DNSRR(rrname=qname, type="NS", ttl=3600, rdata="ns1.wirelab.test"))
        ar.append(DNSRR(rrname="ns1.wirelab.test", type="A", ttl=3600, rdata="198.18.0.53"))
    elif qtype == 12:
        an.append(DNSRR(rrname=qname, type="PTR", ttl=300, rdata=NAME))
    elif qtype == 6:
        an.append(soa)
    else:
        rcode = 3  # NXDOMAIN with the SOA in the authority section (RFC 2308 3)
        ns.append(soa)
    reply = DNS(id=q.id, qr=1, aa=1, rd=q.rd, ra=0, rcode=rcode, qd=q.qd, an=an, ns=ns, ar=ar)
    return bytes(dns_compress(reply))


def _responder(sock: socket.socket, stop: threading.Event) -> None:
    sock.settimeout(0.2)
    while not stop.is_set():
        try:
            query, peer = sock.recvfrom(4096)
        except TimeoutError:
            continue
        sock.sendto(_answer(query), peer)


def _start(argv: list[str], ready: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    line = b""
    while ready.encode() not in line:
        line = proc.stderr.readline()
        if not line:
            raise RuntimeError(f"{argv[0]} did not start")
    return proc


def _traffic() -> None:
    from scapy.layers.dns import DNS, DNSQR

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        for size in (0, 1, 17, 512, 1400):  # 1400 > the 200-byte snaplen: caplen < len
            udp.sendto(bytes(range(256)) * (size // 256) + bytes(size % 256), ("127.0.0.1", 9999))
    # glibc's stub resolver: one A and one AAAA question, answered via a CNAME.
    socket.getaddrinfo(NAME, 80, socket.AF_INET, socket.SOCK_STREAM)
    socket.getaddrinfo(NAME, 80, socket.AF_INET6, socket.SOCK_STREAM)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(2)
        for i, (qname, qtype) in enumerate([("wirelab.test", "MX"), ("wirelab.test", "TXT"),
                                            ("wirelab.test", "NS"), ("wirelab.test", "SOA"),
                                            ("7.0.18.198.in-addr.arpa", "PTR"),
                                            ("nowhere.wirelab.test", "A")]):
            client.sendto(bytes(DNS(id=0x4000 + i, rd=1, qd=DNSQR(qname=qname, qtype=qtype))),
                          ("127.0.0.1", 53))
            client.recvfrom(4096)
    with socket.create_server(("127.0.0.1", 8080)) as server:
        with socket.create_connection(("127.0.0.1", 8080)) as conn:
            peer, _ = server.accept()
            conn.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            peer.recv(4096)
            peer.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            conn.recv(4096)
            peer.close()
    time.sleep(0.5)


def inside() -> None:
    """Run within ``unshare -mn``: loopback up, captures on, traffic, captures off."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="wirelab-vectors-"))
    resolv = tmp / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\noptions attempts:1 timeout:2\n")
    subprocess.run(["mount", "--bind", str(resolv), "/etc/resolv.conf"], check=True)
    # tshark first: at start-up its extcap helpers (androiddump) probe 127.0.0.1:5037, and
    # that noise should not reach the tcpdump files.
    captures = [
        (["tshark", "-i", "lo", "-i", "any", "-F", "pcapng", "-w",
          str(HERE / "lo-any-2if.pcapng"), "-f", "udp"], "Capturing on"),
        (["tcpdump", "-i", "lo", "-U", "-w", str(HERE / "lo-usec.pcap")], "listening on"),
        (["tcpdump", "-i", "lo", "-U", "-s", "200", "--time-stamp-precision=nano",
          "-w", str(HERE / "lo-nsec-snap200.pcap")], "listening on"),
        (["tcpdump", "-i", "any", "-y", "LINUX_SLL", "-U", "-w", str(HERE / "any-sll.pcap"),
          "udp"], "listening on"),
    ]
    procs = [_start(argv, ready) for argv, ready in captures]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 53))
    stop = threading.Event()
    thread = threading.Thread(target=_responder, args=(sock, stop))
    thread.start()
    try:
        time.sleep(1.0)  # dumpcap reports "Capturing on" a moment before the ring is live
        _traffic()
    finally:
        stop.set()
        thread.join()
        sock.close()
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)
        resolv.unlink()
        tmp.rmdir()
    # Raw IP (LINKTYPE_RAW 101): the Ethernet capture with its 14-byte header chopped off.
    subprocess.run(["editcap", "-C", "14", "-T", "rawip", "-F", "pcap",
                    str(HERE / "lo-usec.pcap"), str(HERE / "lo-rawip.pcap")], check=True)
    # Nanosecond pcap rewritten by editcap (a second writer of the 0xa1b23c4d format).
    subprocess.run(["editcap", "-F", "nsecpcap", str(HERE / "any-sll.pcap"),
                    str(HERE / "any-sll-nsec-editcap.pcap")], check=True)
    for path in HERE.glob("*.pcap*"):
        path.chmod(0o644)


if __name__ == "__main__":
    if sys.argv[1:] == ["--inside"]:
        inside()
    else:
        if os.geteuid() != 0:
            sys.exit("make_vectors: run as root (unshare -mn and tcpdump need it)")
        subprocess.run(["unshare", "-mn", sys.executable, __file__, "--inside"], check=True)
