"""A :class:`~wirelab.observe.flow.Ladder` drawn with characters, for the terminal.

Layout, left to right: the frame number and time, one vertical line per endpoint with its
name centred above, and after the last line the packet's marks and details.  Each packet is
one row: an arrow from the sender's line to the receiver's, the flags written on it.  A rule
with the phase's name goes across where a connection enters its handshake, data or teardown::

       1  0.000000  │───────────[SYN]──────────▶│  Seq=0 Win=65495 Len=0

Unicode box-drawing characters by default; ``ascii=True`` gives ``| - > <`` for terminals and
files that want plain ASCII.  ``color=True`` adds ANSI colours (red for trouble marks).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wirelab.observe.flow import Arrow, Ladder

UNICODE = {"life": "│", "line": "─", "right": "▶", "left": "◀", "self": "↺", "rule": "─"}
ASCII = {"life": "|", "line": "-", "right": ">", "left": "<", "self": "@", "rule": "="}
RED, BOLD, DIM, RESET = "\x1b[31m", "\x1b[1m", "\x1b[2m", "\x1b[0m"
MIN_GAP = 18


def _geometry(ladder: Ladder) -> tuple[int, list[int]]:
    """Width of the left margin and the x position of each endpoint's line."""
    num_w = max(len(str(a.number)) for a in ladder.arrows)
    time_w = max(len(f"{a.time:.6f}") for a in ladder.arrows)
    margin = num_w + 2 + time_w + 2
    spans: dict[tuple[int, int], int] = {}
    for a in ladder.arrows:
        lo, hi = sorted((a.src, a.dst))
        if lo != hi:
            need = len(a.label) + 6
            spans[(lo, hi)] = max(spans.get((lo, hi), 0), need)
    names = ladder.endpoints
    gap = MIN_GAP
    for i in range(len(names) - 1):
        gap = max(gap, (len(names[i]) + len(names[i + 1])) // 2 + 3)
    for (lo, hi), need in spans.items():
        gap = max(gap, -(-need // (hi - lo)))  # the label must fit between lo and hi
    first = margin + max(len(names[0]) // 2, 1)
    return margin, [first + i * gap for i in range(len(names))]


def _arrow_row(a: Arrow, xs: list[int], glyph: dict[str, str], width: int) -> list[str]:
    row = [" "] * width
    for x in xs:
        row[x] = glyph["life"]
    x1, x2 = xs[a.src], xs[a.dst]
    if x1 == x2:  # a packet to itself (ICMP on one address): a loop mark beside the line
        text = f"{glyph['self']} {a.label}"
        row[x1 + 1:x1 + 1 + len(text) + 1] = " " + text
        return row
    lo, hi = sorted((x1, x2))
    for x in range(lo + 1, hi):
        row[x] = glyph["line"]
    if x2 > x1:
        row[hi - 1] = glyph["right"]
    else:
        row[lo + 1] = glyph["left"]
    label = f"{a.label}"
    start = lo + 1 + (hi - lo - 1 - len(label)) // 2
    row[start:start + len(label)] = label
    return row


def render_text(ladder: Ladder, *, ascii: bool = False, color: bool = False) -> str:
    """The ladder as lines of text (no trailing newline)."""
    glyph = ASCII if ascii else UNICODE
    margin, xs = _geometry(ladder)
    num_w = max(len(str(a.number)) for a in ladder.arrows)
    self_room = max((len(a.label) + 3 for a in ladder.arrows if a.src == a.dst), default=0)
    width = xs[-1] + 1 + self_room
    lines: list[str] = []
    if ladder.title:
        lines.append(_style(ladder.title, BOLD, color))
    header = [" "] * (width + max(len(n) for n in ladder.endpoints))
    for name, x in zip(ladder.endpoints, xs, strict=True):
        start = max(x - len(name) // 2, 0)
        header[start:start + len(name)] = name
    lines.append(f"{'#':>{num_w}}  time".ljust(margin) + "".join(header)[margin:].rstrip())
    life = [" "] * width
    for x in xs:
        life[x] = glyph["life"]
    lines.append("".join(life).rstrip())
    starts = ladder.phase_starts()
    for i, a in enumerate(ladder.arrows):
        if i in starts:
            rule = f"{glyph['rule'] * 2} {starts[i]} "
            rule = " " * margin + rule + glyph["rule"] * max(width - margin - len(rule), 2)
            lines.append(_style(rule, BOLD, color))
        left = f"{a.number:>{num_w}}  {a.time:.6f}".ljust(margin)
        body = "".join(_arrow_row(a, xs, glyph, width))[margin:]
        marks = "".join(f"[{m}] " for m in a.marks)
        if marks:
            marks = _style(marks, RED if a.alert else DIM, color)
        lines.append(f"{left}{body}  {marks}{a.detail}".rstrip())
    return "\n".join(lines)


def _style(text: str, code: str, color: bool) -> str:
    return f"{code}{text}{RESET}" if color else text
