"""The Scapy custom layer (curriculum 2.4) builds the right bytes and dissects both ways.

The expected bytes are written out by hand from the header layout (version u8, type u8,
length u16 big-endian, then the payload); the independent cross-check is wirelab's own
stdlib codec (wirelab.wire.custom), which shares no code with Scapy.
"""

from __future__ import annotations

import pytest
from scapy.fields import ByteField, ShortField
from scapy.layers.inet import IP, UDP
from scapy.packet import Packet, Raw

from wirelab.craft.custom import CUSTOM_PORT, Custom, build
from wirelab.wire.custom import Custom as WireCustom

PAYLOAD = b"This is my custom data"  # 22 bytes


def test_length_is_computed_from_the_payload() -> None:
    header = bytes(Custom(version=2, type=1) / Raw(PAYLOAD))
    assert header == bytes.fromhex("02010016") + PAYLOAD


def test_explicit_wrong_length_is_sent_as_given() -> None:
    assert bytes(Custom(version=1, type=0, length=99) / Raw(b"hi")) == bytes.fromhex(
        "01000063") + b"hi"


def test_zero_length_payload() -> None:
    assert bytes(Custom()) == bytes.fromhex("01000000")


def test_curriculum_shortfield_would_send_zero() -> None:
    """Why a LenField: a plain ShortField left at None is packed as 0, not the length."""

    class Naive(Packet):  # type: ignore[misc]
        name = "Naive"
        fields_desc = [ByteField("version", 1), ByteField("type", 0),
                       ShortField("length", None)]

    assert bytes(Naive() / Raw(PAYLOAD))[2:4] == b"\x00\x00"


@pytest.mark.parametrize("sport,dport", [(40000, CUSTOM_PORT), (CUSTOM_PORT, 40000)])
def test_dissected_in_both_directions(sport: int, dport: int) -> None:
    wire = bytes(IP(src="198.18.0.10", dst="198.18.0.20") / UDP(sport=sport, dport=dport)
                 / bytes.fromhex("02010016") / PAYLOAD)
    packet = IP(wire)
    assert Custom in packet
    layer = packet[Custom]
    assert (layer.version, layer.type, layer.length) == (2, 1, 22)
    assert layer.length_ok()
    assert bytes(layer.payload) == PAYLOAD


def test_other_ports_are_not_dissected_as_custom() -> None:
    packet = IP(bytes(IP(dst="198.18.0.20") / UDP(sport=40000, dport=40001) / b"\x02\x01\x00\x01x"))
    assert Custom not in packet


def test_build_defaults_to_destination_port_12345_with_fixed_source() -> None:
    packet = IP(bytes(build("198.18.0.20", PAYLOAD, version=2, type_=1, sport=50000)))
    assert packet[UDP].dport == CUSTOM_PORT
    assert packet[UDP].sport == 50000
    assert packet[Custom].length == len(PAYLOAD)


def test_binding_the_source_port_did_not_replace_the_build_default() -> None:
    # bind_layers(UDP, Custom, sport=...) would make UDP()/Custom() leave from 12345 too.
    built = IP(bytes(IP(dst="198.18.0.20") / UDP() / Custom() / Raw(b"x")))
    assert built[UDP].dport == CUSTOM_PORT
    assert built[UDP].sport != CUSTOM_PORT


@pytest.mark.parametrize("length", [None, 0, 5, 99, 65535])
def test_scapy_and_wire_codec_agree(length: int | None) -> None:
    data = bytes(Custom(version=3, type=7, length=length) / Raw(b"hello"))
    decoded = WireCustom.decode(data)
    assert (decoded.version, decoded.type, bytes(decoded.payload)) == (3, 7, b"hello")
    assert decoded.length == (5 if length is None else length)
    assert decoded.length_ok == Custom(data).length_ok() == (length in (None, 5))
    assert WireCustom(version=3, type=7, length=length, payload=b"hello").encode() == data
