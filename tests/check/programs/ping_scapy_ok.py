"""2.1 in the curriculum's shape (IP()/ICMP(), sr1 with a timeout), aimed at the lab's server."""

from __future__ import annotations

import os

from scapy.layers.inet import ICMP, IP
from scapy.sendrecv import sr1

reply = sr1(IP(dst=os.environ["WIRELAB_SERVER"]) / ICMP(), timeout=2, verbose=0)
print(reply.summary() if reply is not None else "no reply")
