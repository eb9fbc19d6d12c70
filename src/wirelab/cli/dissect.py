"""``wirelab dissect``: decode a capture file, one line a packet (like tshark), or in full."""

from __future__ import annotations

import sys

import click

from wirelab.observe.dissect import Dissector, json_line, tree_lines
from wirelab.wire.capture import open_capture


@click.command(epilog="""\b
Examples:
  wirelab dissect capture.pcap              one summary line a packet
  wirelab dissect capture.pcapng -V -c 3    every layer and field of the first 3 packets
  wirelab dissect capture.pcap --json | jq .info
  tcpdump -w - -i eth0 | wirelab dissect -  read a capture from stdin
""")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("-V", "verbose", is_flag=True, help="Show every layer and field as a tree.")
@click.option("--json", "as_json", is_flag=True, help="JSON Lines: one object a packet.")
@click.option("-c", "count", type=click.IntRange(min=1), help="Stop after N packets.")
def dissect(file: str, verbose: bool, as_json: bool, count: int | None) -> None:
    """Decode FILE (pcap or pcapng; - for stdin) with wirelab's own codecs.

    Packets that do not decode are shown up to the layer where decoding
    stopped, with the error (layer, field, byte offset).  Checksums are
    verified and reported, never "fixed".  A cut-off last record gives a
    warning on stderr and the packets before it.
    """
    def warn(message: str) -> None:
        click.echo(f"wirelab: warning: {message}", err=True)

    reader = open_capture(file, on_warning=warn)
    out = sys.stdout
    malformed = 0
    with reader:
        for d in Dissector().run(iter(reader), count):
            malformed += d.packet.error is not None
            if as_json:
                out.write(json_line(d) + "\n")
            elif verbose:
                out.write("\n".join(tree_lines(d)) + "\n\n")
            else:
                out.write(d.row.line() + "\n")
    if malformed and not as_json:
        click.echo(f"wirelab: {malformed} malformed packet(s)", err=True)
