"""Module 3: reconnaissance tools (port scans) built on the wire codecs and raw sockets.

- :mod:`ports`: nmap's ``-p`` port-list syntax;
- :mod:`states`: nmap's port states and the reason for each (the rules, no I/O);
- :mod:`scope`: which targets may be scanned at all (the lab and loopback);
- :mod:`syn`: the half-open SYN scan (raw IPv4 sender, AF_PACKET receiver with a BPF filter);
- :mod:`connect`: the connect() scan (the kernel's TCP stack does the handshake);
- :mod:`report`: nmap-like normal output and JSON.
"""
