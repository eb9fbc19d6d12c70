"""The Internet checksum (RFC 1071) and the UDP/TCP pseudo-header sums (RFC 768, 793, 8200).

The checksum is the one's complement of the one's-complement sum of the data taken as 16-bit
big-endian words (an odd last byte is padded with a zero byte, RFC 1071 section 4.1).

Why the code looks nothing like the textbook loop: because ``2**16 == 1 (mod 0xFFFF)``, the
number ``int.from_bytes(data, "big")`` -- the words weighted by powers of 2**16 -- is congruent
modulo 0xFFFF to the plain sum of the words, and the end-around carry of one's-complement
addition is exactly reduction modulo 0xFFFF.  So one C-speed ``int.from_bytes`` and one ``%``
replace the Python loop over words.  The only care is the representative: the real
one's-complement sum ``S`` is 0 only when every word is 0, and otherwise lies in 1..0xFFFF,
so a remainder of 0 from non-zero data means ``S == 0xFFFF`` (negative zero).  The tests prove
this against the plain loop of RFC 1071 section 4.1 with hypothesis.

Pieces of a message (pseudo-header, header, payload) can be summed separately and the integers
added, as long as every piece but the last has an even length (then its weight is a power of
2**16 and vanishes modulo 0xFFFF).
"""

from __future__ import annotations

from wirelab.wire._fields import Buf, ip_to_bytes

_from_bytes = int.from_bytes


def sum_int(data: Buf) -> int:
    """An integer congruent (mod 0xFFFF) to the word sum of ``data``; zero iff data is all zero.

    An odd length is padded with one zero byte, which is a shift by 8 bits.
    """
    n = _from_bytes(data, "big")
    if len(data) & 1:
        return n << 8
    return n


def pseudo_int(src: bytes, dst: bytes, proto: int, length: int) -> int:
    """``sum_int`` of the IPv4 (RFC 768/793) or IPv6 (RFC 8200 section 8.1) pseudo-header.

    Both layouts hold the two addresses, the upper-layer length and the protocol number, each
    field aligned so that its word sum is its numeric value modulo 0xFFFF; hence one formula
    serves both families.
    """
    return _from_bytes(src, "big") + _from_bytes(dst, "big") + proto + length


def checksum_from_int(total: int) -> int:
    """The 16-bit checksum (one's complement of the sum) for a ``sum_int`` total."""
    s = total % 0xFFFF
    if s:
        return 0xFFFF - s
    # remainder 0: the one's-complement sum is 0xFFFF (non-zero data) or +0 (all zero)
    return 0 if total else 0xFFFF


def ok_from_int(total: int) -> bool:
    """True when data that includes its checksum field sums to 0xFFFF, i.e. verifies."""
    return total % 0xFFFF == 0 and total != 0


def internet_checksum(data: Buf) -> int:
    """RFC 1071 checksum of ``data``: the value to store in a zeroed checksum field."""
    return checksum_from_int(sum_int(data))


def verify(data: Buf) -> bool:
    """True when ``data`` (a header or message that includes its checksum) verifies."""
    return ok_from_int(sum_int(data))


def pseudo_header_v4(src: str | bytes, dst: str | bytes, proto: int, length: int) -> bytes:
    """The 12-byte IPv4 pseudo-header: src, dst, zero, protocol, upper-layer length."""
    s = ip_to_bytes(src, "src", "IPv4")
    d = ip_to_bytes(dst, "dst", "IPv4")
    return s + d + bytes((0, proto & 0xFF)) + (length & 0xFFFF).to_bytes(2, "big")


def pseudo_header_v6(src: str | bytes, dst: str | bytes, next_header: int, length: int) -> bytes:
    """The 40-byte IPv6 pseudo-header: src, dst, 32-bit length, 3 zero bytes, next header."""
    s = ip_to_bytes(src, "src", "IPv6")
    d = ip_to_bytes(dst, "dst", "IPv6")
    return s + d + (length & 0xFFFFFFFF).to_bytes(4, "big") + bytes((0, 0, 0, next_header & 0xFF))


def transport_checksum(src: str | bytes, dst: str | bytes, proto: int, segment: Buf) -> int:
    """Checksum of a UDP/TCP/ICMPv6 ``segment`` (checksum field zeroed) with its pseudo-header.

    The family (IPv4 or IPv6) is told by the addresses.  The raw result is returned; UDP's
    rule that a computed 0 is sent as 0xFFFF (RFC 768) belongs to the UDP encoder.
    """
    s = ip_to_bytes(src, "src", "IP")
    d = ip_to_bytes(dst, "dst", "IP")
    return checksum_from_int(pseudo_int(s, d, proto, len(segment)) + sum_int(segment))


def verify_transport(src: str | bytes, dst: str | bytes, proto: int, segment: Buf) -> bool:
    """True when a UDP/TCP/ICMPv6 ``segment`` (with its checksum) verifies."""
    s = ip_to_bytes(src, "src", "IP")
    d = ip_to_bytes(dst, "dst", "IP")
    return ok_from_int(pseudo_int(s, d, proto, len(segment)) + sum_int(segment))
