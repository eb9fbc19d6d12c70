"""SQL over the flow history with DuckDB, embedded: no server, the Parquet files as they are.

:func:`connect` opens an in-memory DuckDB database with one view::

    CREATE VIEW flows AS
      SELECT * FROM read_parquet('DIR/**/*.parquet', hive_partitioning = true)

so ``date`` (DATE) and ``hour`` (INTEGER) from the directory names are columns too, and a
filter on them skips whole directories.  The ready-made questions are plain SQL over that
view (:data:`TOP_TALKERS`, :data:`CONVERSATIONS`), printed by ``wirelab query --show-sql``
as a starting point in Spark or Trino (DuckDB's dialect: time literals and ``string_agg``
need their equivalents there).

DuckDB may install and load extensions from the Internet on first use (``httpfs`` for an
``https://`` path, for instance).  wirelab turns that off: the history is local files.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from wirelab.errors import ExitCode, ToolMissingError, WirelabError

try:
    import duckdb
except ImportError:  # the "history" extra is optional
    duckdb = None  # type: ignore[assignment]


class QueryError(WirelabError):
    """A query DuckDB refused, or a history directory without flows."""

    exit_code = ExitCode.BAD_INPUT


_BYTES = "coalesce({side}_ip_bytes, {side}_bytes)"
TOP_TALKERS = f"""
WITH sides AS (
  SELECT id.orig_h AS host, {_BYTES.format(side="orig")} AS sent,
         {_BYTES.format(side="resp")} AS received, orig_pkts AS pkts_sent,
         resp_pkts AS pkts_received
  FROM flows WHERE {{where}}
  UNION ALL
  SELECT id.resp_h, {_BYTES.format(side="resp")}, {_BYTES.format(side="orig")},
         resp_pkts, orig_pkts
  FROM flows WHERE {{where}}
)
SELECT host, count(*) AS flows, sum(sent + received) AS bytes, sum(sent) AS bytes_sent,
       sum(received) AS bytes_received, sum(pkts_sent + pkts_received) AS packets
FROM sides GROUP BY host ORDER BY bytes DESC, host LIMIT {{limit}}
"""
"""Hosts by bytes sent plus received (IP bytes when counted, else payload bytes)."""

CONVERSATIONS = f"""
SELECT CASE WHEN id.orig_h = $host THEN id.resp_h ELSE id.orig_h END AS peer,
       CASE WHEN id.orig_h = $host THEN 'out' ELSE 'in' END AS direction,
       proto, id.resp_p AS resp_p, count(*) AS flows,
       sum(orig_pkts + resp_pkts) AS packets,
       sum({_BYTES.format(side="orig")} + {_BYTES.format(side="resp")}) AS bytes,
       min(ts) AS first, max(ts + to_microseconds(CAST(duration * 1e6 AS BIGINT))) AS last,
       string_agg(DISTINCT conn_state, ',' ORDER BY conn_state) AS states
FROM flows WHERE (id.orig_h = $host OR id.resp_h = $host) AND {{where}}
GROUP BY 1, 2, 3, 4 ORDER BY bytes DESC, peer, resp_p LIMIT {{limit}}
"""
"""A host's conversations: one row per peer, direction, protocol and responder port."""


def connect(root: str | Path) -> Any:
    """A DuckDB connection with the view ``flows`` over every Parquet file under ``root``."""
    if duckdb is None:
        raise ToolMissingError("wirelab query needs duckdb: pip install 'wirelab[history]'")
    root = Path(root)
    if not root.is_dir():
        raise QueryError(f"no flow history at {root} (write some: wirelab export FILE "
                         f"--parquet {root})")
    if next(root.glob("**/*.parquet"), None) is None:
        raise QueryError(f"no Parquet files under {root}")
    con = duckdb.connect(config={"autoinstall_known_extensions": False,
                                 "autoload_known_extensions": False})
    con.execute("SET TimeZone = 'UTC'")
    pattern = str(root / "**" / "*.parquet").replace("'", "''")
    con.execute(f"CREATE VIEW flows AS SELECT * FROM read_parquet('{pattern}', "
                "hive_partitioning = true, hive_types = {'date': DATE, 'hour': INTEGER})")
    return con


def run(con: Any, sql: str, params: dict[str, object] | None = None
        ) -> tuple[list[str], list[tuple[object, ...]]]:
    """Column names and rows of ``sql``; DuckDB's complaint as a one-line error."""
    try:
        cur = con.execute(sql, params) if params else con.execute(sql)
        rows = cur.fetchall()
    except duckdb.Error as exc:
        raise QueryError(" ".join(str(exc).split())) from None
    return [d[0] for d in cur.description or []], rows


def time_filter(since: datetime | None, until: datetime | None) -> str:
    """A WHERE clause for flows that started in [since, until), pruning partitions too."""
    parts = []
    if since is not None:
        parts.append(f"ts >= TIMESTAMPTZ '{since.isoformat()}'")
        parts.append(f"date >= DATE '{since.date().isoformat()}'")
    if until is not None:
        parts.append(f"ts < TIMESTAMPTZ '{until.isoformat()}'")
        parts.append(f"date <= DATE '{until.date().isoformat()}'")
    return " AND ".join(parts) or "true"


def top_talkers_sql(since: datetime | None = None, until: datetime | None = None,
                    limit: int = 10) -> str:
    return TOP_TALKERS.format(where=time_filter(since, until), limit=int(limit))


def conversations_sql(since: datetime | None = None, until: datetime | None = None,
                      limit: int = 50) -> str:
    return CONVERSATIONS.format(where=time_filter(since, until), limit=int(limit))


_RELATIVE = re.compile(r"^(\d+)([smhd])$")


def parse_time(text: str, now: float | None = None) -> datetime:
    """A UTC time from ISO 8601 (naive means UTC), epoch seconds, or ``N[smhd]`` ago."""
    text = text.strip()
    m = _RELATIVE.match(text)
    if m:
        unit = {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
        ref = time.time() if now is None else now
        return datetime.fromtimestamp(ref, UTC) - timedelta(seconds=int(m.group(1)) * unit)
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except ValueError:
        pass
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise QueryError(f"time {text!r}: use ISO 8601 (2025-11-25T14:00), epoch seconds "
                         "or an age such as 2h") from None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def plain(value: object) -> object:
    """A JSON/CSV-friendly form of a DuckDB value (times and dates as ISO 8601)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value
