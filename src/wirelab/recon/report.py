"""nmap's normal output (``-oN``) and JSON for a :class:`ScanResult`.

What nmap prints, and therefore what this prints (nmap 7.93, ``output.cc`` and
``portlist.cc``, checked against its output on the same lab host):

- ``Host is up (0.000025s latency).``: the latency with two significant digits, in fixed
  notation (nmap's ``num_to_string_sigdigit(latency, 2)``);
- ``Not shown: ...``: every state *except open* that covers more than 25 ports is summarised
  instead of listed (``PortList::isIgnoredState``; the threshold grows only with ``-v``).
  Several states can be hidden at once, the most numerous first (a tie goes to nmap's lower
  state number: closed before filtered), and each is split by reason, the most frequent
  first: ``Not shown: 127 closed tcp ports (reset), 65 filtered tcp ports (no-response),
  7 filtered tcp ports (admin-prohibited)``.  nmap writes "ports" even for one.
- If nothing is left to list, nmap says ``All N scanned ports on HOST are in ignored
  states.`` before the ``Not shown`` line.
- The table ``PORT STATE SERVICE [REASON]``: each column as wide as its widest cell, one
  space between; with ``--reason`` the reason carries the answer's TTL (``syn-ack ttl 64``)
  when it is known.  Service names come from nmap's own table
  (``/usr/share/nmap/nmap-services``) when nmap is installed, so the column reads as
  nmap's, else from the system's ``/etc/services``.

The file form (``-oN``) opens with ``# ... scan initiated DATE as: COMMAND`` and ends with
``# ... done at DATE -- ...``, as nmap's does; the terminal form starts with a ``Starting``
line and ends with ``... done: 1 IP address (1 host up) scanned in S seconds``.
"""

from __future__ import annotations

import functools
import math
import socket
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from wirelab import __version__
from wirelab.recon.result import PortResult, ScanResult

NMAP_SERVICES = Path("/usr/share/nmap/nmap-services")
IGNORE_ABOVE = 25
PROTOCOL = {"syn": "tcp", "connect": "tcp", "udp": "udp"}
# nmap's state numbers (portlist.h): they break ties between hidden states of equal counts.
STATE_NUMBER = {"closed": 1, "open": 2, "filtered": 3, "unfiltered": 6, "open|filtered": 7,
                "closed|filtered": 8}
NEVER_HIDDEN = {"open"}


def protocol(result: ScanResult) -> str:
    """``tcp`` or ``udp``: the transport the scan probed."""
    proto = getattr(result, "protocol", None)
    return proto if isinstance(proto, str) else PROTOCOL.get(result.scan_type, "tcp")


@functools.cache
def _services_text(path: Path = NMAP_SERVICES) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _best(lines: Iterable[str]) -> dict[tuple[int, str], str]:
    """``name port/proto frequency ...`` lines -> the most frequent name a port has (nmap)."""
    names: dict[tuple[int, str], str] = {}
    best: dict[tuple[int, str], float] = {}
    for line in lines:
        fields = line.split()
        if len(fields) < 3 or line.startswith("#") or "/" not in fields[1]:
            continue
        number, _, proto = fields[1].partition("/")
        try:
            key, freq = (int(number), proto), float(fields[2])
        except ValueError:
            continue
        if freq >= best.get(key, -1.0):
            best[key], names[key] = freq, fields[0]
    return names


@functools.cache
def _nmap_services() -> dict[tuple[int, str], str]:
    return _best(_services_text().splitlines())


_looked_up: set[tuple[int, str]] = set()
FULL_TABLE_AFTER = 64  # lookups: past this, parsing all 27,000 lines once is cheaper


def _lookup(port: int, proto: str) -> str | None:
    """One port's name: the whole table for many lookups, else just that port's lines (a
    -p- scan names only its few open ports; parsing the table costs ~0.1 s)."""
    text = _services_text()
    _looked_up.add((port, proto))
    if len(_looked_up) > FULL_TABLE_AFTER:
        return _nmap_services().get((port, proto))
    needle, lines, at = f"\t{port}/{proto}\t", [], text.find(f"\t{port}/{proto}\t")
    while at >= 0:
        start = text.rfind("\n", 0, at) + 1
        end = text.find("\n", at)
        lines.append(text[start:end if end >= 0 else len(text)])
        at = text.find(needle, at + 1)
    return _best(lines).get((port, proto))


def table_service(port: int, proto: str = "tcp") -> str | None:
    """The name the services table gives ``port``/``proto``, None if it has no entry.

    nmap's table lists some ports under the name "unknown" (4/tcp); a port it does not list
    at all (60/udp) gets no ``<service>`` element in nmap's XML, though the normal output
    still says "unknown" for both.
    """
    if _services_text():  # nmap's table is complete for what nmap names
        return _lookup(port, proto)
    try:
        return socket.getservbyport(port, proto)
    except OSError:
        return None


def service(port: int, proto: str = "tcp") -> str:
    """The service name nmap prints for ``port``/``proto`` ("unknown" if it has none)."""
    return table_service(port, proto) or "unknown"


def latency_text(seconds: float) -> str:
    """Two significant digits in fixed notation: 2.5e-05 -> ``0.000025``, 0.17 -> ``0.17``."""
    if seconds <= 0:
        return "0.00"
    decimals = max(0, 1 - math.floor(math.log10(seconds)))
    return f"{seconds:.{decimals}f}"


def port_ttl(port: PortResult) -> int | None:
    """The TTL of the packet that decided the port, if the scan recorded it."""
    ttl = getattr(port, "ttl", None)
    return ttl if isinstance(ttl, int) else None


def reason_text(port: PortResult) -> str:
    ttl = port_ttl(port)
    return f"{port.reason} ttl {ttl}" if ttl else str(port.reason)


def hidden_states(ports: Sequence[PortResult]) -> list[str]:
    """The states nmap would summarise on the ``Not shown`` line, in nmap's order."""
    counts = Counter(str(p.state) for p in ports)
    hidden = [s for s, n in counts.items() if n > IGNORE_ABOVE and s not in NEVER_HIDDEN]
    return sorted(hidden, key=lambda s: (-counts[s], STATE_NUMBER.get(s, 99), s))


def reason_counts(ports: Iterable[PortResult], state: str) -> list[tuple[str, int]]:
    """(reason, count) of the ports in ``state``, the most frequent first."""
    counts = Counter(str(p.reason) for p in ports if str(p.state) == state)
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def not_shown_line(result: ScanResult) -> str | None:
    proto = protocol(result)
    parts = [f"{count} {state} {proto} ports ({reason})"
             for state in hidden_states(result.ports)
             for reason, count in reason_counts(result.ports, state)]
    return "Not shown: " + ", ".join(parts) if parts else None


def host_name(result: ScanResult) -> str:
    if result.target != result.address:
        return f"{result.target} ({result.address})"
    return result.address


def table(result: ScanResult, *, reason: bool = False) -> list[str]:
    """The ``PORT STATE SERVICE [REASON]`` rows of the ports not hidden, aligned."""
    proto = protocol(result)
    hidden = set(hidden_states(result.ports))
    shown = [p for p in result.ports if str(p.state) not in hidden]
    if not shown:
        return []
    rows = [(f"{p.port}/{proto}", str(p.state), service(p.port, proto), reason_text(p))
            for p in shown]
    head = ("PORT", "STATE", "SERVICE", "REASON")
    columns = 4 if reason else 3
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(columns)]
    return [" ".join(row[i].ljust(widths[i]) for i in range(columns)).rstrip()
            for row in [head, *rows]]


def notes(result: ScanResult) -> list[str]:
    """Explanations the scan attached (e.g. the ICMP rate limit slowing a UDP scan)."""
    found = getattr(result, "notes", None) or []
    return [str(n) for n in found]


def host_block(result: ScanResult, *, reason: bool = False) -> list[str]:
    """The report of the one host: from ``... scan report for`` to the table and notes."""
    lines = [f"wirelab scan report for {host_name(result)}"]
    up = "Host is up, received user-set" if reason else "Host is up"
    if result.latency is not None:
        lines.append(f"{up} ({latency_text(result.latency)}s latency).")
    else:
        lines.append(f"{up}.")
    rows = table(result, reason=reason)
    if not rows and result.ports:
        lines.append(f"All {len(result.ports)} scanned ports on {host_name(result)} are in "
                     "ignored states.")
    hidden = not_shown_line(result)
    if hidden:
        lines.append(hidden)
    lines += rows
    lines += notes(result)
    return lines


def summary(result: ScanResult) -> str:
    return f"1 IP address (1 host up) scanned in {result.elapsed:.2f} seconds"


def starting_line(started: float) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M %Z", time.localtime(started))
    return f"Starting wirelab {__version__} at {stamp}"


def render_normal(result: ScanResult, *, reason: bool = False) -> str:
    """The scan as nmap prints it on the terminal (without the ``Starting`` line)."""
    lines = host_block(result, reason=reason)
    lines += ["", f"wirelab done: {summary(result)}"]
    return "\n".join(lines)


def _ctime(stamp: float) -> str:
    return time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(stamp))


def render_file(result: ScanResult, *, command: str, started: float,
                reason: bool = False) -> str:
    """The ``-oN`` file: nmap's comment lines around the host report."""
    lines = [f"# wirelab {__version__} scan initiated {_ctime(started)} as: {command}"]
    lines += host_block(result, reason=reason)
    lines += ["", f"# wirelab done at {_ctime(started + result.elapsed)} -- {summary(result)}"]
    return "\n".join(lines) + "\n"


def to_json(result: ScanResult) -> dict[str, Any]:
    proto = protocol(result)
    return {
        "target": result.target,
        "address": result.address,
        "type": result.scan_type,
        "protocol": proto,
        "elapsed": round(result.elapsed, 6),
        "probes_sent": result.probes_sent,
        "timing": getattr(result, "timing", None),
        "max_retries": getattr(result, "max_retries", None),
        "latency": result.latency,
        "not_shown": [{"state": s, "reason": r, "count": n}
                      for s in hidden_states(result.ports)
                      for r, n in reason_counts(result.ports, s)],
        "notes": notes(result),
        "ports": [{"port": p.port, "protocol": proto, "state": str(p.state),
                   "reason": str(p.reason), "ttl": port_ttl(p),
                   "service": service(p.port, proto),
                   "rtt": None if p.rtt is None else round(p.rtt, 6)} for p in result.ports],
    }
