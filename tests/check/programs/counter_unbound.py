"""The 2.3 counter's bug as the curriculum prints it: ``protocol_counts += 1`` inside the
callback makes the name local to the function, so the first packet raises
UnboundLocalError and sniff() dies with it.  (Scapy's sniff, the curriculum's filter.)"""

from __future__ import annotations

from scapy.layers.inet import TCP
from scapy.packet import Packet
from scapy.sendrecv import sniff

protocol_counts = {"HTTP": 0, "DNS": 0, "ICMP": 0, "TCP": 0, "UDP": 0, "Other IP": 0}


def process_packet(packet: Packet) -> None:
    if packet.haslayer(TCP):
        protocol_counts += 1  # type: ignore[operator]  # noqa: F823, F841 -- the bug


print("Starting packet sniffer...", flush=True)
sniff(filter="ip", prn=process_packet, store=False, timeout=60)
print(protocol_counts)
