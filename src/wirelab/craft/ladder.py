"""The segments of one hand-made TCP connection, and how they are printed as a ladder.

Sequence and acknowledgment numbers are shown relative to each side's initial sequence
number, as Wireshark does by default: the SYN has seq=0 and the first data byte seq=1
(RFC 9293 section 3.4: the SYN occupies one sequence number).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from wirelab.wire.tcp import TCPFlags
from wirelab.wire.tcp import flag_names as _tshark_names

ACK = int(TCPFlags.ACK)


def flag_names(bits: int) -> str:
    """tshark's spelling of a flag set: ``"SYN, ACK"`` (``"<none>"`` for no flag)."""
    return _tshark_names(bits) or "<none>"


@dataclass
class Segment:
    """One segment of the connection, as sent or received."""

    outgoing: bool
    flags: int
    seq: int  # relative to the sender's initial sequence number
    ack: int  # relative to the receiver's initial sequence number (0 without ACK)
    length: int  # payload bytes
    window: int
    at_ms: float  # since the SYN left
    note: str = ""

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["flags"] = flag_names(self.flags)
        data["direction"] = "client->server" if self.outgoing else "server->client"
        return data


WIDTH = 52  # characters between the two endpoints' columns


def header(client: str, server: str) -> str:
    return f"{'client ' + client:<{WIDTH + 4}}server {server}"


def line(seg: Segment) -> str:
    """One rung of the ladder: an arrow across, labelled with flags and numbers."""
    label = f"{flag_names(seg.flags)} seq={seg.seq}"
    if seg.flags & ACK:
        label += f" ack={seg.ack}"
    label += f" win={seg.window} len={seg.length}"
    body = f" {label} "
    if seg.outgoing:
        arrow = "|" + body.center(WIDTH - 1, "-") + ">|"
    else:
        arrow = "|<" + body.center(WIDTH - 1, "-") + "|"
    note = f"  {seg.note}" if seg.note else ""
    return f"{seg.at_ms:9.3f} ms {arrow}{note}"
