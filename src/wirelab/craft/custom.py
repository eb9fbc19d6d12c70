"""The curriculum's custom protocol as a Scapy layer (curriculum 2.4).

Header (4 bytes, network byte order), then the payload::

    0       8       16              32
    +-------+-------+---------------+
    |version| type  |    length     |   length = payload bytes after this header
    +-------+-------+---------------+

Two defects of the curriculum are fixed here:

- its ``fields_desc`` is left empty (a syntax error as printed); the fields are declared
  below;
- it says Scapy fills in the length "because it knows the length of the Raw payload".
  Scapy fills a field only when the field says how: a ``ShortField`` left at ``None`` is
  silently packed as 0, while a ``LenField`` computes ``len(payload)`` at build time when its
  value is ``None``.  An explicit value, right or wrong, is sent as given, which is
  how ``wirelab proto send --length`` crafts a broken header on purpose.

The layer is bound to UDP port 12345 for dissection in both directions (``bind_bottom_up``
on the source port, ``bind_layers`` on the destination port, which also makes ``UDP()/
Custom()`` default to destination port 12345 when built).  Binding the source port with
``bind_layers`` too would replace that build default, as Scapy keeps one set of build-time
defaults per pair of layers.
"""

from __future__ import annotations

from typing import Any

from scapy.fields import ByteField, LenField
from scapy.layers.inet import UDP
from scapy.packet import Packet, bind_bottom_up, bind_layers

CUSTOM_PORT = 12345
HEADER_LEN = 4


class Custom(Packet):
    """version (u8), type (u8), length (u16, payload bytes; computed when None)."""

    name = "Custom"
    fields_desc = [
        ByteField("version", 1),
        ByteField("type", 0),
        LenField("length", None, fmt="!H"),
    ]

    def length_ok(self) -> bool:
        """Whether the length field equals the number of payload bytes that followed."""
        return bool(self.length == len(bytes(self.payload)))

    def mysummary(self) -> str:
        return str(self.sprintf("Custom v%version% type=%type% length=%length%"))


bind_layers(UDP, Custom, dport=CUSTOM_PORT)
bind_bottom_up(UDP, Custom, sport=CUSTOM_PORT)


def build(dst: str, payload: bytes, version: int = 1, type_: int = 0,
          length: int | None = None, sport: int | None = None) -> Any:
    """IP/UDP/Custom/Raw to ``dst``; ``length=None`` lets the LenField compute it."""
    from scapy.layers.inet import IP
    from scapy.packet import Raw

    udp = UDP(dport=CUSTOM_PORT) if sport is None else UDP(sport=sport, dport=CUSTOM_PORT)
    return IP(dst=dst) / udp / Custom(version=version, type=type_, length=length) / Raw(payload)
