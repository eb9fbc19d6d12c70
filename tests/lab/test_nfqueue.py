"""The nfnetlink_queue client never strands a packet: what it is told about gets a verdict,
and what it could not be told about passes (fail-open), with a full receive buffer or while
it waits for a config ACK.

Each test runs a small client inside lab host ``a`` (its own netns, its own queue 7) that
queues UDP datagrams to host ``b``; ``b`` counts what arrives.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from wirelab.lab.lab import Lab
from wirelab.lab.topology import from_toml

from ..helpers import reaped

pytestmark = pytest.mark.lab

PORT = 9999

# Runs in host b: count datagrams to PORT until 1.5 s pass without one.
RECEIVER = textwrap.dedent(f"""
    import socket, sys
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.bind(("0.0.0.0", {PORT}))
    print("ready", flush=True)
    s.settimeout(1.5)
    n = 0
    try:
        while True:
            s.recv(100)
            n += 1
    except TimeoutError:
        pass
    print(n, flush=True)
""")

# Runs in host a: the common part; BODY queues the datagrams and gives the verdicts.
CLIENT = textwrap.dedent(f"""
    import json, select, socket, subprocess, sys
    from wirelab.lab.nfqueue import NF_ACCEPT, QueueSocket
    dst = sys.argv[1]
    rule = ["-t", "mangle", "-A", "OUTPUT", "-p", "udp", "--dport", "{PORT}",
            "-j", "NFQUEUE", "--queue-num", "7", "--queue-bypass"]
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def send(n):
        for _ in range(n):
            out.sendto(b"x", (dst, {PORT}))

    def collect(qs):  # packets() first: it also hands out what bind() kept
        ids = []
        while True:
            got = qs.packets()
            for queue, packet_id in got:
                ids.append(packet_id)
                qs.verdict(queue, packet_id, NF_ACCEPT)
            if not got and not select.select([qs], [], [], 0.5)[0]:
                return ids

    def held():  # queue_total of queue 7: packets the kernel still holds for us
        for line in open("/proc/net/netfilter/nfnetlink_queue"):
            f = line.split()
            if f[0] == "7":
                return int(f[2])
        return 0
""")


def _run(lab: Lab, body: str) -> tuple[dict[str, int], int]:
    """Run CLIENT + ``body`` in host a while host b counts; (client's JSON, datagrams at b)."""
    receiver = lab.host("b").popen([sys.executable, "-c", RECEIVER], stdout=subprocess.PIPE,
                                   text=True)
    with reaped(receiver):
        assert receiver.stdout is not None
        assert receiver.stdout.readline().strip() == "ready"
        result = lab.host("a").run([sys.executable, "-c", CLIENT + textwrap.dedent(body),
                                    lab.host("b").ip], timeout=60)
        assert result.returncode == 0, result.stderr
        arrived = int(receiver.communicate(timeout=30)[0].strip())
    return json.loads(result.stdout), arrived


@pytest.fixture
def pair(make_lab) -> Lab:  # type: ignore[no-untyped-def]
    topo = from_toml('[hosts.a]\n[hosts.b]\n[[links]]\na = "a"\nb = "b"\n', "nfq")
    return make_lab(topo, services=False)  # type: ignore[no-any-return]


def test_full_receive_buffer_loses_no_packet(pair: Lab) -> None:
    # A receive buffer that holds a few notifications, and 300 datagrams queued before we read:
    # the kernel cannot tell us about most of them.  The client must survive that (it used to
    # die of ENOBUFS, and its socket's close dropped every packet it held) and every datagram
    # must arrive: the notified ones by our verdict, the others by fail-open.
    stats, arrived = _run(pair, """
        qs = QueueSocket()
        qs.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        qs.bind(7)
        subprocess.run(["iptables", "-w", *rule], check=True)
        send(300)
        ids = collect(qs)
        print(json.dumps({"notified": len(ids), "held": held()}))
    """)
    assert stats["notified"] < 300, "the buffer did not overflow: the test proves nothing"
    assert stats["held"] == 0
    assert arrived == 300, stats


def test_packets_queued_during_a_bind_are_not_discarded(pair: Lab) -> None:
    # Binding a second queue waits for the kernel's ACKs on the same socket; the notifications
    # of queue 7 read meanwhile must still be handed out (they were discarded, and their
    # packets waited in the kernel until the socket closed, then were dropped).
    stats, arrived = _run(pair, """
        qs = QueueSocket()
        qs.bind(7)
        subprocess.run(["iptables", "-w", *rule], check=True)
        send(5)
        qs.bind(8)
        ids = collect(qs)
        print(json.dumps({"notified": len(ids), "held": held()}))
    """)
    assert stats == {"notified": 5, "held": 0}
    assert arrived == 5
