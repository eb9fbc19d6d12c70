"""``wirelab export``: the flows of a capture or an interface, to NetFlow v5, IPFIX, Parquet."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping

import click


@click.command(
    "export",
    epilog="Example: wirelab export capture.pcap --ipfix 127.0.0.1:4739\n\n"
    "Example: wirelab export capture.pcap --parquet flow-history/ && wirelab query "
    "--top-talkers --dir flow-history/\n\n"
    "Example, live: wirelab export -i eth0 --duration 60 --netflow 127.0.0.1:2055\n\n"
    "The flows are wirelab's Zeek conn.log-style records (wirelab flows).  NetFlow v5 and "
    "IPFIX carry one direction per record, so a flow becomes one record per direction that "
    "carried packets; bytes are IP bytes; v5 is IPv4 only (IPv6 flows are counted as "
    "skipped), IPFIX carries both.  Collectors: loopback, or a lab host from inside the lab "
    "(wirelab lab exec ...) -- never an outside address.  --parquet writes hourly partitions "
    "DIR/date=YYYY-MM-DD/hour=HH/*.parquet with Zeek's field names (docs/flow-history.md).  "
    "Several destinations may be given at once.  A record waits at most a second for its "
    "datagram to fill.",
)
@click.argument("capture", required=False, type=click.Path(dir_okay=False, exists=True))
@click.option("-i", "--interface", help="Capture live on this interface instead of a file.")
@click.option("-f", "--filter", "bpf", metavar="BPF", help="Capture filter (live only).")
@click.option("-c", "--count", type=click.IntRange(min=1), help="Stop after this many frames.")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True),
              help="Stop after this many seconds (file: of capture time).")
@click.option("--netflow", metavar="HOST:PORT", help="Send NetFlow v5 to this collector.")
@click.option("--ipfix", metavar="HOST:PORT", help="Send IPFIX (RFC 7011) to this collector.")
@click.option("--parquet", metavar="DIR", type=click.Path(file_okay=False),
              help="Append the flows to the Parquet history in DIR.")
@click.option("--active-timeout", type=click.FloatRange(min=0.001), default=1800.0,
              show_default=True,
              help="Seconds after which a flow still active is exported and a new record "
              "started (Cisco's NetFlow default is 30 minutes).")
@click.option("--pps", type=click.FloatRange(min=0), default=2000.0, show_default=True,
              help="Datagrams per second at most (0: no pacing).")
@click.option("--template-refresh", metavar="SECONDS", type=click.IntRange(min=1),
              default=600, show_default=True,
              help="IPFIX: send the templates again once this many seconds of export time "
              "have passed since they last went out, besides every 20 messages, so a "
              "collector that starts late or restarts can decode the records (RFC 7011 "
              "section 10.3.6; 600 is RFC 6728's default).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def export(capture: str | None, interface: str | None, bpf: str | None, count: int | None,
           duration: float | None, netflow: str | None, ipfix: str | None,
           parquet: str | None, active_timeout: float, pps: float, template_refresh: int,
           as_json: bool) -> None:
    """Export the flows of CAPTURE (or of -i IFACE, live) to a collector or Parquet files."""
    from wirelab.monitor.export.sender import Sender, parse_collector
    from wirelab.monitor.flows import FlowTable
    from wirelab.monitor.source import open_source

    if not (netflow or ipfix or parquet):
        raise click.UsageError("give a destination: --netflow, --ipfix or --parquet")
    if (capture is None) == (interface is None):
        raise click.UsageError("give a CAPTURE file or -i IFACE (one of them)")
    # Check every destination before any packet is read.
    senders = [Sender(fmt, parse_collector(addr), pps, template_seconds=template_refresh)
               for fmt, addr in (("netflow", netflow), ("ipfix", ipfix)) if addr]
    writer = None
    if parquet:
        from wirelab.monitor.export.history import HistoryWriter
        writer = HistoryWriter(parquet)
    sinks: list[Callable[[Mapping[str, object]], None]] = [s.add for s in senders]
    if writer is not None:
        sinks.append(writer.add)
    flows = 0

    def emit(record: dict[str, object]) -> None:
        nonlocal flows
        flows += 1
        for sink in sinks:
            sink(record)

    def warn(message: str) -> None:
        click.echo(f"wirelab: warning: {message}", err=True)

    try:
        with open_source(capture, interface=interface, bpf=bpf, count=count,
                         duration=duration, on_warning=warn) as source:
            if source.live:
                click.echo(f"wirelab: exporting the flows of {source.name} until "
                           f"{'-c/--duration or ' if count or duration else ''}Ctrl-C",
                           err=True)
            table = FlowTable(emit, active_timeout_ns=int(active_timeout * 1e9))
            for batch in source.batches(1.0):
                if batch:
                    table.feed(batch)  # the flow table's fast path
                else:  # the wire is quiet: flows idle past their timeout end now
                    table.expire(time.time_ns())
                for sender in senders:
                    sender.tick()  # records that waited max_delay go out
            table.flush()
    finally:
        for s in senders:
            s.close()
        if writer is not None:
            writer.close()
    summary: dict[str, object] = {"source": capture or interface, "flows": flows}
    for s in senders:
        summary[s.fmt] = {"collector": f"{s.collector[0]}:{s.collector[1]}",
                          "records": s.sent_records, "datagrams": s.datagrams,
                          "skipped_ipv6": s.skipped}
    if writer is not None:
        summary["parquet"] = {"dir": parquet, "rows": writer.rows,
                              "files": [str(f) for f in writer.files]}
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    click.echo(f"{flows} flows from {summary['source']}")
    for s in senders:
        extra = f", {s.skipped} IPv6 records skipped (v5 is IPv4 only)" if s.skipped else ""
        click.echo(f"  {s.fmt}: {s.sent_records} records in {s.datagrams} datagrams to "
                   f"{s.collector[0]}:{s.collector[1]}{extra}")
    if writer is not None:
        click.echo(f"  parquet: {writer.rows} rows in {len(writer.files)} files under {parquet}")

