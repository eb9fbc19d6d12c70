"""``wirelab flows``: Zeek conn.log-style flow records of a capture file."""

from __future__ import annotations

import json
from typing import TextIO

import click


@click.command(
    "flows",
    epilog="Example: wirelab flows capture.pcap --tsv > conn.log\n\n"
    "One record per TCP or UDP flow with the fields of Zeek's conn.log: ts, uid, "
    "id.orig_h/p, id.resp_h/p, proto, duration, orig/resp payload bytes and packets, "
    "conn_state (S0, S1, SF, REJ, S2, S3, RSTO, RSTR, RSTOS0, RSTRH, SH, SHR, OTH) and "
    "history (S H A D F R; upper case from the originator).  Default: a table; --json: "
    "JSON lines; --tsv: Zeek's tab-separated log with its header.  A record is printed "
    "when its flow ends: idle past softflowd's timeouts (TCP 3600 s, 300 s after a FIN, "
    "120 s after a RST, UDP 300 s), evicted from a full table, or at the end of the "
    "capture; memory stays bounded whatever the capture's length.",
)
@click.argument("capture", type=click.Path(dir_okay=False, exists=True))
@click.option("--json", "fmt", flag_value="json", help="One JSON object per line.")
@click.option("--tsv", "fmt", flag_value="tsv", help="Zeek's TSV log format.")
@click.option("-w", "--write", "out", type=click.File("w", lazy=False), default="-",
              help="Write the records to this file instead of standard output.")
def flows(capture: str, fmt: str | None, out: TextIO) -> None:
    """List the TCP and UDP flows of CAPTURE as Zeek conn.log records."""
    from wirelab.monitor.flows import FlowTable, tsv_header, tsv_row
    from wirelab.monitor.run import run

    def emit(record: dict[str, object]) -> None:
        if fmt == "json":
            click.echo(json.dumps(record), file=out)
        elif fmt == "tsv":
            click.echo(tsv_row(record), file=out)
        else:
            click.echo(_row(record), file=out)

    if fmt != "json":
        click.echo(tsv_header() if fmt == "tsv" else _HEAD, file=out)
    table = FlowTable(emit)
    run(capture, [table], on_warning=lambda w: click.echo(f"wirelab: warning: {w}", err=True))
    table.flush()


_HEAD = (f"{'orig':<46} {'resp':<46} {'proto':<5} {'state':<7} {'history':<12} "
         f"{'o pkts':>6} {'o bytes':>9} {'r pkts':>6} {'r bytes':>9} {'duration':>10}")
_HEAD += "\n" + "-" * len(_HEAD)


def _row(r: dict[str, object]) -> str:
    orig = f"{r['id.orig_h']}:{r['id.orig_p']}"
    resp = f"{r['id.resp_h']}:{r['id.resp_p']}"
    return (f"{orig:<46} {resp:<46} {r['proto']!s:<5} {r['conn_state']!s:<7} "
            f"{r['history']!s:<12} {r['orig_pkts']:>6} {r['orig_bytes']:>9} "
            f"{r['resp_pkts']:>6} {r['resp_bytes']:>9} {r['duration']:>10.6f}")
