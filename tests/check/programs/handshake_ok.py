"""2.2 done right: one source port chosen once, and the kernel's RST for it dropped while the
handshake runs (iptables in the client host's own namespace, removed at the end)."""

from __future__ import annotations

import os
import random
import subprocess

from scapy.layers.inet import IP, TCP
from scapy.sendrecv import send, sr1

server = os.environ["WIRELAB_SERVER"]
sport = random.randint(40000, 60000)
rule = ["OUTPUT", "-p", "tcp", "--sport", str(sport), "--tcp-flags", "RST", "RST", "-j", "DROP"]
subprocess.run(["iptables", "-A", *rule], check=True)
try:
    synack = sr1(IP(dst=server) / TCP(sport=sport, dport=80, flags="S", seq=1000), timeout=2,
                 verbose=0)
    if synack is None:
        raise SystemExit("no SYN-ACK")
    send(IP(dst=server) / TCP(sport=sport, dport=80, flags="A", seq=synack[TCP].ack,
                              ack=synack[TCP].seq + 1), verbose=0)
finally:
    subprocess.run(["iptables", "-D", *rule], check=True)
