"""ARP (RFC 826): who has this protocol address, tell me your hardware address.

The 8-byte fixed part gives the hardware and protocol types and the lengths of the four
addresses that follow (sender hardware, sender protocol, target hardware, target protocol), so
the codec is general; addresses are shown as text in the usual form for their length (MAC for
6 octets, dotted quad for 4, IPv6 for 16, colon-separated hex otherwise).
"""

from __future__ import annotations

import socket
import struct
from enum import IntEnum
from typing import ClassVar, Self

from wirelab.errors import EncodeError
from wirelab.wire._fields import (
    Buf,
    Header,
    bytes_to_ip4,
    bytes_to_ip6,
    hw_to_bytes,
    layout_struct,
    truncated,
)
from wirelab.wire.ethernet import ETHER_TYPES, EtherType


class ARPOp(IntEnum):
    """ARP opcodes (RFC 826, RFC 903 for RARP)."""

    REQUEST = 1
    REPLY = 2
    RARP_REQUEST = 3
    RARP_REPLY = 4


class HardwareType(IntEnum):
    """ARP hardware types (IANA "Hardware Types")."""

    ETHERNET = 1
    IEEE802 = 6


_OPS: dict[int, int] = {int(o): o for o in ARPOp}
_HWTYPES: dict[int, int] = {int(h): h for h in HardwareType}
_HDR = layout_struct((("hwtype", "H"), ("ptype", "H"), ("hwlen", "B"), ("plen", "B"),
                      ("op", "H")))
_ETH_IP4 = struct.Struct("!6s4s6s4s").unpack_from  # the addresses of Ethernet/IPv4 ARP
_new = object.__new__


def _paddr_text(raw: bytes) -> str:
    """A protocol address as text: dotted quad, IPv6, or hex octets for other lengths."""
    if len(raw) == 4:
        return bytes_to_ip4(raw)
    if len(raw) == 16:
        return bytes_to_ip6(raw)
    return raw.hex(":")


def _haddr_bytes(text: str | bytes, field: str) -> bytes:
    if isinstance(text, bytes):
        return text
    return hw_to_bytes(text, None, field, "ARP") if text else b""


def _paddr_bytes(text: str | bytes, field: str) -> bytes:
    if isinstance(text, bytes):
        return text
    if not text:
        return b""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            return socket.inet_pton(family, text)
        except (OSError, ValueError):
            continue
    return hw_to_bytes(text, None, field, "ARP")


class ARP(Header):
    """An ARP packet.  ``hwlen``/``plen`` left None are taken from the addresses given."""

    __slots__ = ("hwtype", "ptype", "hwlen", "plen", "op", "_sha", "_spa", "_tha", "_tpa")

    layer: ClassVar[str] = "ARP"
    fields: ClassVar[tuple[str, ...]] = ("hwtype", "ptype", "hwlen", "plen", "op",
                                         "sha", "spa", "tha", "tpa")

    hwlen: int | None
    plen: int | None
    _sha: bytes
    _spa: bytes
    _tha: bytes
    _tpa: bytes

    def __init__(self, hwtype: int = HardwareType.ETHERNET, ptype: int = EtherType.IPV4,
                 hwlen: int | None = 6, plen: int | None = 4, op: int = ARPOp.REQUEST,
                 sha: str | bytes = "00:00:00:00:00:00", spa: str | bytes = "0.0.0.0",
                 tha: str | bytes = "00:00:00:00:00:00", tpa: str | bytes = "0.0.0.0",
                 payload: bytes = b"") -> None:
        self.hwtype = hwtype
        self.ptype = ptype
        self.hwlen = hwlen
        self.plen = plen
        self.op = op
        self.sha = sha
        self.spa = spa
        self.tha = tha
        self.tpa = tpa
        self._init_payload(payload)

    # Addresses: raw bytes inside, text outside.
    @property
    def sha(self) -> str:
        """Sender hardware address."""
        return self._sha.hex(":")

    @sha.setter
    def sha(self, value: str | bytes) -> None:
        self._sha = _haddr_bytes(value, "sha")

    @property
    def spa(self) -> str:
        """Sender protocol address."""
        return _paddr_text(self._spa)

    @spa.setter
    def spa(self, value: str | bytes) -> None:
        self._spa = _paddr_bytes(value, "spa")

    @property
    def tha(self) -> str:
        """Target hardware address."""
        return self._tha.hex(":")

    @tha.setter
    def tha(self, value: str | bytes) -> None:
        self._tha = _haddr_bytes(value, "tha")

    @property
    def tpa(self) -> str:
        """Target protocol address."""
        return _paddr_text(self._tpa)

    @tpa.setter
    def tpa(self, value: str | bytes) -> None:
        self._tpa = _paddr_bytes(value, "tpa")

    def encode(self) -> bytes:
        """The ARP packet; addresses are written as given (their lengths are not forced)."""
        hwlen = len(self._sha) if self.hwlen is None else self.hwlen
        plen = len(self._spa) if self.plen is None else self.plen
        try:
            head = _HDR.pack(self.hwtype, self.ptype, hwlen, plen, self.op)
        except struct.error as exc:
            raise EncodeError(f"ARP: a field does not fit its width ({exc})") from exc
        return head + self._sha + self._spa + self._tha + self._tpa + self.payload

    @classmethod
    def decode(cls, buf: Buf, offset: int = 0, end: int | None = None) -> Self:
        """Decode an ARP packet; what follows the four addresses (padding) is the payload."""
        if end is None:
            end = len(buf)
        if end - offset < 8:
            raise truncated("ARP", "hwtype", offset, 8, end - offset)
        self = _new(cls)
        hwtype, ptype, hwlen, plen, op = _HDR.unpack_from(buf, offset)
        pos = offset + 8
        size = 2 * (hwlen + plen)
        if end - pos < size:
            raise truncated("ARP", "sha", pos, size, end - pos)
        if hwlen == 6 and plen == 4:  # Ethernet/IPv4: one unpack
            self._sha, self._spa, self._tha, self._tpa = _ETH_IP4(buf, pos)
        else:
            raw = bytes(buf[pos:pos + size])
            self._sha = raw[:hwlen]
            self._spa = raw[hwlen:hwlen + plen]
            self._tha = raw[hwlen + plen:2 * hwlen + plen]
            self._tpa = raw[2 * hwlen + plen:]
        self.hwtype = _HWTYPES.get(hwtype, hwtype)
        self.ptype = ETHER_TYPES.get(ptype, ptype)
        self.hwlen = hwlen
        self.plen = plen
        self.op = _OPS.get(op, op)
        self._buf = buf
        self._hstart = offset
        self._pstart = pos + size
        self._pend = end
        self._payload = None
        return self
