"""wirelab: the "Code-First Networking Mastery" curriculum as real, tested tools.

Layout (one concept a package):

- ``wire``     sans-IO codecs and capture-file formats, standard library only
- ``sockets``  Module 1: thin socket I/O over ``wire``
- ``craft``    Module 2: the Scapy tools (the only package that imports Scapy)
- ``lab``      the hermetic namespace lab: a pure topology model and its driver
- ``observe``  captures turned into ladders and streams
- ``check``    on-the-wire verification of each exercise
- ``cli``      the ``wirelab`` command: parse, call the library, map errors to exit codes
"""

__version__ = "0.1.0"
