"""``wirelab stats``: tshark's -z statistics of a capture file or a live interface."""

from __future__ import annotations

import csv
import gc
import io
import itertools
import json
import os
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, NamedTuple, TypeVar

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
        _write(_json(header, result))
    elif as_csv:
        _write(_csv(statistic, result))
    else:
        _write(_render(statistic, interval, result))


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


class Table(NamedTuple):
    """A result table: its number of rows, and the rows, made as they are read (only once).

    A conversation or endpoint table also gives its rows as tuples (``values``, in the order
    of ``fields``), which the JSON writer formats without a dict a row; one of ``rows`` and
    ``values`` is read, the other never starts.
    """

    size: int
    rows: Iterator[dict[str, object]]
    fields: tuple[str, ...] = ()
    values: Iterator[tuple[object, ...]] | None = None

    @classmethod
    def of(cls, rows: list[dict[str, object]]) -> Table:
        return cls(len(rows), iter(rows))


def _compute(source: Source, statistic: str, kinds: tuple[str, ...], interval: float,
             tee: Callable[[list[Packet]], None] | None
             ) -> tuple[dict[str, object], dict[str, Table]]:
    """Run ``source`` through the accumulators of ``statistic``; (header, tables by name).

    A conversation or endpoint table's rows are made while they are written out, a chunk at
    a time: the peak memory is the table's, not the table's plus its whole text.
    """
    from wirelab.monitor import conv, endpoints
    from wirelab.monitor.io import IoStat
    from wirelab.monitor.phs import Hierarchy
    from wirelab.monitor.run import run_source

    header: dict[str, object] = {"interface" if source.live else "capture": source.name,
                                 "statistic": statistic}
    if statistic == "phs":
        hierarchy = Hierarchy()
        run_source(source, [], hierarchy, tee=tee)
        return header, {"phs": Table.of(hierarchy.rows())}
    if statistic == "io":
        stat = IoStat(interval)
        run_source(source, [], io=stat, tee=tee)
        return {**header, "interval": interval}, {"io": Table.of(stat.rows())}
    if statistic == "conv":
        convs = {k: conv.ConversationTable(k) for k in kinds}
        origin = run_source(source, list(convs.values()), tee=tee)
        return header, {k: Table(len(t), t.rows(origin), conv.FIELDS, t.values(origin))
                        for k, t in convs.items()}
    eps = {k: endpoints.EndpointTable(k) for k in kinds}
    run_source(source, list(eps.values()), tee=tee)
    return header, {k: Table(len(t), t.rows(), t.fields, t.values()) for k, t in eps.items()}


_CHUNK = 4096
"""Rows formatted and written at a time."""
Row = TypeVar("Row")


def _chunks(rows: Iterator[Row]) -> Iterator[list[Row]]:
    while chunk := list(itertools.islice(rows, _CHUNK)):
        yield chunk


def _write(pieces: Iterable[str]) -> None:
    for piece in pieces:
        click.echo(piece, nl=False)


def _render(statistic: str, interval: float, result: dict[str, Table]) -> Iterator[str]:
    from wirelab.monitor import conv, endpoints, phs
    from wirelab.monitor import io as io_stat

    if statistic == "phs":
        yield phs.render(list(result["phs"].rows)) + "\n"
        return
    if statistic == "io":
        yield io_stat.render(interval, list(result["io"].rows)) + "\n"
        return
    render = conv.render if statistic == "conv" else endpoints.render
    for n, (kind, table) in enumerate(result.items()):
        lines = render(kind, table.size, table.rows)
        if n:
            yield "\n"
        while chunk := list(itertools.islice(lines, _CHUNK)):
            yield "".join(line + "\n" for line in chunk)


def _json(header: dict[str, object], result: dict[str, Table]) -> Iterator[str]:
    """One JSON object: the header's keys, then each table as a list with one row a line.

    With the C encoder: ``json.dumps(indent=2)`` falls back to the pure-Python encoder,
    which took longer than the counting on a table of 250,000 conversations.
    """
    yield json.dumps(header)[:-1]
    for name, table in result.items():
        yield f",\n{json.dumps(name)}: "
        if not table.size:
            yield "[]"
            continue
        yield "[\n"
        if table.values is not None:
            yield from _json_values(table.fields, table.values)
        else:
            for n, chunk in enumerate(_chunks(table.rows)):
                # one dumps call a chunk (numbers and names: no "}, {" inside)
                text = json.dumps(chunk)[1:-1].replace("}, {", "},\n{")
                yield text if n == 0 else ",\n" + text
        yield "\n]"
    yield "\n}\n"


def _json_values(fields: tuple[str, ...], values: Iterator[tuple[object, ...]]
                 ) -> Iterator[str]:
    """Rows as JSON objects, one a line, formatted with one %-template a row.

    What ``json.dumps`` would write, faster: the values are ints (``%d``), floats (``%r``:
    Python's repr, which is json's float form) and addresses, which have nothing to
    escape.  The template is made from the first row's types.
    """
    first = next(values)
    template = "{" + ", ".join(
        f'"{name}": ' + ('"%s"' if isinstance(v, str) else "%r" if isinstance(v, float)
                         else "%d")
        for name, v in zip(fields, first, strict=True)) + "}"
    rows = itertools.chain((first,), values)
    for n, chunk in enumerate(_chunks(rows)):
        text = ",\n".join([template % row for row in chunk])
        yield text if n == 0 else ",\n" + text


def _csv(statistic: str, result: dict[str, Table]) -> Iterator[str]:
    """Rows as CSV with a header row; conversations and endpoints get a ``kind`` column.

    The header is the union of the rows' keys in first-seen order; every row of one table has
    the same keys, so the first row of each table gives them.
    """
    tagged = statistic in ("conv", "endpoints")
    firsts: dict[str, list[dict[str, object]]] = {}
    names: dict[str, None] = dict.fromkeys(["kind"]) if tagged else {}
    for kind, table in result.items():
        firsts[kind] = list(itertools.islice(table.rows, 1))
        for row in firsts[kind]:
            names.update(dict.fromkeys(row))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(names), lineterminator="\n")
    writer.writeheader()
    for kind, table in result.items():
        for chunk in _chunks(itertools.chain(firsts[kind], table.rows)):
            writer.writerows([{"kind": kind, **row} for row in chunk] if tagged else chunk)
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()
