"""``wirelab query``: SQL over the Parquet flow history, with DuckDB embedded."""

from __future__ import annotations

import csv
import ipaddress
import json
import os
import sys

import click

DEFAULT_DIR = "flow-history"


@click.command(
    "query",
    epilog="Example: wirelab query \"SELECT proto, count(*) FROM flows GROUP BY proto\"\n\n"
    "Example: wirelab query --top-talkers --since 2025-11-25T14:00 "
    "--until 2025-11-25T15:00 -n 5\n\n"
    "Example: wirelab query --host 198.18.0.10 --json\n\n"
    "The view `flows` holds every Parquet file under --dir (default $WIRELAB_HISTORY, else "
    "./flow-history), written by `wirelab export ... --parquet DIR`: Zeek conn.log columns "
    "(ts, uid, id.orig_h, id.orig_p, id.resp_h, id.resp_p, proto, service, duration, "
    "orig_bytes, resp_bytes, conn_state, history, orig_pkts, orig_ip_bytes, resp_pkts, "
    "resp_ip_bytes, ...) plus the partition columns date and hour (UTC).  --top-talkers: "
    "hosts by bytes sent plus received; --host IP: that host's conversations.  --since and "
    "--until take ISO 8601 (UTC unless an offset is given), epoch seconds, or an age (90m, "
    "2h, 7d).  --show-sql prints the SQL of a ready-made question instead of running it, "
    "to reuse in Spark or Trino; --schema lists the columns.",
)
@click.argument("sql", required=False)
@click.option("--dir", "root", type=click.Path(file_okay=False),
              default=lambda: os.environ.get("WIRELAB_HISTORY", DEFAULT_DIR),
              show_default="$WIRELAB_HISTORY or ./flow-history",
              help="The history directory (date=/hour= partitions).")
@click.option("--top-talkers", is_flag=True, help="Hosts by bytes sent plus received.")
@click.option("--host", metavar="IP", help="The conversations of this host.")
@click.option("--since", metavar="TIME", help="Flows that started at or after TIME.")
@click.option("--until", metavar="TIME", help="Flows that started before TIME.")
@click.option("-n", "--limit", type=click.IntRange(min=1), default=None,
              help="Rows of a ready-made question [10 talkers, 50 conversations].")
@click.option("--schema", "show_schema", is_flag=True, help="List the columns of `flows`.")
@click.option("--show-sql", is_flag=True, help="Print a ready-made question's SQL and stop.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per row.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV with a header row.")
def query(sql: str | None, root: str, top_talkers: bool, host: str | None, since: str | None,
          until: str | None, limit: int | None, show_schema: bool, show_sql: bool,
          as_json: bool, as_csv: bool) -> None:
    """Run SQL (or a ready-made question) over the flow history in --dir."""
    from wirelab.monitor.export import query as q

    asked = [x for x in (sql, top_talkers or None, host, show_schema or None) if x]
    if len(asked) != 1:
        raise click.UsageError("give one of: SQL, --top-talkers, --host IP, --schema")
    if as_json and as_csv:
        raise click.UsageError("--json and --csv: choose one")
    if (since or until or limit) and not (top_talkers or host):
        raise click.UsageError("--since, --until and -n go with --top-talkers or --host "
                               "(in SQL, write the WHERE yourself)")
    t0 = q.parse_time(since) if since else None
    t1 = q.parse_time(until) if until else None
    params: dict[str, object] | None = None
    if top_talkers:
        sql = q.top_talkers_sql(t0, t1, limit or 10)
    elif host:
        try:
            host = str(ipaddress.ip_address(host))
        except ValueError:
            raise click.BadParameter(f"{host!r} is not an IP address",
                                     param_hint="--host") from None
        sql = q.conversations_sql(t0, t1, limit or 50)
        params = {"host": host}
    elif show_schema:
        sql = "DESCRIBE flows"
    assert sql is not None
    if show_sql:
        text = sql.strip()
        if params:
            text = text.replace("$host", f"'{params['host']}'")
        click.echo(text)
        return
    con = q.connect(root)
    try:
        columns, rows = q.run(con, sql, params)
    finally:
        con.close()
    if show_schema:
        columns, rows = columns[:2], [r[:2] for r in rows]
    _print(columns, [tuple(q.plain(v) for v in r) for r in rows], as_json, as_csv)


def _print(columns: list[str], rows: list[tuple[object, ...]], as_json: bool,
           as_csv: bool) -> None:
    if as_json:
        for r in rows:
            click.echo(json.dumps(dict(zip(columns, r, strict=True)), default=str))
        return
    if as_csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(["" if v is None else v for v in r] for r in rows)
        return
    cells = [[_cell(v) for v in r] for r in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    numeric = [all(isinstance(r[i], (int, float)) for r in rows if r[i] is not None)
               and bool(rows) for i in range(len(columns))]

    def line(values: list[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w)
                         for v, w, num in zip(values, widths, numeric, strict=True)).rstrip()

    click.echo(line(columns))
    click.echo("  ".join("-" * w for w in widths))
    for row in cells:
        click.echo(line(row))
    click.echo(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")


def _cell(v: object) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.6f}".rstrip("0").rstrip(".") if v != int(v) else str(int(v))
    if isinstance(v, dict):
        return json.dumps(v)
    return str(v)
