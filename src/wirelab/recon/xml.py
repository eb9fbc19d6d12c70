"""nmap's XML output (``-oX``), valid against nmap's own DTD (``/usr/share/nmap/nmap.dtd``), so
that tools that read nmap XML (Metasploit's db_import, ndiff, python-libnmap, xsltproc with
nmap.xsl) read a wirelab scan too.

The elements and their order are the DTD's and nmap 7.93's: ``nmaprun`` (``scaninfo``,
``verbose``, ``debugging``, ``host``, ``runstats``); a ``host`` holds ``status``,
``address``, ``hostnames``, ``ports`` (the hidden states as ``extraports`` with
``extrareasons``, then one ``port`` each with ``state`` and ``service``) and ``runstats``
ends with ``finished`` and ``hosts``.

Two honest compromises, because the DTD leaves no choice:

- ``scanner`` is declared ``(nmap) #REQUIRED``: an enumeration of one value.  A document with
  ``scanner="wirelab"`` is invalid, and strict readers reject it.  So it says ``nmap``, and
  wirelab identifies itself everywhere else it can: ``args`` is the wirelab command line,
  ``version`` is wirelab's version (not an nmap version), and the comment at the top reads
  ``wirelab ... scan initiated``.
- ``reason_ttl`` is required on every ``state``: when the scan did not record the answer's
  TTL (connect scans never see it; nmap writes 0 then too) it is ``0``.

Host discovery is not done (as ``nmap -Pn``), so the host's status reason is ``user-set``,
exactly what nmap writes with ``-Pn``.  The scan's notes (e.g. that the target's ICMP rate
limit slowed it) have no element in the DTD; they go in comments inside ``host``, which
validators and readers skip.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET

from wirelab import __version__
from wirelab.recon.report import (
    hidden_states,
    port_ttl,
    protocol,
    reason_counts,
    summary,
    table_service,
)
from wirelab.recon.result import ScanResult

XML_OUTPUT_VERSION = "1.05"  # the version of the format nmap 7.93 writes


def ranges(ports: list[int]) -> str:
    """nmap's compact port list: ``1-21,23-52,54``."""
    parts: list[str] = []
    ordered = sorted(set(ports))
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)


def _comment_safe(text: str) -> str:
    # "--" may not appear inside an XML comment; nmap writes its second dash as &#45;.
    return text.replace("--", "-&#45;")


def _ctime(stamp: float) -> str:
    return time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(stamp))


def _ports(result: ScanResult, host: ET.Element) -> None:
    proto = protocol(result)
    ports = ET.SubElement(host, "ports")
    hidden = hidden_states(result.ports)
    for state in hidden:
        inside = [p for p in result.ports if str(p.state) == state]
        extra = ET.SubElement(ports, "extraports", state=state, count=str(len(inside)))
        for reason, count in reason_counts(inside, state):
            which = [p.port for p in inside if str(p.reason) == reason]
            ET.SubElement(extra, "extrareasons", reason=reason, count=str(count), proto=proto,
                          ports=ranges(which))
    for p in result.ports:
        if str(p.state) in hidden:
            continue
        port = ET.SubElement(ports, "port", protocol=proto, portid=str(p.port))
        ET.SubElement(port, "state", state=str(p.state), reason=str(p.reason),
                      reason_ttl=str(port_ttl(p) or 0))
        name = table_service(p.port, proto)
        if name is not None:  # as nmap: no element for a port its table does not list
            ET.SubElement(port, "service", name=name, method="table", conf="3")


def render_xml(result: ScanResult, *, command: str, started: float) -> str:
    """The whole ``-oX`` document for one scanned host."""
    ended = started + result.elapsed
    root = ET.Element("nmaprun", scanner="nmap", args=command, start=str(int(started)),
                      startstr=_ctime(started), version=__version__,
                      xmloutputversion=XML_OUTPUT_VERSION)
    ET.SubElement(root, "scaninfo", type=result.scan_type, protocol=protocol(result),
                  numservices=str(len(result.ports)),
                  services=ranges([p.port for p in result.ports]))
    ET.SubElement(root, "verbose", level="0")
    ET.SubElement(root, "debugging", level="0")
    host = ET.SubElement(root, "host", starttime=str(int(started)), endtime=str(int(ended)))
    ET.SubElement(host, "status", state="up", reason="user-set", reason_ttl="0")
    ET.SubElement(host, "address", addr=result.address, addrtype="ipv4")
    names = ET.SubElement(host, "hostnames")
    if result.target != result.address:
        ET.SubElement(names, "hostname", name=result.target, type="user")
    _ports(result, host)
    for note in getattr(result, "notes", None) or []:  # the DTD has no element for them
        host.append(ET.Comment(f" {_comment_safe(str(note))} "))
    runstats = ET.SubElement(root, "runstats")
    ET.SubElement(runstats, "finished", time=str(int(ended)), timestr=_ctime(ended),
                  summary=f"wirelab done at {_ctime(ended)}; {summary(result)}",
                  elapsed=f"{result.elapsed:.2f}", exit="success")
    ET.SubElement(runstats, "hosts", up="1", down="0", total="1")
    ET.indent(root, space="")
    head = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        "<!DOCTYPE nmaprun>",
        f"<!-- wirelab {__version__} scan initiated {_ctime(started)} as: "
        f"{_comment_safe(command)} -->",
        "<!-- scanner=\"nmap\": nmap.dtd allows no other value; this is wirelab's output -->",
    ]
    return "\n".join(head) + "\n" + ET.tostring(root, encoding="unicode") + "\n"
