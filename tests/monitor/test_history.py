"""Flow history: Parquet partitioned by hour, read back with DuckDB equal to the flows."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from wirelab import samples
from wirelab.cli.export import export
from wirelab.cli.query import query
from wirelab.errors import WirelabError
from wirelab.monitor.export import query as q
from wirelab.monitor.export.history import COLUMNS, HistoryWriter, partition_of
from wirelab.monitor.flows import FlowTable
from wirelab.monitor.run import run

pq = pytest.importorskip("pyarrow.parquet")
pytest.importorskip("duckdb")

HOUR_NS = 3600 * 1_000_000_000


@pytest.fixture(scope="module")
def two_hours(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, object]]]:
    """A capture whose flows start in two hours (14:xx and 15:xx UTC) and its flow records."""
    trace = samples.curriculum_trace()
    mixed = list(samples.mixed_frames(1500, seed=77))
    late = [(ts + HOUR_NS, f) for ts, f in samples.curriculum_trace()]
    frames = sorted(trace + mixed + late, key=lambda x: x[0])
    path = tmp_path_factory.mktemp("history") / "two-hours.pcap"
    samples.write_pcap(path, frames)
    table = FlowTable()
    run(str(path), [table])
    return path, table.records()


def write(root: Path, records: list[dict[str, object]], **kw: int) -> HistoryWriter:
    with HistoryWriter(root, **kw) as w:
        for r in records:
            w.add(r)
    return w


def test_partitions_by_hour_are_real_directories(two_hours: tuple, tmp_path: Path) -> None:
    _, records = two_hours
    hours = Counter(partition_of(float(r["ts"])) for r in records)
    assert len(hours) == 2  # the capture really spans two hours
    write(tmp_path, records)
    dirs = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.glob("date=*/hour=*"))
    assert dirs == sorted(f"date={d}/hour={h:02d}" for d, h in hours)
    assert not list(tmp_path.rglob("*.part"))  # every file was finished and renamed
    con = q.connect(tmp_path)
    _, rows = q.run(con, "SELECT date, hour, count(*) FROM flows GROUP BY ALL ORDER BY 1, 2")
    assert [(d.isoformat(), h, n) for d, h, n in rows] == sorted(
        (d, h, n) for (d, h), n in hours.items())


def test_totals_and_rows_read_back_equal(two_hours: tuple, tmp_path: Path) -> None:
    _, records = two_hours
    w = write(tmp_path, records, batch_rows=100)
    assert w.rows == len(records)
    assert any(pq.ParquetFile(f).num_row_groups > 1 for f in w.files)  # written in batches
    con = q.connect(tmp_path)
    sums = ("orig_pkts", "resp_pkts", "orig_bytes", "resp_bytes", "orig_ip_bytes",
            "resp_ip_bytes")
    _, ((n, *got),) = q.run(con, "SELECT count(*), " + ", ".join(f"sum({c})" for c in sums)
                            + " FROM flows")
    assert n == len(records)
    assert got == [sum(int(r[c]) for r in records) for c in sums]  # type: ignore[call-overload]
    _, rows = q.run(con, "SELECT uid, epoch_us(ts), id.orig_h, id.orig_p, id.resp_h, id.resp_p,"
                    " proto, service, duration, conn_state, history FROM flows")
    expect = [(r["uid"], round(float(r["ts"]) * 1e6), r["id.orig_h"], r["id.orig_p"],
               r["id.resp_h"], r["id.resp_p"], r["proto"], r["service"], r["duration"],
               r["conn_state"], r["history"]) for r in records]
    assert sorted(rows, key=repr) == sorted(expect, key=repr)


def _hand_top_talkers(records: list[dict[str, object]]) -> list[tuple[object, ...]]:
    acc: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for r in records:
        for host, sent, recv in ((r["id.orig_h"], r["orig_ip_bytes"], r["resp_ip_bytes"]),
                                 (r["id.resp_h"], r["resp_ip_bytes"], r["orig_ip_bytes"])):
            a = acc[str(host)]
            a[0] += 1
            a[1] += int(sent)  # type: ignore[call-overload]
            a[2] += int(recv)  # type: ignore[call-overload]
            a[3] += int(r["orig_pkts"]) + int(r["resp_pkts"])  # type: ignore[call-overload]
    rows = [(h, a[0], a[1] + a[2], a[1], a[2], a[3]) for h, a in acc.items()]
    return sorted(rows, key=lambda x: (-x[2], x[0]))


def test_top_talkers_equal_a_hand_computation(two_hours: tuple, tmp_path: Path) -> None:
    _, records = two_hours
    write(tmp_path, records)
    con = q.connect(tmp_path)
    _, rows = q.run(con, q.top_talkers_sql(limit=15))
    assert rows == _hand_top_talkers(records)[:15]
    # a time range: only the flows that started in the second hour
    split = datetime.fromtimestamp((samples.START_NS + HOUR_NS) / 1e9, UTC)
    late = [r for r in records if float(r["ts"]) >= split.timestamp()]  # type: ignore[arg-type]
    assert 0 < len(late) < len(records)
    _, rows = q.run(con, q.top_talkers_sql(since=split, limit=1000))
    assert rows == _hand_top_talkers(late)
    _, rows = q.run(con, q.top_talkers_sql(until=split, limit=1000))
    assert rows == _hand_top_talkers([r for r in records if r not in late])


def test_host_conversations_equal_a_hand_computation(two_hours: tuple, tmp_path: Path) -> None:
    _, records = two_hours
    write(tmp_path, records)
    host = samples.CLIENT[1]
    acc: Counter[tuple[object, ...]] = Counter()
    flows: Counter[tuple[object, ...]] = Counter()
    for r in records:
        if host not in (r["id.orig_h"], r["id.resp_h"]):
            continue
        out = r["id.orig_h"] == host
        key = (r["id.resp_h"] if out else r["id.orig_h"], "out" if out else "in", r["proto"],
               r["id.resp_p"])
        flows[key] += 1
        acc[key] += int(r["orig_ip_bytes"]) + int(r["resp_ip_bytes"])  # type: ignore[call-overload]
    con = q.connect(tmp_path)
    _, rows = q.run(con, q.conversations_sql(limit=1000), {"host": host})
    assert {row[:4]: (row[4], row[6]) for row in rows} == {
        k: (flows[k], acc[k]) for k in flows}
    assert len(flows) >= 5  # ping, DNS, UDP, HTTP, the custom protocol...


def test_schema_is_the_documented_one(two_hours: tuple, tmp_path: Path) -> None:
    _, records = two_hours
    w = write(tmp_path, records[:10])
    schema = pq.read_schema(w.files[0])
    assert schema.names == [name for name, _ in COLUMNS]
    assert schema.metadata[b"wirelab.schema_version"] == b"1"
    assert str(schema.field("id").type) == (
        "struct<orig_h: string, orig_p: int32, resp_h: string, resp_p: int32>")
    doc = (Path(__file__).parents[2] / "docs" / "flow-history.md").read_text()
    for name, _ in COLUMNS:
        assert f"`{name}`" in doc, name


def test_export_then_query_through_the_cli(two_hours: tuple, tmp_path: Path) -> None:
    path, records = two_hours
    hist = tmp_path / "hist"
    result = CliRunner().invoke(export, [str(path), "--parquet", str(hist), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["parquet"]["rows"] == len(records)
    # run twice: history is appended, never rewritten
    assert CliRunner().invoke(export, [str(path), "--parquet", str(hist)]).exit_code == 0
    result = CliRunner().invoke(query, ["--dir", str(hist), "--json",
                                        "SELECT count(*) AS n, sum(orig_pkts) AS p FROM flows"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"n": 2 * len(records),
                                         "p": 2 * sum(int(r["orig_pkts"]) for r in records)}
    result = CliRunner().invoke(query, ["--dir", str(hist), "--top-talkers", "-n", "3",
                                        "--csv"])
    lines = result.output.splitlines()
    assert lines[0] == "host,flows,bytes,bytes_sent,bytes_received,packets"
    top = _hand_top_talkers(records)[:3]
    assert [line.split(",")[0] for line in lines[1:]] == [t[0] for t in top]
    assert [int(line.split(",")[2]) for line in lines[1:]] == [2 * int(t[2]) for t in top]


@pytest.mark.parametrize("args, fragment", [
    (["SELECT nope FROM flows"], "nope"),
    (["--top-talkers", "--since", "yesterday-ish"], "ISO 8601"),
])
def test_query_errors_are_one_line(two_hours: tuple, tmp_path: Path, args: list[str],
                                   fragment: str) -> None:
    write(tmp_path, two_hours[1][:5])
    result = CliRunner().invoke(query, ["--dir", str(tmp_path), *args])
    exc = result.exception
    assert isinstance(exc, WirelabError) and exc.exit_code == 3
    assert fragment in str(exc) and "\n" not in str(exc)


def test_query_without_history(tmp_path: Path) -> None:
    result = CliRunner().invoke(query, ["--dir", str(tmp_path / "none"), "--top-talkers"])
    assert isinstance(result.exception, WirelabError)
    assert "no flow history" in str(result.exception)
    result = CliRunner().invoke(query, ["--top-talkers", "--host", "198.18.0.10"])
    assert result.exit_code == 2


def test_parse_time_forms() -> None:
    t = datetime(2025, 11, 25, 14, 0, tzinfo=UTC)
    assert q.parse_time("2025-11-25T14:00") == t
    assert q.parse_time("2025-11-25T15:00+01:00") == t
    assert q.parse_time(str(t.timestamp())) == t
    assert q.parse_time("2h", now=t.timestamp() + 7200) == t


def test_buffers_stay_bounded_across_many_hours(two_hours: tuple, tmp_path: Path) -> None:
    """At most ``max_open`` hours open and ``batch_rows`` rows buffered each: flat memory.

    Records are replayed over 12 hours, out of order at the seams, so hours are closed and
    opened again (a second file for the same hour); nothing is lost.
    """
    _, records = two_hours
    replay = []
    for i, r in enumerate(records[:1200]):
        r = dict(r)
        r["ts"] = float(r["ts"]) + 3600 * ((i // 100) % 12) + (3600 * 3 if i % 97 == 0 else 0)
        replay.append(r)
    w = HistoryWriter(tmp_path, batch_rows=16, max_open=2)
    for r in replay:
        w.add(r)
        assert len(w._open) <= 2
        assert all(p.rows < 16 for p in w._open.values())
    w.close()
    per_hour = Counter(partition_of(float(r["ts"])) for r in replay)
    assert len(per_hour) >= 12
    files_per_hour = Counter(f.parent for f in w.files)
    assert max(files_per_hour.values()) > 1  # an hour reopened got a new file, not a rewrite
    con = q.connect(tmp_path)
    _, rows = q.run(con, "SELECT date, hour, count(*) FROM flows GROUP BY ALL")
    assert {(d.isoformat(), h): n for d, h, n in rows} == dict(per_hour)
