"""``wirelab flows``: Zeek conn.log-style flow records of a capture file or a live interface."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, TextIO

import click

if TYPE_CHECKING:
    from wirelab.monitor.flows import FlowTable


@click.command(
    "flows",
    epilog="Example: wirelab flows capture.pcap --tsv > conn.log\n\n"
    "Live: wirelab flows -i eth0 --duration 60 --json (records as flows end).\n\n"
    "One record per TCP, UDP or ICMP flow with the fields of Zeek's conn.log, in its order: "
    "ts, uid, id.orig_h/p, id.resp_h/p, proto, service (http, ssl, ssh, dns when the payload "
    "confirms it), duration, orig/resp payload bytes, conn_state (S0, S1, SF, REJ, S2, S3, "
    "RSTO, RSTR, RSTOS0, RSTRH, SH, SHR, OTH), history (S H A D F R; upper case from the "
    "originator), packets and IP bytes each way.  ICMP: id.orig_p is the type, id.resp_p the "
    "answering type (echo 8 -> 0) or the code.  Default: a table; --json: JSON lines (unset "
    "fields left out, as Zeek); --tsv: Zeek's tab-separated log with its header.  A record is "
    "printed when its flow ends: idle past softflowd's timeouts (TCP 3600 s, 300 s after a "
    "FIN, 120 s after a RST, UDP and ICMP 300 s), older than --active-timeout (softflowd's "
    "maxlife, one week), evicted from a full table, or at the end of the capture; memory "
    "stays bounded whatever the capture's length.\n\n"
    "--detect-scans: instead of the records, the sources that probed at least --ports "
    "distinct ports of one host (vertical scan) or --hosts distinct hosts on one port "
    "(horizontal scan) within --window seconds; a probe is a TCP attempt that carried no "
    "payload (S0, REJ, RSTOS0, a SYN-scanned open port's RSTO...), an unanswered UDP "
    "datagram or a ping (a ping sweep is a horizontal scan of 8/icmp).  Defaults are Zeek's "
    "scan.zeek thresholds: 15 ports, 25 hosts, 300 s.",
)
@click.argument("capture", type=click.Path(dir_okay=False, exists=True), required=False)
@click.option("-i", "--interface", help="Capture live on this interface (needs CAP_NET_RAW).")
@click.option("-f", "--filter", "bpf", help="Live capture filter, tcpdump syntax.")
@click.option("-c", "--count", type=click.IntRange(min=1), help="Stop after this many packets.")
@click.option("--duration", type=click.FloatRange(min=0.001),
              help="Stop after this many seconds (of capture time, for a file).")
@click.option("--json", "fmt", flag_value="json", help="One JSON object per line.")
@click.option("--tsv", "fmt", flag_value="tsv", help="Zeek's TSV log format.")
@click.option("-w", "--write", "out", type=click.File("w", lazy=False), default="-",
              help="Write the records to this file instead of standard output.")
@click.option("--active-timeout", type=click.FloatRange(min=0.001), default=3600 * 24 * 7,
              show_default=True,
              help="Seconds after which a flow still active is cut into a new record.")
@click.option("--detect-scans", is_flag=True,
              help="Report scanning sources instead of listing the flows.")
@click.option("--window", type=click.FloatRange(min=0.001), default=300.0, show_default=True,
              help="--detect-scans: seconds the distinct ports or hosts are counted over.")
@click.option("--ports", type=click.IntRange(min=2), default=15, show_default=True,
              help="--detect-scans: distinct ports of one host that make a vertical scan.")
@click.option("--hosts", type=click.IntRange(min=2), default=25, show_default=True,
              help="--detect-scans: distinct hosts on one port that make a horizontal scan.")
def flows(capture: str | None, interface: str | None, bpf: str | None, count: int | None,
          duration: float | None, fmt: str | None, out: TextIO, active_timeout: float,
          detect_scans: bool, window: float, ports: int, hosts: int) -> None:
    """List the TCP, UDP and ICMP flows of CAPTURE (or of -i IFACE, live) as Zeek
    conn.log records."""
    from wirelab.monitor.flows import FlowTable, json_line, tsv_header, tsv_row

    if (capture is None) == (interface is None):
        raise click.UsageError("give a capture file or -i INTERFACE (one of them)")
    source = _Source(capture, interface, bpf, count, duration)
    active_ns = int(active_timeout * 1e9)
    if detect_scans:
        _detect(source, fmt, out, active_ns, window, ports, hosts)
        return

    # Records are written as flows end, without a flush each: the source loop flushes after
    # every batch, so a live capture's records still show within a second.
    write = out.write
    if fmt == "json":
        table = FlowTable(active_timeout_ns=active_ns,
                          emit_flow=lambda flow: write(json_line(flow) + "\n"))
    else:
        row = tsv_row if fmt == "tsv" else _row
        write(tsv_header() + "\n" if fmt == "tsv" else _HEAD + "\n")
        table = FlowTable(lambda record: write(row(record) + "\n"), active_timeout_ns=active_ns)
    source.feed(table, out)


class _Source:
    """Where the packets come from, and the loop that feeds a flow table with them."""

    def __init__(self, capture: str | None, interface: str | None, bpf: str | None,
                 count: int | None, duration: float | None) -> None:
        self.capture, self.interface, self.bpf = capture, interface, bpf
        self.count, self.duration = count, duration

    def feed(self, table: FlowTable, out: TextIO | None = None) -> None:
        """Every packet into ``table`` (its fast path, :meth:`FlowTable.feed`), then the flows
        still live; ``out`` is flushed after each batch.  Live, flows idle past their timeout
        are ended on the wall clock while the wire is quiet."""
        import time

        from wirelab.monitor.source import open_source

        def warn(message: str) -> None:
            click.echo(f"wirelab: warning: {message}", err=True)

        with open_source(self.capture, interface=self.interface, bpf=self.bpf,
                         count=self.count, duration=self.duration, on_warning=warn) as src:
            if src.live:
                until = " and ".join(x for x in (
                    f"{self.count} packets" if self.count else "",
                    f"{self.duration:g} s" if self.duration else "") if x)
                click.echo(f"wirelab: capturing on {src.name} until {until or 'Ctrl-C'}",
                           err=True)
            for batch in src.batches(1.0):
                if batch:
                    table.feed(batch)
                else:
                    table.expire(time.time_ns())
                if out is not None and src.live:
                    out.flush()
        table.flush()
        if out is not None:
            out.flush()
        if src.live:
            click.echo(f"wirelab: {src.count} packets seen; the kernel dropped "
                       f"{src.kernel_drops}", err=True)


def _detect(source: _Source, fmt: str | None, out: TextIO, active_ns: int, window: float,
            ports: int, hosts: int) -> None:
    from wirelab.monitor.flows import FlowTable
    from wirelab.monitor.scans import ScanDetector, render

    if fmt == "tsv":
        raise click.UsageError("--detect-scans prints a table or --json, not --tsv")
    detector = ScanDetector(window, ports, hosts)
    source.feed(FlowTable(detector.add, active_timeout_ns=active_ns))
    found = detector.report()
    if fmt == "json":
        click.echo(json.dumps({"window": window, "ports": ports, "hosts": hosts,
                               "scans": found}, indent=2), file=out)
    else:
        click.echo(render(found), file=out)


_HEAD = (f"{'orig':<46} {'resp':<46} {'proto':<5} {'service':<7} {'state':<7} "
         f"{'history':<12} {'o pkts':>6} {'o bytes':>9} {'r pkts':>6} {'r bytes':>9} "
         f"{'duration':>10}")
_HEAD += "\n" + "-" * len(_HEAD)


def _row(r: dict[str, object]) -> str:
    orig, resp = _end(r["id.orig_h"], r["id.orig_p"]), _end(r["id.resp_h"], r["id.resp_p"])
    return (f"{orig:<46} {resp:<46} {r['proto']!s:<5} {r['service'] or '-'!s:<7} "
            f"{r['conn_state']!s:<7} {r['history'] or '-'!s:<12} {r['orig_pkts']:>6} "
            f"{r['orig_bytes']:>9} {r['resp_pkts']:>6} {r['resp_bytes']:>9} "
            f"{r['duration']:>10.6f}")


def _end(host: object, port: object) -> str:
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
