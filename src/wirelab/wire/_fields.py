"""Shared plumbing of the header codecs: address conversion, the header base class, errors.

Private to ``wirelab.wire``.  The base class :class:`Header` keeps a decoded header's bytes
by reference (the buffer and the payload's bounds) and slices the payload only when it is first
read -- pypacker's lazy idea, which is why a full decode of a frame copies nothing.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from typing import Any, ClassVar

from wirelab.errors import EncodeError, TruncatedError

Buf = bytes | bytearray | memoryview
"""What a decoder accepts: anything with the buffer protocol that slices to bytes."""

_AF_INET = socket.AF_INET
_AF_INET6 = socket.AF_INET6
_inet_pton = socket.inet_pton
_inet_ntop = socket.inet_ntop


def layout_struct(layout: tuple[tuple[str, str], ...]) -> struct.Struct:
    """One precompiled network-order Struct from a header's table of (field, struct code)."""
    return struct.Struct("!" + "".join(code for _name, code in layout))


# --- addresses ---------------------------------------------------------------------------


# Address conversions are cached both ways: inet_ntop / inet_pton and hex parsing cost more
# than packing or unpacking a whole header, and traffic repeats its addresses.  Each cache is
# bounded by being emptied when full, so memory stays flat whatever a capture holds.
_CACHE_MAX = 1 << 16
IP4_TEXT: dict[bytes, str] = {}
IP6_TEXT: dict[bytes, str] = {}
_MAC_BYTES: dict[str, bytes] = {}
_IP4_BYTES: dict[str, bytes] = {}
_IP6_BYTES: dict[str, bytes] = {}


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> None:
    if len(cache) >= _CACHE_MAX:
        cache.clear()
    cache[key] = value


def mac_to_bytes(mac: str | bytes, field: str = "mac", layer: str = "Ethernet") -> bytes:
    """``"aa:bb:cc:dd:ee:ff"`` (``-`` also accepted) -> 6 bytes; 6 raw bytes pass through."""
    if isinstance(mac, bytes):
        if len(mac) != 6:
            raise EncodeError(f"{layer}.{field}: a MAC address is 6 bytes, got {len(mac)}")
        return mac
    raw = _MAC_BYTES.get(mac) if isinstance(mac, str) else None
    if raw is None:
        raw = hw_to_bytes(mac, 6, field, layer)
        _remember(_MAC_BYTES, mac, raw)
    return raw


def hw_to_bytes(text: str, size: int | None, field: str, layer: str) -> bytes:
    """Colon- or dash-separated hex octets -> bytes (``size`` octets if given)."""
    try:
        parts = text.replace("-", ":").split(":")
        if any(len(p) != 2 for p in parts):
            raise ValueError(text)
        raw = bytes.fromhex("".join(parts))
    except (AttributeError, TypeError, ValueError):
        raise EncodeError(f"{layer}.{field}: not a hardware address: {text!r}") from None
    if size is not None and len(raw) != size:
        raise EncodeError(f"{layer}.{field}: expected {size} octets, got {len(raw)}: {text!r}")
    return raw


def bytes_to_mac(raw: bytes) -> str:
    """6 bytes -> ``"aa:bb:cc:dd:ee:ff"`` (lower case, as tshark prints it)."""
    return raw.hex(":")


def ip4_to_bytes(addr: str | bytes, field: str = "addr", layer: str = "IPv4") -> bytes:
    """Dotted quad -> 4 bytes, strictly (``inet_aton`` would accept ``"1"``)."""
    if isinstance(addr, bytes):
        if len(addr) != 4:
            raise EncodeError(f"{layer}.{field}: an IPv4 address is 4 bytes, got {len(addr)}")
        return addr
    raw = _IP4_BYTES.get(addr) if isinstance(addr, str) else None
    if raw is None:
        try:
            raw = _inet_pton(_AF_INET, addr)
        except (OSError, TypeError, ValueError):
            raise EncodeError(f"{layer}.{field}: not an IPv4 address: {addr!r}") from None
        _remember(_IP4_BYTES, addr, raw)
    return raw


def ip6_to_bytes(addr: str | bytes, field: str = "addr", layer: str = "IPv6") -> bytes:
    """Any RFC 4291 text form -> 16 bytes."""
    if isinstance(addr, bytes):
        if len(addr) != 16:
            raise EncodeError(f"{layer}.{field}: an IPv6 address is 16 bytes, got {len(addr)}")
        return addr
    raw = _IP6_BYTES.get(addr) if isinstance(addr, str) else None
    if raw is None:
        try:
            raw = _inet_pton(_AF_INET6, addr)
        except (OSError, TypeError, ValueError):
            raise EncodeError(f"{layer}.{field}: not an IPv6 address: {addr!r}") from None
        _remember(_IP6_BYTES, addr, raw)
    return raw


def ip_to_bytes(addr: str | bytes, field: str = "addr", layer: str = "IP") -> bytes:
    """IPv4 or IPv6 address (text or packed) -> 4 or 16 bytes, the family told by its form."""
    if isinstance(addr, str):
        raw = _IP4_BYTES.get(addr)
        if raw is not None:
            return raw
        if ":" in addr:
            return ip6_to_bytes(addr, field, layer)
        return ip4_to_bytes(addr, field, layer)
    if isinstance(addr, bytes) and len(addr) in (4, 16):
        return addr
    size = len(addr) if isinstance(addr, bytes) else type(addr).__name__
    raise EncodeError(f"{layer}.{field}: an IP address is 4 or 16 bytes or text, got {size}")


def bytes_to_ip4(raw: bytes) -> str:
    """4 bytes -> dotted quad (cached)."""
    text = IP4_TEXT.get(raw)
    if text is None:
        text = _inet_ntop(_AF_INET, raw)
        _remember(IP4_TEXT, raw, text)
    return text


def bytes_to_ip6(raw: bytes) -> str:
    """16 bytes -> the RFC 5952 canonical text form (cached)."""
    text = IP6_TEXT.get(raw)
    if text is None:
        text = _inet_ntop(_AF_INET6, raw)
        _remember(IP6_TEXT, raw, text)
    return text


# --- errors ------------------------------------------------------------------------------


def truncated(layer: str, field: str, offset: int, need: int, have: int) -> TruncatedError:
    """The error for a field that needs ``need`` bytes where only ``have`` remain."""
    return TruncatedError(layer, field, offset, f"needs {need} bytes, {max(have, 0)} left")


def pack_error(layer: str, exc: struct.error, fields: dict[str, Any]) -> EncodeError:
    """Translate struct's range error into an EncodeError that names the values given."""
    shown = ", ".join(f"{k}={v!r}" for k, v in fields.items())
    return EncodeError(f"{layer}: a field does not fit its width ({exc}); {shown}")


# --- the header base class ---------------------------------------------------------------


class Header:
    """Base of every header: a decoded header keeps its buffer and the payload's bounds.

    Subclasses list their public fields in ``fields`` (for ``repr``, ``to_dict`` and ``==``)
    and set ``layer`` (the name used in errors and by ``wirelab dissect``).
    """

    __slots__ = ("_buf", "_hstart", "_pstart", "_pend", "_payload")

    layer: ClassVar[str] = "header"
    fields: ClassVar[tuple[str, ...]] = ()

    _buf: Buf
    _hstart: int
    _pstart: int
    _pend: int
    _payload: bytes | None

    def _init_payload(self, payload: bytes) -> None:
        """State of a header built by hand: no buffer, the payload given."""
        self._buf = b""
        self._hstart = self._pstart = self._pend = 0
        self._payload = bytes(payload)

    @property
    def payload(self) -> bytes:
        """The bytes after this header (bounded by its length field where it has one)."""
        p = self._payload
        if p is None:
            p = self._payload = bytes(self._buf[self._pstart:self._pend])
        return p

    @payload.setter
    def payload(self, value: bytes) -> None:
        self._payload = bytes(value)
        self._buf = b""  # the decoded buffer no longer holds this header's payload

    @property
    def offset(self) -> int:
        """Byte offset of this header in the buffer it was decoded from (0 if built)."""
        return self._hstart

    @property
    def payload_offset(self) -> int:
        """Byte offset of the payload in the decoding buffer (0 if built)."""
        return self._pstart

    def iter_fields(self) -> Iterator[tuple[str, Any]]:
        for name in self.fields:
            yield name, getattr(self, name)

    def to_dict(self) -> dict[str, Any]:
        """The public fields by name (addresses as text, numbers as ints or enums)."""
        return dict(self.iter_fields())

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.iter_fields())
        return f"{type(self).__name__}({inner})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Header)
        return self.to_dict() == other.to_dict() and self.payload == other.payload

    __hash__ = None  # type: ignore[assignment]  # mutable: equal headers may change
