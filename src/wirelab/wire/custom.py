"""The curriculum's custom protocol (section 2.4) on UDP port 12345.

A 4-byte header -- version (1 octet), type (1 octet), length (2 octets, network order) --
followed by the data.  ``length`` counts the data after the header only: the curriculum's
receiver checks ``custom_layer.length == len(packet.load)``.  A wrong length is reported by
``length_ok`` rather than raised, so that the exercise's "Length field mismatch!" case can be
studied.
"""

from __future__ import annotations

import struct
from typing import ClassVar, Self

from wirelab.errors import EncodeError
from wirelab.wire._fields import Buf, Header, layout_struct, truncated

CUSTOM_PORT = 12345
"""UDP port the curriculum binds the custom header to (``bind_layers(UDP, ..., dport=12345)``)."""

_HDR = layout_struct((("version", "B"), ("type", "B"), ("length", "H")))
_new = object.__new__


class Custom(Header):
    """The custom header.  ``length`` left None is the number of payload bytes."""

    __slots__ = ("version", "type", "length")

    layer: ClassVar[str] = "Custom"
    fields: ClassVar[tuple[str, ...]] = ("version", "type", "length")

    length: int | None

    def __init__(self, version: int = 1, type: int = 0, length: int | None = None,
                 payload: bytes = b"") -> None:
        self.version = version
        self.type = type
        self.length = length
        self._init_payload(payload)

    @property
    def length_ok(self) -> bool:
        """Whether ``length`` equals the number of data bytes (True if it is to be computed)."""
        return self.length is None or self.length == len(self.payload)

    def encode(self) -> bytes:
        payload = self.payload
        length = len(payload) if self.length is None else self.length
        try:
            return _HDR.pack(self.version, self.type, length) + payload
        except struct.error as exc:
            raise EncodeError(f"Custom: a field does not fit its width ({exc}): version="
                              f"{self.version}, type={self.type}, length={length}") from exc

    @classmethod
    def decode(cls, buf: Buf, offset: int = 0, end: int | None = None) -> Self:
        """Decode the header; everything after it up to ``end`` is the payload."""
        if end is None:
            end = len(buf)
        if end - offset < 4:
            raise truncated("Custom", "version", offset, 4, end - offset)
        version, typ, length = _HDR.unpack_from(buf, offset)
        self = _new(cls)
        self.version = version
        self.type = typ
        self.length = length
        self._buf = buf
        self._hstart = offset
        self._pstart = offset + 4
        self._pend = end
        self._payload = None
        return self
