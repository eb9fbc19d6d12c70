"""Sans-IO codecs for the wire formats Module 1 teaches, standard library only.

One module a header (``ethernet``, ``arp``, ``ipv4``, ``ipv6``, ``icmp``, ``icmpv6``, ``udp``,
``tcp``, ``custom``, ``dns``), the Internet checksum (``checksum``), whole frames
(``packet.decode_frame``), a fast classifier that builds no header objects (``classify``) and
the capture-file formats (``pcap``, ``pcapng``, ``capture``).

Every header class declares its fixed part once as a precompiled :class:`struct.Struct`,
decodes with ``Header.decode(buf, offset)`` and encodes with ``encode()``.  A length or
checksum left ``None`` is computed on encoding; an explicit value is written as given.
Decoders raise only :class:`wirelab.errors.DecodeError` subclasses.

Nothing is imported here eagerly, so ``import wirelab.wire.classify`` costs only what it uses.
"""
