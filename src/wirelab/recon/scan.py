"""One entry point for every scan type: resolve, check the scope, pick the timing, then scan.

``scan()`` is the library API the CLI (and anything else) calls::

    result = scan("server", parse_ports("1-1024"), "syn", timing=4)

``timing`` is nmap's ``-T`` level (:mod:`wirelab.recon.timing`); ``max_retries`` overrides the
template's retransmission cap like nmap's ``--max-retries``; ``progress(done, total)`` is
called as verdicts settle, at most about 20 times a second, and once at the end.
"""

from __future__ import annotations

import importlib

from wirelab.errors import ExitCode, WirelabError
from wirelab.recon.ports import MAX_PORT, PortSpecError
from wirelab.recon.result import Progress, ScanResult
from wirelab.recon.scope import check_scope, resolve
from wirelab.recon.timing import DEFAULT_LEVEL, template

SCAN_TYPES = ("syn", "connect", "udp")
ENGINES = {"syn": ("wirelab.recon.syn", "syn_scan"),
           "connect": ("wirelab.recon.connect", "connect_scan"),
           "udp": ("wirelab.recon.udp", "udp_scan")}
"""Each engine is imported when it is used: a scan loads only its own code."""


class ScanTypeError(WirelabError):
    exit_code = ExitCode.USAGE


def scan(target: str, ports: list[int], scan_type: str = "syn", *,
         timing: int = DEFAULT_LEVEL, progress: Progress | None = None,
         max_retries: int | None = None) -> ScanResult:
    """Scan ``ports`` of ``target``; the scope check happens before any socket is opened."""
    if scan_type not in SCAN_TYPES:
        raise ScanTypeError(f"unknown scan type {scan_type!r}: one of {', '.join(SCAN_TYPES)}")
    if max_retries is not None and max_retries < 0:
        raise ScanTypeError(f"bad --max-retries {max_retries}: 0 or more")
    ports = list(dict.fromkeys(ports))  # each port once, in the order given
    if not ports:
        raise PortSpecError("no ports to scan")
    outside = [p for p in ports if not 0 <= p <= MAX_PORT]
    if outside:
        raise PortSpecError(f"port {outside[0]} is outside 0-{MAX_PORT}")
    tpl = template(timing)
    retries = tpl.max_retries if max_retries is None else max_retries
    address = resolve(target)
    check_scope(address)
    module, name = ENGINES[scan_type]
    engine = getattr(importlib.import_module(module), name)
    result = engine(target, address, ports, tpl=tpl, max_retries=retries, progress=progress)
    result.timing, result.max_retries = tpl.level, retries
    return result
