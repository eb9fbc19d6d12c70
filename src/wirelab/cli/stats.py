"""``wirelab stats``: tshark's -z statistics of a capture file, on the fast path."""

from __future__ import annotations

import json

import click

STATS = ("conv", "endpoints")
KINDS = ("ip", "ipv6", "tcp", "udp")


@click.command(
    "stats",
    epilog="Example: wirelab stats capture.pcap conv tcp udp\n\n"
    "conv: conversations, as tshark -q -z conv,KIND (A is the source of the first packet, "
    "A->B what A sent, start relative to the capture's first frame).  endpoints: packets "
    "and bytes each endpoint sent and received, as tshark -q -z endpoints,KIND.  KIND is "
    "ip, ipv6, tcp or udp (all four when none is given).  Bytes are frame lengths on the "
    "wire.  --json prints the exact numbers (durations in seconds, unrounded).",
)
@click.argument("capture", type=click.Path(dir_okay=False, exists=True))
@click.argument("statistic", type=click.Choice(STATS))
@click.argument("kinds", nargs=-1, type=click.Choice(KINDS))
@click.option("--json", "as_json", is_flag=True, help="Print the numbers as JSON.")
def stats(capture: str, statistic: str, kinds: tuple[str, ...], as_json: bool) -> None:
    """Statistics of CAPTURE: STATISTIC (conv or endpoints) for each KIND."""
    from wirelab.monitor import conv, endpoints
    from wirelab.monitor.run import run

    chosen = kinds or KINDS
    tables: dict[str, conv.ConversationTable | endpoints.EndpointTable]
    if statistic == "conv":
        tables = {k: conv.ConversationTable(k) for k in chosen}
    else:
        tables = {k: endpoints.EndpointTable(k) for k in chosen}
    origin = run(capture, list(tables.values()),
                 on_warning=lambda w: click.echo(f"wirelab: warning: {w}", err=True))
    result: dict[str, list[dict[str, object]]] = {}
    for kind, table in tables.items():
        if isinstance(table, conv.ConversationTable):
            result[kind] = table.rows(origin)
        else:
            result[kind] = table.rows()
    if as_json:
        click.echo(json.dumps({"capture": capture, "statistic": statistic, **result}, indent=2))
        return
    render = conv.render if statistic == "conv" else endpoints.render
    click.echo("\n\n".join(render(kind, rows) for kind, rows in result.items()))
