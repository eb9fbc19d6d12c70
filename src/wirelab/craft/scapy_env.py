"""Scapy, loaded the explicit way.

``from scapy.all import *`` does two things at once: it defines hundreds of names and it
loads the platform layer (``scapy.arch``) that sets ``conf.L3socket`` and ``conf.L2listen``
and reads this namespace's routes and interfaces.  We import the layers we use by name, so
the platform layer must be loaded on purpose; this module does it once.
"""

from __future__ import annotations

from typing import Any


def scapy_conf() -> Any:
    """Scapy's ``conf`` with the Linux sockets and the IPv4 routing table loaded."""
    import scapy.arch  # noqa: F401  (sets conf.L3socket / conf.L2listen for Linux)
    import scapy.layers.inet  # noqa: F401  (reads /proc/net/route into conf.route)
    from scapy.config import conf

    conf.verb = 0
    return conf
