"""``wirelab flows``: Zeek conn.log-style flow records of a capture file."""

from __future__ import annotations

import json

import click


@click.command(
    "flows",
    epilog="Example: wirelab flows capture.pcap --tsv > conn.log\n\n"
    "One record per TCP or UDP flow with the fields of Zeek's conn.log: ts, uid, "
    "id.orig_h/p, id.resp_h/p, proto, duration, orig/resp payload bytes and packets, "
    "conn_state (S0, S1, SF, REJ, S2, S3, RSTO, RSTR, RSTOS0, RSTRH, SH, SHR, OTH) and "
    "history (S H A D F R; upper case from the originator).  Default: a table; --json: "
    "JSON lines; --tsv: Zeek's tab-separated log with its header.  Flows are kept until "
    "the end of the capture (no timeouts yet).",
)
@click.argument("capture", type=click.Path(dir_okay=False, exists=True))
@click.option("--json", "fmt", flag_value="json", help="One JSON object per line.")
@click.option("--tsv", "fmt", flag_value="tsv", help="Zeek's TSV log format.")
def flows(capture: str, fmt: str | None) -> None:
    """List the TCP and UDP flows of CAPTURE as Zeek conn.log records."""
    from wirelab.monitor.flows import FlowTable, to_tsv
    from wirelab.monitor.run import run

    table = FlowTable()
    run(capture, [table], on_warning=lambda w: click.echo(f"wirelab: warning: {w}", err=True))
    records = table.records()
    if fmt == "json":
        for r in records:
            click.echo(json.dumps(r))
    elif fmt == "tsv":
        click.echo(to_tsv(records))
    else:
        click.echo(_table(records))


def _table(records: list[dict[str, object]]) -> str:
    head = (f"{'orig':<46} {'resp':<46} {'proto':<5} {'state':<7} {'history':<12} "
            f"{'o pkts':>6} {'o bytes':>9} {'r pkts':>6} {'r bytes':>9} {'duration':>10}")
    lines = [head, "-" * len(head)]
    for r in records:
        orig = f"{r['id.orig_h']}:{r['id.orig_p']}"
        resp = f"{r['id.resp_h']}:{r['id.resp_p']}"
        lines.append(f"{orig:<46} {resp:<46} {r['proto']!s:<5} {r['conn_state']!s:<7} "
                     f"{r['history']!s:<12} {r['orig_pkts']:>6} {r['orig_bytes']:>9} "
                     f"{r['resp_pkts']:>6} {r['resp_bytes']:>9} {r['duration']:>10.6f}")
    return "\n".join(lines)
