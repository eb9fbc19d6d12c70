"""The curriculum's manual_handshake.py as written, reduced to its behaviour on the wire.

``TCP(sport=RandShort(), ...)`` is a volatile field: every time the layer is built -- once for
the SYN, again when ``tcp_syn.sport`` is read for the ACK -- it draws a new port.  So the ACK
leaves from another port than the SYN, and the client's kernel resets the real one.  Written
for the check's tests (not copied from the curriculum): SYN from one port, ACK from another.
"""

from __future__ import annotations

import os

from scapy.layers.inet import IP, TCP
from scapy.sendrecv import send, sr1
from scapy.volatile import RandShort

server = os.environ.get("WIRELAB_SERVER", "198.18.0.20")
syn = TCP(sport=RandShort(), dport=80, flags="S", seq=1000)
answer = sr1(IP(dst=server) / syn, timeout=2, verbose=0)
if answer is None:
    raise SystemExit("no SYN-ACK")
ack = TCP(sport=syn.sport, dport=80, flags="A", seq=answer[TCP].ack, ack=answer[TCP].seq + 1)
send(IP(dst=server) / ack, verbose=0)
print("Manual handshake completed successfully.")
