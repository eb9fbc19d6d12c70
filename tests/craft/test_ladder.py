"""The handshake ladder: flag names as tshark spells them, one rung per segment."""

from __future__ import annotations

from wirelab.craft.ladder import Segment, flag_names, line


def test_flag_names() -> None:
    assert flag_names(0x12) == "SYN, ACK"
    assert flag_names(0x18) == "PSH, ACK"
    assert flag_names(0x11) == "FIN, ACK"
    assert flag_names(0x14) == "RST, ACK"
    assert flag_names(0) == "<none>"


def test_rungs_point_the_right_way() -> None:
    out = line(Segment(True, 0x02, 0, 0, 0, 64240, 0.0))
    assert "SYN seq=0 win=64240 len=0" in out and out.rstrip().endswith(">|")
    back = line(Segment(False, 0x12, 0, 1, 0, 65160, 0.25))
    assert "SYN, ACK seq=0 ack=1" in back and "|<" in back


def test_segment_dict() -> None:
    data = Segment(False, 0x10, 1, 83, 0, 501, 1.0).to_dict()
    assert data["flags"] == "ACK" and data["direction"] == "server->client"
