"""Module 2 of the curriculum: packets crafted and dissected with Scapy.

This package is the only place in wirelab that imports Scapy, and each module imports it
itself (never at package import), so that ``wirelab --help`` and the commands that do not
need Scapy stay fast.  The exception is :mod:`wirelab.craft.sniff_fast`, the capture engine
that Scapy is too slow to be (curriculum 2.3): it reads an AF_PACKET ring with no Scapy at all.

- :mod:`.ping`       ICMP echo with round-trip statistics (2.1)
- :mod:`.handshake`  a TCP three-way handshake by hand, with an optional request (2.2)
- :mod:`.classify_scapy`, :mod:`.sniff_scapy`, :mod:`.sniff_fast`  the protocol counter (2.3)
- :mod:`.custom`     the custom protocol layer bound to UDP port 12345 (2.4)
"""
