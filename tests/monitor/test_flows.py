"""``wirelab flows``: conn_state and history on hand-built captures, one per state.

Each capture is a few segments built with wirelab's encoders (checksums computed) between
the sample client 198.18.0.10 and server 198.18.0.20; the expected state is Zeek's definition
(base/protocols/conn/main.zeek) applied by hand to those segments.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from wirelab import samples
from wirelab.cli.flows import flows
from wirelab.wire.tcp import TCPFlags

from .conftest import LoCapture
from .tshark_text import parse_conv, tshark_tables

C, S = samples.CLIENT, samples.SERVER
SYN, ACK, FIN, RST, PSH = (TCPFlags.SYN, TCPFlags.ACK, TCPFlags.FIN, TCPFlags.RST,
                           TCPFlags.PSH)
REQ = b"GET / HTTP/1.1\r\nHost: s\r\n\r\n"
RESP = b"HTTP/1.1 204 No Content\r\n\r\n"


def c2s(seq: int, ack: int, flags: int, data: bytes = b"") -> bytes:
    return samples.tcp4(C, S, 40000, 80, seq, ack, flags, data)


def s2c(seq: int, ack: int, flags: int, data: bytes = b"") -> bytes:
    return samples.tcp4(S, C, 80, 40000, seq, ack, flags, data)


HANDSHAKE = [c2s(100, 0, SYN), s2c(900, 101, SYN | ACK), c2s(101, 901, ACK)]
EXCHANGE = [c2s(101, 901, PSH | ACK, REQ), s2c(901, 101 + len(REQ), PSH | ACK, RESP)]
AFTER = (101 + len(REQ), 901 + len(RESP))

CASES = {
    "S0": ([c2s(100, 0, SYN)], "S"),
    "REJ": ([c2s(100, 0, SYN), s2c(0, 101, RST | ACK)], "Sr"),
    "SF": (HANDSHAKE + EXCHANGE + [c2s(*AFTER, FIN | ACK), s2c(AFTER[1], AFTER[0] + 1,
                                                               FIN | ACK),
                                   c2s(AFTER[0] + 1, AFTER[1] + 1, ACK)], "ShADdFf"),
    "S1": (HANDSHAKE + EXCHANGE, "ShADd"),
    "S2": (HANDSHAKE + EXCHANGE + [c2s(*AFTER, FIN | ACK)], "ShADdF"),
    "S3": (HANDSHAKE + EXCHANGE + [s2c(AFTER[1], AFTER[0], FIN | ACK)], "ShADdf"),
    "RSTO": (HANDSHAKE + EXCHANGE + [c2s(*AFTER, RST | ACK)], "ShADdR"),
    "RSTR": (HANDSHAKE + EXCHANGE + [s2c(AFTER[1], AFTER[0], RST | ACK)], "ShADdr"),
    "RSTOS0": ([c2s(100, 0, SYN), c2s(101, 0, RST)], "SR"),
    "SH": ([c2s(100, 0, SYN), c2s(101, 0, FIN)], "SF"),
    # no SYN seen: the SYN-ACK's sender is the responder
    "RSTRH": ([s2c(900, 101, SYN | ACK), s2c(901, 101, RST)], "hr"),
    "SHR": ([s2c(900, 101, SYN | ACK), s2c(901, 101, FIN | ACK)], "hf"),
    "OTH": (EXCHANGE, "Dd"),
}


def records(tmp_path: Path, frames: list[bytes]) -> list[dict[str, object]]:
    path = tmp_path / "flow.pcap"
    samples.write_pcap(path, [(samples.START_NS + i * 1_000_000, f)
                              for i, f in enumerate(frames)])
    result = CliRunner().invoke(flows, [str(path), "--json"])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines()]


@pytest.mark.parametrize("state", sorted(CASES))
def test_conn_state_and_history(tmp_path: Path, state: str) -> None:
    frames, history = CASES[state]
    [record] = records(tmp_path, frames)
    assert (record["conn_state"], record["history"]) == (state, history)
    assert (record["id.orig_h"], record["id.orig_p"]) == ("198.18.0.10", 40000)
    assert (record["id.resp_h"], record["id.resp_p"]) == ("198.18.0.20", 80)
    assert record["orig_pkts"] + record["resp_pkts"] == len(frames)  # type: ignore[operator]
    assert record["duration"] == pytest.approx((len(frames) - 1) / 1000)


def test_bytes_are_payload_bytes_each_way(tmp_path: Path) -> None:
    [record] = records(tmp_path, CASES["SF"][0])
    assert (record["orig_bytes"], record["resp_bytes"]) == (len(REQ), len(RESP))
    assert (record["orig_pkts"], record["resp_pkts"]) == (5, 3)  # SYN ACK data FIN ACK
    assert record["proto"] == "tcp" and str(record["uid"]).startswith("C")


def test_udp_with_and_without_reply(tmp_path: Path) -> None:
    frames = [samples.udp4(C, S, 5353, 53, b"q" * 20), samples.udp4(S, C, 53, 5353, b"a" * 50),
              samples.udp4(C, S, 6000, 7000, b"x" * 3)]
    by_port = {r["id.orig_p"]: r for r in records(tmp_path, frames)}
    assert (by_port[5353]["conn_state"], by_port[5353]["orig_bytes"],
            by_port[5353]["resp_bytes"]) == ("SF", 20, 50)
    assert (by_port[6000]["conn_state"], by_port[6000]["history"]) == ("S0", "D")


def test_tsv_has_zeek_header(tmp_path: Path) -> None:
    path = tmp_path / "flow.pcap"
    samples.write_pcap(path, samples.curriculum_trace())
    result = CliRunner().invoke(flows, [str(path), "--tsv"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    fields = next(line for line in lines if line.startswith("#fields")).split("\t")[1:]
    assert fields[:7] == ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p",
                          "proto"]
    rows = [line.split("\t") for line in lines if not line.startswith("#")]
    http = next(r for r in rows if r[3] == "40000")
    assert http[fields.index("conn_state")] == "SF"
    assert all(len(r) == len(fields) for r in rows)


def test_help_has_an_example() -> None:
    result = CliRunner().invoke(flows, ["--help"])
    assert result.exit_code == 0 and "Example: wirelab flows" in result.output


# --- real TCP stacks on loopback ----------------------------------------------------------


def test_real_http_fetches_are_sf_and_match_tshark_frames(loopback_http: Path) -> None:
    result = CliRunner().invoke(flows, [str(loopback_http), "--json"])
    assert result.exit_code == 0, result.output
    recs = [json.loads(line) for line in result.output.splitlines()]
    fetches = [r for r in recs if r["orig_bytes"]]
    assert len(fetches) == 3  # two index.html and one 404, each its own connection
    # urllib closes after reading the whole response: the kernel's FINs both ways
    assert sum(r["conn_state"] == "SF" for r in fetches) >= 2
    assert all(r["history"].startswith("ShA") for r in fetches)
    # packets per flow equal tshark's TCP conversation frames
    theirs = parse_conv(tshark_tables(str(loopback_http), ["conv,tcp"]))
    for r in recs:
        orig, resp = f"{r['id.orig_h']}:{r['id.orig_p']}", f"{r['id.resp_h']}:{r['id.resp_p']}"
        key = frozenset((orig, resp))
        assert r["orig_pkts"] + r["resp_pkts"] == theirs[key]["frames"]


def test_connection_to_a_closed_port_is_rej(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on: bound, never listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        cap = LoCapture(tmp_path / "rej.pcap", f"tcp port {port}")
        try:
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", port), timeout=5).close()
            time.sleep(0.2)
        finally:
            cap.stop()
    result = CliRunner().invoke(flows, [str(cap.path), "--json"])
    [record] = [json.loads(line) for line in result.output.splitlines()]
    assert (record["conn_state"], record["history"], record["id.resp_p"]) == ("REJ", "Sr", port)


# --- timeouts and the bound on live flows ---------------------------------------------------


def timed(tmp_path: Path, frames: list[tuple[float, bytes]]) -> list[dict[str, object]]:
    path = tmp_path / "timed.pcap"
    samples.write_pcap(path, [(samples.START_NS + int(t * 1e9), f) for t, f in frames])
    result = CliRunner().invoke(flows, [str(path), "--json"])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines()]


@pytest.mark.parametrize(("gap", "count"), [(299.0, 1), (301.0, 2)])
def test_udp_idle_timeout_is_300_s(tmp_path: Path, gap: float, count: int) -> None:
    dgram = samples.udp4(C, S, 5000, 9000, b"x")
    assert len(timed(tmp_path, [(0.0, dgram), (gap, dgram)])) == count


@pytest.mark.parametrize(("gap", "count"), [(299.0, 1), (301.0, 2)])
def test_tcp_after_fin_times_out_at_300_s(tmp_path: Path, gap: float, count: int) -> None:
    closed = HANDSHAKE + [c2s(101, 901, FIN | ACK), s2c(901, 102, FIN | ACK)]
    frames = [(i * 0.001, f) for i, f in enumerate(closed)]
    recs = timed(tmp_path, frames + [(frames[-1][0] + gap, c2s(102, 902, ACK))])
    assert len(recs) == count
    assert recs[0]["conn_state"] == "SF"
    if count == 2:
        assert (recs[1]["conn_state"], recs[1]["history"]) == ("OTH", "A")


@pytest.mark.parametrize(("gap", "count"), [(119.0, 1), (121.0, 2), (3599.0, 1)])
def test_tcp_timeouts_open_and_after_rst(tmp_path: Path, gap: float, count: int) -> None:
    # an open connection lasts through an hour of silence; one reset is over after 120 s
    reset = gap < 3000
    first = HANDSHAKE + ([c2s(101, 901, RST)] if reset else [])
    frames = [(i * 0.001, f) for i, f in enumerate(first)]
    assert len(timed(tmp_path, frames + [(frames[-1][0] + gap, c2s(101, 901, ACK))])) == count


def test_live_flows_stay_under_the_bound() -> None:
    from wirelab.monitor.flows import FlowTable
    from wirelab.monitor.keys import KeyReader

    out: list[dict[str, object]] = []
    table = FlowTable(out.append, max_flows=10)
    reader = KeyReader()
    for i in range(200):
        frame = samples.udp4(C, S, 10000 + i, 9000, b"x")
        keys = reader.read(frame, 1)
        assert keys is not None
        table.set_frame(frame)
        table.add(keys, samples.START_NS + i * 1000, len(frame))
    assert table.peak == 10 and len(out) == 190  # the oldest evicted as new ones came
    table.flush()
    assert sorted(int(r["id.orig_p"]) for r in out) == list(range(10000, 10200))  # type: ignore[call-overload]


def test_idle_flows_are_emitted_before_the_capture_ends() -> None:
    from wirelab.monitor.flows import FlowTable
    from wirelab.monitor.keys import KeyReader

    out: list[dict[str, object]] = []
    table = FlowTable(out.append)
    reader = KeyReader()
    for t, sport in ((0, 1111), (400, 2222)):  # 1111 is idle for 400 s when 2222 comes
        frame = samples.udp4(C, S, sport, 9000, b"x")
        keys = reader.read(frame, 1)
        assert keys is not None
        table.set_frame(frame)
        table.add(keys, samples.START_NS + t * 1_000_000_000, len(frame))
    assert [r["id.orig_p"] for r in out] == [1111] and len(table.flows) == 1


def test_write_puts_the_log_in_a_file(tmp_path: Path) -> None:
    path = tmp_path / "trace.pcap"
    samples.write_pcap(path, samples.curriculum_trace())
    log = tmp_path / "conn.log"
    result = CliRunner().invoke(flows, [str(path), "--tsv", "-w", str(log)])
    assert result.exit_code == 0 and result.output == ""
    printed = CliRunner().invoke(flows, [str(path), "--tsv"]).output
    assert log.read_text() == printed and "#fields\tts\tuid" in printed
