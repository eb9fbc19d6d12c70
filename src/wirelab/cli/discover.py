"""``wirelab discover``: ARP sweep of the local segment, like arp-scan."""

from __future__ import annotations

import json
import os

import click

from wirelab.recon.discover import Discovery, sweep

EPILOG = """\b
Example (from a lab host, whose segment is swept):
  wirelab lab exec client -- wirelab discover
  wirelab lab exec client -- wirelab discover 198.18.0.0/24 --json

\b
One ARP request to every address of the segment, three rounds with backoff
(0.25, 0.5, 1 s).  Only lab segments are swept, from inside a lab host."""


def _text(found: Discovery) -> str:
    iface = found.interface
    lines = [f"Interface: {iface.name}, MAC: {iface.mac}, IPv4: {iface.address}"]
    lines += [f"{h.ip}\t{h.mac}\t{h.rtt * 1000:.3f} ms" for h in found.hosts]
    lines.append(f"{found.scanned} hosts scanned in {found.elapsed:.3f} seconds. "
                 f"{len(found.hosts)} responded")
    return "\n".join(lines)


def _json(found: Discovery) -> str:
    return json.dumps({
        "interface": found.interface.name, "mac": found.interface.mac,
        "address": found.interface.address, "network": str(found.interface.network),
        "scanned": found.scanned, "elapsed": round(found.elapsed, 6),
        "hosts": [{"ip": h.ip, "mac": h.mac, "rtt_ms": round(h.rtt * 1000, 3)}
                  for h in found.hosts],
    }, indent=2)


@click.command(epilog=EPILOG)
@click.argument("network", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def discover(network: str | None, as_json: bool) -> None:
    """ARP-sweep NETWORK (default: this host's segment) and list who answers."""
    found = sweep(network, os.environ.get("WIRELAB_LAB"))
    click.echo(_json(found) if as_json else _text(found))
