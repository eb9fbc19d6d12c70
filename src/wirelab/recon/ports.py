"""nmap's ``-p`` syntax: ``22``, ``22,80,443``, ``1-1024``, ``-100`` (1-100), ``60000-`` (to
65535) and ``-`` (all of 1-65535), in any comma-separated mix.  Port 0 is valid only when
named explicitly (as nmap does).  The result is sorted without duplicates."""

from __future__ import annotations

from wirelab.errors import ExitCode, WirelabError

MAX_PORT = 65535
DEFAULT_PORTS = "1-1024"
"""Scanned when no ``-p`` is given.  nmap scans its "top 1000" by frequency instead; we keep
the well-known range because it needs no frequency table."""


class PortSpecError(WirelabError):
    """A ``-p`` value that is not a port list."""

    exit_code = ExitCode.BAD_INPUT


def _port(text: str, spec: str) -> int:
    if not text.isdigit():
        raise PortSpecError(f"bad port list {spec!r}: {text!r} is not a port number")
    value = int(text)
    if value > MAX_PORT:
        raise PortSpecError(f"bad port list {spec!r}: {value} is above {MAX_PORT}")
    return value


def parse_ports(spec: str) -> list[int]:
    """The sorted, de-duplicated ports that ``spec`` names."""
    ports: set[int] = set()
    for item in spec.replace(" ", "").split(","):
        if not item:
            raise PortSpecError(f"bad port list {spec!r}: empty item")
        if "-" in item:
            low_text, _, high_text = item.partition("-")
            low = _port(low_text, spec) if low_text else 1
            high = _port(high_text, spec) if high_text else MAX_PORT
            if low > high:
                raise PortSpecError(f"bad port list {spec!r}: range {item} runs backwards")
            ports.update(range(low, high + 1))
        else:
            ports.add(_port(item, spec))
    return sorted(ports)
