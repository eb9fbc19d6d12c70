"""The curriculum 2.4 custom header, against the same header defined the curriculum's way in
Scapy (``fields_desc`` + ``bind_layers(UDP, ..., dport=12345)``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from scapy.fields import ByteField, LenField
from scapy.layers.inet import IP
from scapy.layers.inet import UDP as SUDP
from scapy.layers.l2 import Ether
from scapy.packet import Packet as ScapyPacket
from scapy.packet import Raw, bind_layers, split_layers

from wirelab.errors import EncodeError, TruncatedError
from wirelab.wire.custom import CUSTOM_PORT, Custom
from wirelab.wire.packet import decode_frame
from wirelab.wire.udp import UDP


class CustomProtocol(ScapyPacket):  # type: ignore[misc]
    """Curriculum 2.4: version (1 byte), type (1 byte), length (2 bytes) of what follows."""

    name = "CustomProtocol"
    fields_desc = [ByteField("version", 1), ByteField("type", 0), LenField("length", None)]


@pytest.fixture
def bound() -> Iterator[None]:
    bind_layers(SUDP, CustomProtocol, dport=CUSTOM_PORT)
    try:
        yield
    finally:
        split_layers(SUDP, CustomProtocol, dport=CUSTOM_PORT)


DATA = b"This is my custom data"  # the curriculum sender's payload


def test_build_matches_scapy_definition() -> None:
    theirs = bytes(CustomProtocol(version=2, type=1) / Raw(DATA))
    assert theirs[:4] == bytes.fromhex("0201 0016")  # 22 data bytes
    assert Custom(version=2, type=1, payload=DATA).encode() == theirs


def test_decode_in_a_frame_like_the_receiver(bound: None) -> None:
    frame = bytes(Ether() / IP(src="127.0.0.1", dst="127.0.0.1")
                  / SUDP(sport=40000, dport=CUSTOM_PORT) / CustomProtocol(version=2, type=1)
                  / Raw(DATA))
    # Scapy dissects the header from its own class, not through bind_layers: the binding is
    # global, and wirelab.craft binds its own layer to the same port in the same process.
    scapy_view = CustomProtocol(frame[42:])
    pkt = decode_frame(frame, strict=True)
    custom = pkt.get(Custom)
    assert custom is not None and pkt.highest is custom
    assert (custom.version, custom.type, custom.length) == (scapy_view.version, scapy_view.type,
                                                           scapy_view.length) == (2, 1, 22)
    assert custom.payload == DATA and custom.length_ok
    assert custom.offset == 42 and custom.payload_offset == 46


def test_length_mismatch_is_reported_not_raised() -> None:
    raw = Custom(version=2, type=1, length=99, payload=DATA).encode()
    custom = Custom.decode(raw)
    assert custom.length == 99 and not custom.length_ok
    assert custom.encode() == raw
    dgram = UDP(sport=1, dport=CUSTOM_PORT, payload=raw).encode("127.0.0.1", "127.0.0.1")
    assert Custom.decode(dgram, 8).payload == DATA


def test_round_trip() -> None:
    raw = bytes.fromhex("01000003") + b"abc"
    assert Custom.decode(raw).encode() == raw


def test_truncated() -> None:
    with pytest.raises(TruncatedError, match=r"Custom\.version at byte 8: truncated: needs 4 "
                                             r"bytes, 3 left"):
        Custom.decode(bytes(8) + b"\x01\x00\x00", 8)


def test_encode_error() -> None:
    with pytest.raises(EncodeError, match="Custom: a field does not fit"):
        Custom(length=70000).encode()
