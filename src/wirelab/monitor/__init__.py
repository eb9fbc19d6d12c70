"""Module 4: statistics of a capture on the fast path (no per-packet header objects).

One module per statistic (:mod:`.conv`, :mod:`.endpoints`, :mod:`.phs`); each is an
accumulator fed packet by packet, so memory grows with the number of conversations or
endpoints, never with the number of packets.  :mod:`.keys` reads the few header fields they
need with precompiled Structs, as :mod:`wirelab.wire.classify` does.
"""
