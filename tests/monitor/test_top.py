"""The model of ``wirelab top`` on synthetic frames: window accounting worked out by hand, the
handshake RTT, retransmissions, bounded memory.

Frames are one every second at k + 0.1 s; snapshots are taken at x.6 s, so window edges
(with 0.5 s buckets) never fall on a packet and every count below is exact."""

from __future__ import annotations

import pytest

from wirelab import samples
from wirelab.monitor.top import TopModel
from wirelab.wire.arp import ARP
from wirelab.wire.ethernet import EtherType
from wirelab.wire.tcp import TCPFlags

C, S, R = samples.CLIENT, samples.SERVER, samples.ROUTER
D = ("02:00:00:00:00:0d", "198.18.0.13", "2001:db8::d")
SYN, ACK, PSH, FIN = TCPFlags.SYN, TCPFlags.ACK, TCPFlags.PSH, TCPFlags.FIN
T0 = samples.START_NS
DGRAM = samples.udp4(C, S, 40000, 9000, b"x" * 958)
L = len(DGRAM)  # 1000 bytes: 14 + 20 + 8 + 958


def at(seconds: float) -> int:
    return T0 + round(seconds * 1e9)


def steady(model: TopModel, seconds: int = 40) -> None:
    for k in range(seconds):
        model.add_frame(at(k + 0.1), 1, DGRAM, L)


def test_a_steady_stream_has_the_same_rate_in_every_window() -> None:
    model = TopModel()
    steady(model)
    snap = model.snapshot(now_ns=at(39.6))
    assert L == 1000 and snap["windows"] == ["2s", "10s", "40s"]
    # 2 s: packets 38.1, 39.1; 10 s: 30.1 ... 39.1; 40 s: all 40, over the 39.5 s elapsed
    assert snap["rate"] == pytest.approx({"2s": 1000.0, "10s": 1000.0, "40s": 40000 / 39.5})
    [client, server] = sorted(snap["hosts"], key=lambda h: h["host"])  # type: ignore[arg-type]
    assert (client["host"], client["tx_bytes"], client["rx_bytes"]) == ("198.18.0.10", 40000, 0)
    assert (server["host"], server["tx_bytes"], server["rx_bytes"]) == ("198.18.0.20", 0, 40000)
    assert client["rate"]["10s"] == pytest.approx(1000.0)
    [conv] = snap["conversations"]
    assert (conv["a"], conv["b"], conv["a_to_b_bytes"], conv["b_to_a_bytes"]) == \
        ("198.18.0.10", "198.18.0.20", 40000, 0)
    assert [(p["port"], p["total_bytes"]) for p in snap["ports"]] == [("9000/udp", 40000)]
    assert [(p["protocol"], p["packets"]) for p in snap["protocols"]] == [("udp", 40)]
    [flow] = snap["flows"]
    assert (flow["proto"], flow["orig"], flow["resp"], flow["packets"]) == \
        ("udp", "198.18.0.10:40000", "198.18.0.20:9000", 40)
    assert flow["rtt_ms"] is None and flow["retransmissions"] is None


def test_a_burst_leads_the_short_window_only() -> None:
    model = TopModel()
    steady(model)
    burst = samples.udp4(D, S, 5000, 53, b"y" * 958)
    for i in range(10):
        model.add_frame(at(39.2 + i * 0.01), 1, burst, L)
    by_2s = model.snapshot(sort="2s", now_ns=at(39.6))
    by_40s = model.snapshot(sort="40s", now_ns=at(39.6))
    senders_2s = [h["host"] for h in by_2s["hosts"] if h["tx_bytes"]]  # type: ignore[union-attr]
    senders_40s = [h["host"] for h in by_40s["hosts"] if h["tx_bytes"]]  # type: ignore[union-attr]
    assert senders_2s == ["198.18.0.13", "198.18.0.10"]
    assert senders_40s == ["198.18.0.10", "198.18.0.13"]
    burst_host = next(h for h in by_2s["hosts"] if h["host"] == "198.18.0.13")  # type: ignore[union-attr]
    assert burst_host["rate"] == pytest.approx({"2s": 5000.0, "10s": 1000.0,
                                                "40s": 10000 / 39.5})
    assert by_2s["ports"][0]["port"] == "53/udp"  # type: ignore[index]


def test_old_traffic_leaves_the_windows_but_stays_in_the_totals() -> None:
    model = TopModel()
    steady(model, 5)
    model.add_frame(at(100.1), 1, samples.udp4(D, S, 5000, 53, b""), 60)
    snap = model.snapshot(now_ns=at(100.6))
    client = next(h for h in snap["hosts"] if h["host"] == "198.18.0.10")  # type: ignore[union-attr]
    assert client["tx_bytes"] == 5000 and client["rate"] == {"2s": 0, "10s": 0, "40s": 0}
    assert len(model._buckets) == 1  # everything older than 40 s was dropped


def test_non_ip_frames_count_as_their_protocol() -> None:
    model = TopModel()
    arp = ARP(op=1, sha=C[0], spa=C[1], tha="00:00:00:00:00:00", tpa=S[1]).encode()
    frame = samples.ether(C, samples.BROADCAST, arp, EtherType.ARP)
    model.add_frame(at(0.1), 1, frame, 60)
    snap = model.snapshot()
    assert [(p["protocol"], p["packets"], p["total_bytes"]) for p in snap["protocols"]] == \
        [("arp", 1, 60)]
    assert snap["hosts"] == [] and snap["packets"] == 1


def tcp(model: TopModel, t: float, frame: bytes) -> None:
    model.add_frame(at(t), 1, frame, len(frame))


def c2s(seq: int, ack: int, flags: int, data: bytes = b"") -> bytes:
    return samples.tcp4(C, S, 40000, 80, seq, ack, flags, data)


def s2c(seq: int, ack: int, flags: int, data: bytes = b"") -> bytes:
    return samples.tcp4(S, C, 80, 40000, seq, ack, flags, data)


def test_initial_rtt_is_syn_to_the_handshakes_ack() -> None:
    model = TopModel()
    tcp(model, 0.100, c2s(100, 0, SYN))
    tcp(model, 0.110, s2c(900, 101, SYN | ACK))
    tcp(model, 0.112, c2s(101, 901, ACK))
    tcp(model, 0.200, c2s(101, 901, PSH | ACK, b"GET"))
    [flow] = model.snapshot()["flows"]  # type: ignore[misc]
    assert flow["rtt_ms"] == pytest.approx(12.0)
    assert (flow["orig"], flow["resp"], flow["retransmissions"]) == \
        ("198.18.0.10:40000", "198.18.0.20:80", 0)


def test_retransmissions_counted_keepalives_not() -> None:
    model = TopModel()
    data = b"d" * 100
    tcp(model, 0.0, c2s(100, 0, SYN))
    tcp(model, 0.01, s2c(900, 101, SYN | ACK))
    tcp(model, 0.02, c2s(101, 901, ACK))
    tcp(model, 0.03, c2s(101, 901, PSH | ACK, data))       # new data
    tcp(model, 0.30, c2s(101, 901, PSH | ACK, data))       # the same again: 1
    tcp(model, 0.31, c2s(201, 901, PSH | ACK, data))       # new data
    tcp(model, 0.32, s2c(901, 301, ACK))                   # pure ACK: nothing
    tcp(model, 5.00, c2s(300, 901, ACK, b"k"))             # keep-alive (next - 1): nothing
    tcp(model, 5.01, c2s(151, 901, PSH | ACK, data))       # overlaps old data: 2
    tcp(model, 5.02, s2c(901, 301, FIN | ACK))             # FIN: new
    tcp(model, 5.50, s2c(901, 301, FIN | ACK))             # FIN again: 3
    [flow] = model.snapshot()["flows"]  # type: ignore[misc]
    assert flow["retransmissions"] == 3


def test_sequence_numbers_wrap() -> None:
    model = TopModel()
    top = 2**32 - 50
    tcp(model, 0.0, c2s(top, 1, ACK, b"a" * 100))          # crosses 2**32
    tcp(model, 0.1, c2s((top + 100) % 2**32, 1, ACK, b"b" * 100))
    [flow] = model.snapshot()["flows"]  # type: ignore[misc]
    assert flow["retransmissions"] == 0


def test_flows_and_keys_stay_bounded() -> None:
    model = TopModel(max_keys=50, max_flows=20)
    for i in range(200):
        src = ("02:00:00:00:02:00", f"198.18.{i // 250}.{i % 250 + 1}", "2001:db8::1")
        model.add_frame(at(i * 0.001), 1, samples.udp4(src, S, 1000 + i, 9, b""), 60)
    assert len(model.flows) == 20 and len(model.totals["hosts_tx"]) == 50
    assert model.untracked > 0 and model.packets == 200


def test_sort_names_are_checked() -> None:
    model = TopModel(windows=(1, 5))
    steady(model, 3)
    assert model.snapshot(sort="total")["sort"] == "total"
    with pytest.raises(ValueError, match="sort by one of 1s, 5s, total"):
        model.snapshot(sort="10s")
