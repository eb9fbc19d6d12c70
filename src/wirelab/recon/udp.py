"""The UDP scan (nmap ``-sU``): being built; see the scan-engine notes."""

from __future__ import annotations

from wirelab.errors import ExitCode, WirelabError
from wirelab.recon.result import Progress, ScanResult
from wirelab.recon.timing import TEMPLATES, Template


class UDPScanNotReady(WirelabError):
    exit_code = ExitCode.USAGE


def udp_scan(target: str, address: str, ports: list[int], *, tpl: Template = TEMPLATES[4],
             max_retries: int = 6, progress: Progress | None = None) -> ScanResult:
    """Not built yet: refuses with one line instead of pretending."""
    raise UDPScanNotReady("the UDP scan is not built yet (work in progress)")
