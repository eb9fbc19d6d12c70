"""``wirelab conversations``: the TCP and UDP streams of a capture, like tshark -z conv."""

from __future__ import annotations

import click


@click.command(
    "conversations",
    epilog="Example: wirelab conversations capture.pcap --proto tcp\n\n"
    "One row per stream, numbered as tshark's tcp.stream and udp.stream (the numbers "
    "wirelab flow --stream and wirelab follow --stream take).  A is the source of the "
    "stream's first packet; A->B counts frames and frame bytes as tshark -z conv does.  "
    "The last column tells how the connection opened and closed and which analysis marks "
    "(retransmission, out_of_order, zero_window, ...) its segments got.",
)
@click.argument("capture", type=click.Path(dir_okay=False))
@click.option("--proto", type=click.Choice(["tcp", "udp"]), default=None,
              help="Only TCP or only UDP conversations.")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def conversations(capture: str, proto: str | None, as_json: bool) -> None:
    """List the TCP and UDP conversations (streams) of CAPTURE."""
    from wirelab.observe import conversations as list_conversations
    from wirelab.observe import load
    from wirelab.observe.conversations import render_table, to_json

    packets = load(capture)
    for warning in packets.warnings:
        click.echo(f"wirelab: warning: {warning}", err=True)
    convs = list_conversations(packets, proto=proto)
    click.echo(to_json(convs) if as_json else render_table(convs))
