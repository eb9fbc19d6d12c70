"""``wirelab discover``: who is up?  ARP on the local segment (like arp-scan), nmap's probes
(ICMP echo, TCP SYN to 443, TCP ACK to 80, ICMP timestamp) beyond it (like nmap -sn)."""

from __future__ import annotations

import json
import os

import click

from wirelab.recon.discover import Discovery, ProbeDiscovery
from wirelab.recon.discover import discover as run_discover

EPILOG = """\b
Examples (from a lab host):
  wirelab lab exec client -- wirelab discover
  wirelab lab exec client -- wirelab discover 198.18.0.0/24 --json
  wirelab lab exec client -- wirelab discover 198.18.1.0/24
  wirelab lab exec client -- wirelab discover 198.18.1.1 198.18.1.10 --json

\b
On this host's segment: one ARP request to every address.  Beyond it (a routed
network): ICMP echo, TCP SYN to 443, TCP ACK to 80 and ICMP timestamp to every
address, as nmap -sn does; a host is up on any answer (echo or timestamp
reply, SYN/ACK or RST).  Three rounds for the silent, each waiting twice as
long: the measured RTT's time-out (RFC 6298, 100 ms at least), or 0.25/0.3 s
doubling when nothing has answered.  Only lab networks are swept, from
inside a lab host."""


def _arp_text(found: Discovery) -> str:
    iface = found.interface
    lines = [f"Interface: {iface.name}, MAC: {iface.mac}, IPv4: {iface.address}"]
    lines += [f"{h.ip}\t{h.mac}\t{h.rtt * 1000:.3f} ms" for h in found.hosts]
    lines.append(f"{found.scanned} hosts scanned in {found.elapsed:.3f} seconds. "
                 f"{len(found.hosts)} responded")
    return "\n".join(lines)


def _arp_json(found: Discovery) -> dict[str, object]:
    return {
        "method": "arp",
        "interface": found.interface.name, "mac": found.interface.mac,
        "address": found.interface.address, "network": str(found.interface.network),
        "scanned": found.scanned, "elapsed": round(found.elapsed, 6),
        "hosts": [{"ip": h.ip, "mac": h.mac, "rtt_ms": round(h.rtt * 1000, 3)}
                  for h in found.hosts],
    }


def _probe_text(found: ProbeDiscovery) -> str:
    lines = [f"Probing {found.network} from {found.source}: ICMP echo, TCP SYN to 443, "
             "TCP ACK to 80, ICMP timestamp"]
    lines += [f"{h.ip}\t{h.reason}\t{h.rtt * 1000:.3f} ms" for h in found.hosts]
    lines.append(f"{found.scanned} hosts scanned in {found.elapsed:.3f} seconds. "
                 f"{len(found.hosts)} up")
    return "\n".join(lines)


def _probe_json(found: ProbeDiscovery) -> dict[str, object]:
    return {
        "method": "probe", "probes": ["icmp-echo", "tcp-syn:443", "tcp-ack:80", "icmp-timestamp"],
        "source": found.source, "network": found.network, "scanned": found.scanned,
        "rounds": found.rounds, "elapsed": round(found.elapsed, 6),
        "hosts": [{"ip": h.ip, "reason": h.reason, "rtt_ms": round(h.rtt * 1000, 3)}
                  for h in found.hosts],
    }


@click.command(epilog=EPILOG)
@click.argument("targets", nargs=-1, metavar="[TARGETS]...")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def discover(targets: tuple[str, ...], as_json: bool) -> None:
    """Find the hosts that are up among TARGETS (networks or addresses; default: this
    host's segment)."""
    found = run_discover(list(targets), os.environ.get("WIRELAB_LAB"))
    if isinstance(found, ProbeDiscovery):
        click.echo(json.dumps(_probe_json(found), indent=2) if as_json else _probe_text(found))
    else:
        click.echo(json.dumps(_arp_json(found), indent=2) if as_json else _arp_text(found))
