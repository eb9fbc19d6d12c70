"""One entry point for both scan types: resolve, check the scope, then scan."""

from __future__ import annotations

from wirelab.errors import ExitCode, WirelabError
from wirelab.recon.connect import connect_scan
from wirelab.recon.result import ScanResult
from wirelab.recon.scope import check_scope, resolve
from wirelab.recon.syn import syn_scan

SCAN_TYPES = ("syn", "connect")


class ScanTypeError(WirelabError):
    exit_code = ExitCode.USAGE


def scan(target: str, ports: list[int], scan_type: str = "syn") -> ScanResult:
    """Scan ``ports`` of ``target``; the scope check happens before any socket is opened."""
    if scan_type not in SCAN_TYPES:
        raise ScanTypeError(f"unknown scan type {scan_type!r}: one of {', '.join(SCAN_TYPES)}")
    address = resolve(target)
    check_scope(address)
    if scan_type == "syn":
        return syn_scan(target, address, ports)
    return connect_scan(target, address, ports)
