"""Text views of a followed stream: ASCII and hex dump, like Wireshark's Follow TCP Stream.

Both show the conversation turn by turn: consecutive pieces from the same side are merged,
and a header line names the side, the byte count, and the frames that brought them.  Bytes
the capture lacks appear as ``[N bytes missing in capture]`` where they would be.  In the
hex dump the offset column counts from the start of that side's stream, and the server's
lines are indented, as Wireshark does.
"""

from __future__ import annotations

from dataclasses import dataclass

from wirelab.observe.follow import FollowedStream, Side

_PRINTABLE = frozenset(range(0x20, 0x7F)) | {0x09, 0x0A, 0x0D}


@dataclass
class Turn:
    """Consecutive bytes from one side, with the frames that delivered them."""

    side: Side
    offset: int
    data: bytes
    frames: list[int]
    missing_before: int = 0


def turns(fs: FollowedStream) -> list[Turn]:
    """Merge consecutive same-side chunks; note the gap before a chunk, if any."""
    gaps = {(g.side, g.offset + g.length): g.length for g in fs.gaps}
    out: list[Turn] = []
    for chunk in fs.segments:
        missing = gaps.get((chunk.side, chunk.offset), 0)
        last = out[-1] if out else None
        if last is not None and last.side is chunk.side and not missing:
            last.data += chunk.data
            if chunk.frame not in last.frames:
                last.frames.append(chunk.frame)
        else:
            out.append(Turn(chunk.side, chunk.offset, chunk.data, [chunk.frame], missing))
    return out


def _frames(frames: list[int]) -> str:
    if len(frames) == 1:
        return f"frame {frames[0]}"
    if len(frames) <= 4:
        return "frames " + ", ".join(map(str, frames))
    return f"frames {frames[0]}..{frames[-1]} ({len(frames)})"


def _header(fs: FollowedStream, turn: Turn) -> str:
    src, dst = (fs.client, fs.server) if turn.side is Side.CLIENT else (fs.server, fs.client)
    return f"--- {turn.side.value} {src} -> {dst}: {len(turn.data)} bytes, {_frames(turn.frames)}"


def summary(fs: FollowedStream) -> str:
    lines = [f"TCP stream {fs.stream}: client {fs.client}, server {fs.server}",
             f"client -> server {len(fs.client_bytes)} bytes, "
             f"server -> client {len(fs.server_bytes)} bytes, {fs.frames} frames"]
    if fs.gaps:
        lost = sum(g.length for g in fs.gaps)
        lines.append(f"{lost} bytes missing from the capture in {len(fs.gaps)} gap(s)")
    return "\n".join(lines)


def ascii_text(data: bytes) -> str:
    """Printable ASCII and line ends as they are, every other byte as ``.``."""
    return "".join(chr(b) if b in _PRINTABLE else "." for b in data)


def render_ascii(fs: FollowedStream) -> str:
    parts = [summary(fs), ""]
    for turn in turns(fs):
        if turn.missing_before:
            parts.append(f"[{turn.missing_before} bytes missing in capture]")
        parts.append(_header(fs, turn))
        text = ascii_text(turn.data)
        parts.append(text if text.endswith("\n") else text + "\n")
    return "\n".join(parts).rstrip("\n")


def hexdump(data: bytes, offset: int = 0, indent: str = "") -> list[str]:
    """``hexdump -C``-style lines: offset, 16 bytes in two groups of 8, then ASCII."""
    lines = []
    for i in range(0, len(data), 16):
        row = data[i:i + 16]
        hexes = " ".join(f"{b:02x}" for b in row[:8])
        if len(row) > 8:
            hexes += "  " + " ".join(f"{b:02x}" for b in row[8:])
        text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in row)
        lines.append(f"{indent}{offset + i:08x}  {hexes:<49} |{text}|")
    return lines


def render_hex(fs: FollowedStream) -> str:
    parts = [summary(fs), ""]
    for turn in turns(fs):
        indent = "    " if turn.side is Side.SERVER else ""
        if turn.missing_before:
            parts.append(f"{indent}[{turn.missing_before} bytes missing in capture]")
        parts.append(_header(fs, turn))
        parts.extend(hexdump(turn.data, turn.offset, indent))
    return "\n".join(parts)
