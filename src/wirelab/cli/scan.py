"""``wirelab scan``: a TCP port scan whose states and reasons are nmap's."""

from __future__ import annotations

import json

import click

from wirelab.recon.ports import DEFAULT_PORTS, parse_ports
from wirelab.recon.report import render_normal, to_json
from wirelab.recon.scan import SCAN_TYPES
from wirelab.recon.scan import scan as run_scan

EPILOG = """\b
Example (in the lab, where SYN scans have the privilege they need):
  wirelab lab exec client -- wirelab scan server -p 22,80,443,1-1024 --reason

\b
States as nmap defines them.  SYN: SYN/ACK open, RST closed, ICMP unreachable
(codes 0,1,2,3,9,10,13) or silence after one retransmission filtered.  Connect:
connected open, refused closed, time-out or unreachable filtered.
Only loopback and the hosts of a running lab are scanned; anything else is refused
before a packet is sent.  Ports default to 1-1024."""


@click.command(epilog=EPILOG)
@click.argument("target")
@click.option("-p", "ports", default=DEFAULT_PORTS, show_default=True,
              help="Ports, nmap syntax: 22,80,1-1024, -100, 60000-, - (all).")
@click.option("--type", "scan_type", type=click.Choice(SCAN_TYPES), default="syn",
              show_default=True, help="syn: half-open, raw sockets; connect: connect().")
@click.option("--reason", is_flag=True, help="Add nmap's REASON column.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def scan(target: str, ports: str, scan_type: str, reason: bool, as_json: bool) -> None:
    """Scan TCP ports of TARGET (a lab host or loopback), like nmap -sS / -sT."""
    result = run_scan(target, parse_ports(ports), scan_type)
    if as_json:
        click.echo(json.dumps(to_json(result), indent=2))
    else:
        click.echo(render_normal(result, reason=reason))
