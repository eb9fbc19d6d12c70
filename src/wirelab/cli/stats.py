"""``wirelab stats``: tshark's -z statistics of a capture file, on the fast path."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable

import click

STATS = ("phs", "conv", "endpoints", "io")
KINDS = ("ip", "ipv6", "tcp", "udp")


@click.command(
    "stats",
    epilog="Example: wirelab stats capture.pcap conv tcp udp\n\n"
    "phs: protocol hierarchy, as tshark -q -z io,phs, down to the transport layer (tcp, "
    "udp, icmp, icmpv6, arp; what tshark's port tables and heuristics put below those is "
    "not imitated).  conv: conversations, as tshark -q -z conv,KIND (A is the source of "
    "the first packet, A->B what A sent, start relative to the capture's first frame).  "
    "endpoints: packets and bytes each endpoint sent and received, as tshark -q -z "
    "endpoints,KIND.  KIND is ip, ipv6, tcp or udp (all four when none is given; phs takes "
    "none).  Bytes are frame lengths on the wire.  --json prints the exact numbers "
    "(durations in seconds, unrounded).  io: frames and bytes per --interval seconds from "
    "the first frame, as tshark -q -z io,stat,S (every interval listed, empty ones too).",
)
@click.argument("capture", type=click.Path(dir_okay=False, exists=True))
@click.argument("statistic", type=click.Choice(STATS))
@click.argument("kinds", nargs=-1, type=click.Choice(KINDS))
@click.option("--interval", type=click.FloatRange(min=0.000001), default=1.0,
              show_default=True, help="Seconds per interval (io only).")
@click.option("--json", "as_json", is_flag=True, help="Print the numbers as JSON.")
@click.option("--csv", "as_csv", is_flag=True,
              help="Print the numbers as CSV with a header row (conv/endpoints: a kind column).")
def stats(capture: str, statistic: str, kinds: tuple[str, ...], interval: float,
          as_json: bool, as_csv: bool) -> None:
    """Statistics of CAPTURE: STATISTIC (phs, conv, endpoints or io) for each KIND."""
    from wirelab.monitor import conv, endpoints
    from wirelab.monitor.run import run

    def warn(message: str) -> None:
        click.echo(f"wirelab: warning: {message}", err=True)

    if as_json and as_csv:
        raise click.UsageError("--json and --csv: choose one")
    if statistic == "phs":
        _phs(capture, as_json, as_csv, warn)
        return
    if statistic == "io":
        _io(capture, interval, as_json, as_csv, warn)
        return
    chosen = kinds or KINDS
    tables: dict[str, conv.ConversationTable | endpoints.EndpointTable]
    if statistic == "conv":
        tables = {k: conv.ConversationTable(k) for k in chosen}
    else:
        tables = {k: endpoints.EndpointTable(k) for k in chosen}
    origin = run(capture, list(tables.values()), on_warning=warn)
    result: dict[str, list[dict[str, object]]] = {}
    for kind, table in tables.items():
        if isinstance(table, conv.ConversationTable):
            result[kind] = table.rows(origin)
        else:
            result[kind] = table.rows()
    if as_json:
        click.echo(json.dumps({"capture": capture, "statistic": statistic, **result}, indent=2))
        return
    if as_csv:
        _csv([{"kind": kind, **row} for kind, rows in result.items() for row in rows])
        return
    render = conv.render if statistic == "conv" else endpoints.render
    click.echo("\n\n".join(render(kind, rows) for kind, rows in result.items()))


def _csv(rows: list[dict[str, object]]) -> None:
    """Rows as CSV; the header is the union of the rows' keys, first-seen order."""
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(names), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    click.echo(out.getvalue(), nl=False)


def _phs(capture: str, as_json: bool, as_csv: bool, warn: Callable[[str], None]) -> None:
    from wirelab.monitor.phs import Hierarchy, render
    from wirelab.monitor.run import run

    hierarchy = Hierarchy()
    run(capture, [], hierarchy, on_warning=warn)
    rows = hierarchy.rows()
    if as_json:
        click.echo(json.dumps({"capture": capture, "statistic": "phs", "phs": rows}, indent=2))
    elif as_csv:
        _csv(rows)
    else:
        click.echo(render(rows))


def _io(capture: str, interval: float, as_json: bool, as_csv: bool,
        warn: Callable[[str], None]) -> None:
    from wirelab.monitor.io import IoStat, render
    from wirelab.monitor.run import run

    stat = IoStat(interval)
    run(capture, [], io=stat, on_warning=warn)
    rows = stat.rows()
    if as_json:
        click.echo(json.dumps({"capture": capture, "statistic": "io", "interval": interval,
                               "io": rows}, indent=2))
    elif as_csv:
        _csv(rows)
    else:
        click.echo(render(interval, rows))
