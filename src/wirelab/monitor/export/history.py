"""Flow history: conn.log-style records as Parquet files, one directory per hour.

Layout (Hive-style partitions, which DuckDB, Spark, Trino, Athena and pyarrow all read)::

    DIR/date=2025-11-25/hour=14/flows-20251125T160102Z-4242-a1b2c3.parquet

A record goes to the hour its flow *started* (``ts``, UTC).  ``date`` and ``hour`` live in the
directory names only, not in the files, as Hive partitioning expects.  Each export run writes
new files and never rewrites old ones, so appending history is just running the export again;
a file appears under its final ``.parquet`` name only once complete (it is written as
``.parquet.part`` and renamed), so a query never meets a half-written file.

The schema (:data:`SCHEMA`) is Zeek's conn.log, typed: the connection's 4-tuple is a struct
``id`` so that SQL reads ``id.orig_h`` exactly as Zeek spells it.  It is a promise: columns
may be added at the end, never renamed, retyped or removed (see docs/flow-history.md).

Memory stays flat: rows are buffered per partition and written as a row group every
``batch_rows`` rows; at most ``max_open`` partitions are open at once (flows arrive roughly in
time order, so an old hour is closed when a new one starts).
"""

from __future__ import annotations

import operator
import os
import secrets
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from wirelab.errors import ExitCode, ToolMissingError, WirelabError

try:
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]
except ImportError:  # the "history" extra is optional
    pa = pq = None

SCHEMA_VERSION = 1

COLUMNS: tuple[tuple[str, str], ...] = (
    ("ts", "timestamp[us, UTC]: first packet (Zeek time)"),
    ("uid", "string: Zeek-style connection id"),
    ("id", "struct<orig_h string, orig_p int32, resp_h string, resp_p int32>"),
    ("proto", "string: tcp, udp or icmp"),
    ("service", "string, null when unknown"),
    ("duration", "double: seconds from first to last packet (Zeek interval)"),
    ("orig_bytes", "int64: payload bytes from the originator"),
    ("resp_bytes", "int64: payload bytes from the responder"),
    ("conn_state", "string: S0 S1 SF REJ S2 S3 RSTO RSTR RSTOS0 RSTRH SH SHR OTH"),
    ("local_orig", "bool, null when unset"),
    ("local_resp", "bool, null when unset"),
    ("missed_bytes", "int64, null when unset"),
    ("history", "string"),
    ("orig_pkts", "int64"),
    ("orig_ip_bytes", "int64: IP bytes (headers included), null if not counted"),
    ("resp_pkts", "int64"),
    ("resp_ip_bytes", "int64"),
    ("tunnel_parents", "list<string>, null when unset"),
)
"""Column names and types in file order, for the docs and ``wirelab query --schema``."""


class HistoryError(WirelabError):
    """The flow history cannot be written or read as asked."""

    exit_code = ExitCode.BAD_INPUT


def _require() -> None:
    if pa is None:
        raise ToolMissingError("Parquet history needs pyarrow: pip install 'wirelab[history]'")


def schema() -> Any:
    """The pyarrow schema of the files (version :data:`SCHEMA_VERSION`)."""
    _require()
    endpoint = pa.struct([("orig_h", pa.string()), ("orig_p", pa.int32()),
                          ("resp_h", pa.string()), ("resp_p", pa.int32())])
    fields = [
        ("ts", pa.timestamp("us", tz="UTC")), ("uid", pa.string()), ("id", endpoint),
        ("proto", pa.string()), ("service", pa.string()), ("duration", pa.float64()),
        ("orig_bytes", pa.int64()), ("resp_bytes", pa.int64()), ("conn_state", pa.string()),
        ("local_orig", pa.bool_()), ("local_resp", pa.bool_()), ("missed_bytes", pa.int64()),
        ("history", pa.string()), ("orig_pkts", pa.int64()), ("orig_ip_bytes", pa.int64()),
        ("resp_pkts", pa.int64()), ("resp_ip_bytes", pa.int64()),
        ("tunnel_parents", pa.list_(pa.string())),
    ]
    assert [n for n, _ in fields] == [n for n, _ in COLUMNS]
    return pa.schema(fields, metadata={b"wirelab.schema_version": str(SCHEMA_VERSION).encode(),
                                       b"wirelab.source": b"Zeek conn.log fields"})


_HOURS: dict[int, tuple[str, int]] = {}


def partition_of(ts: float) -> tuple[str, int]:
    """(date, hour) in UTC of a flow that started at epoch seconds ``ts``."""
    key = int(ts // 3600)
    part = _HOURS.get(key)
    if part is None:
        if len(_HOURS) > 4096:
            _HOURS.clear()
        t = datetime.fromtimestamp(key * 3600, UTC)
        part = _HOURS[key] = (t.strftime("%Y-%m-%d"), t.hour)
    return part


_FLAT = tuple(name for name, _ in COLUMNS if name not in ("ts", "id", "service",
                                                          "tunnel_parents"))
_ID = ("id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p")


def _service(value: object) -> object:
    if isinstance(value, (set, list, tuple)):
        return ",".join(sorted(map(str, value))) or None
    return value


def _parents(value: object) -> object:
    if value is None or isinstance(value, list):
        return value
    return sorted(map(str, value))  # type: ignore[call-overload]


_KEYS = ("ts", *_ID, *_FLAT, "service", "tunnel_parents")
_take = operator.itemgetter(*_KEYS)


class _Partition:
    """One hour's open file and the rows buffered for it (as tuples, transposed to columns
    when written)."""

    def __init__(self, final: Path) -> None:
        self.final = final
        self.part = final.with_name(final.name + ".part")
        self.writer: Any = None
        self.buffer: list[tuple[Any, ...]] = []

    @property
    def rows(self) -> int:
        return len(self.buffer)

    def append(self, r: Mapping[str, Any]) -> None:
        try:
            row = _take(r)
        except KeyError:  # a record without some of Zeek's optional fields
            row = tuple(r.get(k) for k in _KEYS)
        self.buffer.append(row)

    def table(self, schema: Any) -> Any:
        cols = dict(zip(_KEYS, zip(*self.buffer, strict=True), strict=True))
        self.buffer = []
        ident = schema.field("id").type
        arrays = {
            "ts": pa.array([round(t * 1_000_000) for t in cols["ts"]],
                           schema.field("ts").type),
            "id": pa.StructArray.from_arrays(
                [pa.array(cols[name], ident.field(i).type) for i, name in enumerate(_ID)],
                fields=list(ident)),
            "service": pa.array([_service(v) for v in cols["service"]], pa.string()),
            "tunnel_parents": pa.array([_parents(v) for v in cols["tunnel_parents"]],
                                       schema.field("tunnel_parents").type),
        }
        for name in _FLAT:
            arrays[name] = pa.array(cols[name], schema.field(name).type)
        return pa.Table.from_arrays([arrays[name] for name in schema.names], schema=schema)


class HistoryWriter:
    """Writes records (dicts with Zeek's conn.log keys) into ``root``, partitioned by hour.

    Use as a context manager, or call :meth:`close`: files are complete only then.
    """

    def __init__(self, root: str | os.PathLike[str], batch_rows: int = 8192,
                 max_open: int = 4) -> None:
        _require()
        self.root = Path(root)
        self.batch_rows = batch_rows
        self.max_open = max_open
        self.schema = schema()
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        self._run = f"{stamp}-{os.getpid()}-{secrets.token_hex(3)}"
        self._open: dict[tuple[str, int], _Partition] = {}
        self._seq = 0
        self.rows = 0
        self.files: list[Path] = []
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise HistoryError(f"cannot create {root}: {exc.strerror}") from None

    def add(self, record: Mapping[str, object]) -> None:
        key = partition_of(float(record["ts"]))  # type: ignore[arg-type]
        part = self._open.pop(key, None)  # re-inserted last: the dict is in LRU order
        if part is None:
            if len(self._open) >= self.max_open:
                self._close(self._open.pop(next(iter(self._open))))
            self._seq += 1
            directory = self.root / f"date={key[0]}" / f"hour={key[1]:02d}"
            part = _Partition(directory / f"flows-{self._run}-{self._seq}.parquet")
        self._open[key] = part
        part.append(record)
        self.rows += 1
        if len(part.buffer) >= self.batch_rows:
            self._flush(part)

    def _flush(self, part: _Partition) -> None:
        if not part.rows:
            return
        try:
            if part.writer is None:
                part.final.parent.mkdir(parents=True, exist_ok=True)
                part.writer = pq.ParquetWriter(part.part, self.schema, compression="zstd")
            part.writer.write_table(part.table(self.schema))
        except OSError as exc:
            raise HistoryError(f"writing {part.part}: {exc}") from None
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise HistoryError(f"a flow record does not fit the history's schema: "
                               f"{' '.join(str(exc).split())}") from None

    def _close(self, part: _Partition) -> None:
        self._flush(part)
        if part.writer is not None:
            part.writer.close()
            os.replace(part.part, part.final)
            self.files.append(part.final)

    def close(self) -> None:
        """Write what is buffered and finish every open file."""
        while self._open:
            self._close(self._open.pop(next(iter(self._open))))

    def __enter__(self) -> HistoryWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
