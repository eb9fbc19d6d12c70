"""A 2.3 counter in the curriculum's shape (Scapy sniff with a prn callback, store=False,
filter "ip", the dict printed at the end), with its ``protocol_counts += 1`` lines fixed.

Usage: counter_scapy.py [SECONDS]; Ctrl-C ends it early and still prints the final counts.
"""

from __future__ import annotations

import sys

from scapy.layers.dns import DNS
from scapy.layers.http import HTTPRequest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.packet import Packet
from scapy.sendrecv import sniff

counts = {"HTTP": 0, "DNS": 0, "ICMP": 0, "TCP": 0, "UDP": 0, "Other IP": 0}


def tally(packet: Packet) -> None:
    for layer, name in ((HTTPRequest, "HTTP"), (DNS, "DNS"), (ICMP, "ICMP"), (TCP, "TCP"),
                        (UDP, "UDP"), (IP, "Other IP")):
        if packet.haslayer(layer):
            counts[name] += 1
            return


print("Starting packet sniffer...", flush=True)
sniff(filter="ip", prn=tally, store=False, timeout=float(sys.argv[1]) if sys.argv[1:] else 60)
print("\nSniffing complete. Final counts:")
print(counts)
