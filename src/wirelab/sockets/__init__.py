"""Module 1 of the curriculum: thin socket I/O.

- :mod:`wirelab.sockets.udp`   a UDP server loop and client (curriculum 1.1)
- :mod:`wirelab.sockets.http`  HTTP/1.1 over a plain TCP socket, h11 as the parser (1.2)
- :mod:`wirelab.sockets.raw`   UDP headers packed by hand on a raw socket (1.4)

The header bytes come from :mod:`wirelab.wire`; this package only moves them.
"""
