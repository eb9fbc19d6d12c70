"""``wirelab stats``: tshark's -z statistics of a capture file or a live interface."""

from __future__ import annotations

import csv
import gc
import io
import json
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from wirelab.monitor.source import Packet, Source

STATS = ("phs", "conv", "endpoints", "io")
KINDS = ("ip", "ipv6", "tcp", "udp")


@click.command(
    "stats",
    epilog="Example: wirelab stats capture.pcap conv tcp udp\n\n"
    "Example, live: wirelab stats -i eth0 -c 500 phs   (the next 500 frames on eth0)\n\n"
    "SOURCE is a capture file (pcap or pcapng) or, with -i IFACE, a live interface (needs "
    "CAP_NET_RAW: root, or inside the lab); a live capture runs until -c frames, "
    "--duration seconds or Ctrl-C, then prints what it counted.  "
    "phs: protocol hierarchy, as tshark -q -z io,phs (below tcp/udp the application "
    "protocols wirelab recognises as tshark does: see the docs of wirelab.monitor.phs).  "
    "conv: conversations, as tshark -q -z conv,KIND (A is the source of "
    "the first packet, A->B what A sent, start relative to the capture's first frame).  "
    "endpoints: packets and bytes each endpoint sent and received, as tshark -q -z "
    "endpoints,KIND.  KIND is ip, ipv6, tcp or udp (all four when none is given; phs takes "
    "none).  Bytes are frame lengths on the wire.  --json prints the exact numbers "
    "(durations in seconds, unrounded).  io: frames and bytes per --interval seconds from "
    "the first frame, as tshark -q -z io,stat,S (every interval listed, empty ones too).",
)
@click.argument("args", nargs=-1, metavar="[CAPTURE] STATISTIC [KIND]...")
@click.option("-i", "--interface", help="Capture live on this interface ('any': all).")
@click.option("-f", "--filter", "bpf", metavar="BPF",
              help="Capture filter, tcpdump syntax (live only).")
@click.option("-c", "--count", type=click.IntRange(min=1),
              help="Stop after this many frames.")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True),
              help="Stop after this many seconds (file: of capture time).")
@click.option("-w", "--write", "out", metavar="FILE",
              help="Also write the frames counted to FILE (pcap, nanosecond stamps).")
@click.option("--interval", type=click.FloatRange(min=0.000001), default=1.0,
              show_default=True, help="Seconds per interval (io only).")
@click.option("--json", "as_json", is_flag=True, help="Print the numbers as JSON.")
@click.option("--csv", "as_csv", is_flag=True,
              help="Print the numbers as CSV with a header row (conv/endpoints: a kind column).")
def stats(args: tuple[str, ...], interface: str | None, bpf: str | None, count: int | None,
          duration: float | None, out: str | None, interval: float, as_json: bool,
          as_csv: bool) -> None:
    """Statistics of a capture or a live interface: STATISTIC (phs, conv, endpoints, io)."""
    from wirelab.monitor.source import Recorder, open_source

    capture, statistic, kinds = _parse_args(args, interface)
    if as_json and as_csv:
        raise click.UsageError("--json and --csv: choose one")
    if statistic in ("phs", "io") and kinds:
        raise click.UsageError(f"{statistic} takes no KIND")
    if bpf and capture is not None:
        raise click.UsageError("-f/--filter applies to live captures (-i) only")

    def warn(message: str) -> None:
        click.echo(f"wirelab: warning: {message}", err=True)

    with open_source(capture, interface=interface, bpf=bpf, count=count, duration=duration,
                     on_warning=warn) as source:
        if source.live:
            stop = (f"{count} frames" if count else "") + (" or " if count and duration
                                                           else "")
            stop += f"{duration:g} s" if duration else ""
            click.echo(f"wirelab: capturing on {source.name} until {stop or 'Ctrl-C'}",
                       err=True)
        recorder = Recorder(out) if out else None
        gc.disable()  # the tables hold no cycles; collections of a growing table cost ~20 %
        try:
            header, result = _compute(source, statistic, kinds or KINDS, interval,
                                      recorder.write if recorder else None)
        finally:
            gc.enable()
            if recorder is not None:
                recorder.close()
    if source.live:
        click.echo(f"wirelab: {source.count} frames counted; the kernel dropped "
                   f"{source.kernel_drops}", err=True)
    if as_json:
        click.echo(_json(header, result))
    elif as_csv:
        if statistic in ("conv", "endpoints"):
            _csv([{"kind": kind, **row} for kind, rows in result.items() for row in rows])
        else:
            _csv(result[statistic])
    else:
        click.echo(_render(statistic, interval, result))


def _parse_args(args: tuple[str, ...], interface: str | None
                ) -> tuple[str | None, str, tuple[str, ...]]:
    """(capture or None, statistic, kinds) from the positional arguments."""
    rest = list(args)
    capture = None
    if interface is None:
        if not rest:
            raise click.UsageError("give a CAPTURE file, or -i IFACE for a live capture")
        capture = rest.pop(0)
        if not os.path.isfile(capture):
            raise click.BadParameter(f"{capture!r}: no such file", param_hint="CAPTURE")
    if not rest or rest[0] not in STATS:
        got = f" {rest[0]!r}" if rest else ""
        raise click.UsageError(f"STATISTIC{got}: choose one of {', '.join(STATS)}")
    statistic = rest.pop(0)
    for kind in rest:
        if kind not in KINDS:
            raise click.UsageError(f"KIND {kind!r}: choose among {', '.join(KINDS)}")
    return capture, statistic, tuple(rest)


def _compute(source: Source, statistic: str, kinds: tuple[str, ...], interval: float,
             tee: Callable[[list[Packet]], None] | None
             ) -> tuple[dict[str, object], dict[str, list[dict[str, object]]]]:
    """Run ``source`` through the accumulators of ``statistic``; (header, result)."""
    from wirelab.monitor import conv, endpoints
    from wirelab.monitor.io import IoStat
    from wirelab.monitor.phs import Hierarchy
    from wirelab.monitor.run import run_source

    header: dict[str, object] = {"interface" if source.live else "capture": source.name,
                                 "statistic": statistic}
    if statistic == "phs":
        hierarchy = Hierarchy()
        run_source(source, [], hierarchy, tee=tee)
        return header, {"phs": hierarchy.rows()}
    if statistic == "io":
        stat = IoStat(interval)
        run_source(source, [], io=stat, tee=tee)
        return {**header, "interval": interval}, {"io": stat.rows()}
    tables: dict[str, conv.ConversationTable | endpoints.EndpointTable]
    if statistic == "conv":
        tables = {k: conv.ConversationTable(k) for k in kinds}
    else:
        tables = {k: endpoints.EndpointTable(k) for k in kinds}
    origin = run_source(source, list(tables.values()), tee=tee)
    result: dict[str, list[dict[str, object]]] = {}
    for kind, table in tables.items():
        if isinstance(table, conv.ConversationTable):
            result[kind] = table.rows(origin)
        else:
            result[kind] = table.rows()
    return header, result


def _render(statistic: str, interval: float,
            result: dict[str, list[dict[str, object]]]) -> str:
    from wirelab.monitor import conv, endpoints, phs
    from wirelab.monitor import io as io_stat

    if statistic == "phs":
        return phs.render(result["phs"])
    if statistic == "io":
        return io_stat.render(interval, result["io"])
    render: Callable[[str, list[dict[str, object]]], str]
    render = conv.render if statistic == "conv" else endpoints.render
    return "\n\n".join(render(kind, rows) for kind, rows in result.items())


def _json(header: dict[str, object], result: dict[str, list[dict[str, object]]]) -> str:
    """One JSON object: the header's keys, then each table as a list with one row a line.

    With the C encoder: ``json.dumps(indent=2)`` falls back to the pure-Python encoder,
    which took longer than the counting on a table of 250,000 conversations.
    """
    parts = [json.dumps(header)[:-1]]
    for name, rows in result.items():
        # one dumps call for the table (values are numbers and addresses: no "}, {" inside)
        body = "[\n" + json.dumps(rows)[1:-1].replace("}, {", "},\n{") + "\n]" if rows else "[]"
        parts.append(f",\n{json.dumps(name)}: {body}")
    return "".join(parts) + "\n}"


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
