"""Parse the text tables of ``tshark -q -z conv,...`` and ``-z endpoints,...`` (tshark 4.0)."""

from __future__ import annotations

import re
import subprocess

_SIZE = r"(\d+ (?:bytes|kB|MB|GB))"
# "A <-> B  rxframes rxbytes  txframes txbytes  frames bytes  start duration"
_CONV = re.compile(rf"^(\S+)\s+<->\s+(\S+)\s+(\d+)\s+{_SIZE}\s+(\d+)\s+{_SIZE}\s+"
                   rf"(\d+)\s+{_SIZE}\s+([\d.]+)\s+([\d.]+)\s*$")


def size_text(n: int) -> str:
    """How tshark 4.0's conversation table prints a byte count (wsutil format_size, SI).

    From 10,000 up it prints whole kB (integer division), from 10,000,000 whole MB, and so
    on: the table is exact only below 10,000 bytes, which is why the tests also sum
    ``frame.len`` per direction with ``tshark -T fields`` for the exact figure.
    """
    for unit, power in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= 10 * power:
            return f"{n // power} {unit}"
    return f"{n} bytes"


def tshark_tables(capture: str, args: list[str]) -> str:
    cmd = ["tshark", "-n", "-r", capture, "-q"]
    for a in args:
        cmd += ["-z", a]
    return subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=300).stdout


def parse_conv(text: str) -> dict[frozenset[str], dict[str, object]]:
    """Rows keyed by their unordered pair of endpoints; "->" is A to B, "<-" B to A.

    Byte counts stay as tshark printed them (``"533 bytes"``, ``"12 kB"``); see size_text.
    """
    rows: dict[frozenset[str], dict[str, object]] = {}
    for line in text.splitlines():
        m = _CONV.match(line)
        if not m:
            continue
        a, b = m.group(1), m.group(2)
        rows[frozenset((a, b))] = {
            "a": a, "b": b, "frames_ba": int(m.group(3)), "bytes_ba": m.group(4),
            "frames_ab": int(m.group(5)), "bytes_ab": m.group(6),
            "frames": int(m.group(7)), "bytes": m.group(8),
            "rel_start": float(m.group(9)), "duration": float(m.group(10)),
            "duration_text": m.group(10)}
    return rows


def parse_endpoints(text: str, ports: bool) -> dict[tuple[str, int], tuple[int, ...]]:
    """(address, port or 0) -> (packets, bytes, tx packets, tx bytes, rx packets, rx bytes)."""
    rows: dict[tuple[str, int], tuple[int, ...]] = {}
    width = 8 if ports else 7
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != width or not all(p.isdigit() for p in parts[1:]):
            continue
        port = int(parts[1]) if ports else 0
        rows[(parts[0], port)] = tuple(int(p) for p in parts[-6:])
    return rows


def tcp_bytes_by_direction(capture: str) -> dict[tuple[str, str], tuple[int, int]]:
    """Exact (frames, bytes) per (src ip:port, dst ip:port) of TCP, summed from frame.len."""
    out = subprocess.run(
        ["tshark", "-n", "-r", capture, "-Y", "tcp", "-T", "fields", "-e", "ip.src",
         "-e", "tcp.srcport", "-e", "ip.dst", "-e", "tcp.dstport", "-e", "frame.len"],
        capture_output=True, text=True, check=True, timeout=300).stdout
    sums: dict[tuple[str, str], tuple[int, int]] = {}
    for line in out.splitlines():
        src, sport, dst, dport, length = line.split("\t")
        key = (f"{src}:{sport}", f"{dst}:{dport}")
        frames, total = sums.get(key, (0, 0))
        sums[key] = (frames + 1, total + int(length))
    return sums


def parse_phs(text: str) -> dict[tuple[str, ...], tuple[int, int]]:
    """tshark's protocol hierarchy: path of protocol names -> (frames, bytes)."""
    out: dict[tuple[str, ...], tuple[int, int]] = {}
    stack: list[str] = []
    for line in text.splitlines():
        m = re.match(r"^( *)(\S+)\s+frames:(\d+) bytes:(\d+)\s*$", line)
        if not m:
            continue
        depth = len(m.group(1)) // 2
        stack[depth:] = [m.group(2)]
        out[tuple(stack)] = (int(m.group(3)), int(m.group(4)))
    return out


def cut_below(tree: dict[tuple[str, ...], tuple[int, int]],
              leaves: frozenset[str]) -> dict[tuple[str, ...], tuple[int, int]]:
    """The tree without the nodes under any node named in ``leaves``."""
    return {path: v for path, v in tree.items()
            if not any(name in leaves for name in path[:-1])}


_IO_ROW = re.compile(r"^\|\s*([\d.]+)\s*<>\s*(?:[\d.]+|Dur)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|$")


def parse_io(text: str) -> list[tuple[float, int, int]]:
    """``-z io,stat,S`` rows: (interval start, frames, bytes), in order."""
    out = []
    for line in text.splitlines():
        m = _IO_ROW.match(line)
        if m:
            out.append((float(m.group(1)), int(m.group(2)), int(m.group(3))))
    return out
