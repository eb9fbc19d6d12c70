"""``wirelab flows --detect-scans`` on hand-built captures: what is a probe, the two kinds of
scan, the sliding window.  (The lab test with nmap is in test_scans_lab.py.)"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from wirelab import samples
from wirelab.cli.flows import flows
from wirelab.wire.tcp import TCPFlags

C, S = samples.CLIENT, samples.SERVER
SYN, ACK, RST, PSH, FIN = TCPFlags.SYN, TCPFlags.ACK, TCPFlags.RST, TCPFlags.PSH, TCPFlags.FIN


def host(n: int) -> samples.Host:
    return (f"02:00:00:00:01:{n:02x}", f"198.18.0.{100 + n}", f"2001:db8::{100 + n:x}")


def closed(dst: samples.Host, port: int, sport: int = 50000) -> list[bytes]:
    """A SYN answered by RST-ACK: REJ."""
    return [samples.tcp4(C, dst, sport, port, 7, 0, SYN),
            samples.tcp4(dst, C, port, sport, 0, 8, RST | ACK)]


def open_syn_scanned(dst: samples.Host, port: int, sport: int = 50000) -> list[bytes]:
    """SYN, SYN-ACK, the scanner's RST: RSTO with history ShR."""
    return [samples.tcp4(C, dst, sport, port, 7, 0, SYN),
            samples.tcp4(dst, C, port, sport, 900, 8, SYN | ACK),
            samples.tcp4(C, dst, sport, port, 8, 0, RST)]


def download(sport: int) -> list[bytes]:
    """A complete HTTP exchange: data both ways, never a probe."""
    req, resp = b"GET / HTTP/1.1\r\n\r\n", b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 100
    return [samples.tcp4(C, S, sport, 80, 1, 0, SYN),
            samples.tcp4(S, C, 80, sport, 500, 2, SYN | ACK),
            samples.tcp4(C, S, sport, 80, 2, 501, ACK),
            samples.tcp4(C, S, sport, 80, 2, 501, PSH | ACK, req),
            samples.tcp4(S, C, 80, sport, 501, 2 + len(req), PSH | ACK | FIN, resp),
            samples.tcp4(C, S, sport, 80, 2 + len(req), 502 + len(resp), FIN | ACK)]


def detect(tmp_path: Path, frames: list[tuple[float, bytes]], *args: str) -> list[dict]:
    path = tmp_path / "scan.pcap"
    samples.write_pcap(path, [(samples.START_NS + int(t * 1e9), f) for t, f in frames])
    result = CliRunner().invoke(flows, [str(path), "--detect-scans", "--json", *args])
    assert result.exit_code == 0, result.output
    scans: list[dict] = json.loads(result.output)["scans"]
    return scans


def timed(groups: list[list[bytes]], step: float) -> list[tuple[float, bytes]]:
    return [(i * step + j * 0.0001, f) for i, g in enumerate(groups) for j, f in enumerate(g)]


def test_vertical_scan_is_reported_with_its_states(tmp_path: Path) -> None:
    groups = [closed(S, p) for p in range(1000, 1017)] + [open_syn_scanned(S, 22),
                                                          open_syn_scanned(S, 443)]
    groups += [download(40000 + i) for i in range(30)]  # 30 downloads: data, not probes
    [scan] = detect(tmp_path, timed(groups, 0.01))
    assert (scan["source"], scan["kind"], scan["target_host"]) == \
        ("198.18.0.10", "vertical", "198.18.0.20")
    assert (scan["distinct"], scan["probes"]) == (19, 19)
    assert scan["states"] == {"REJ": 17, "RSTO": 2}
    assert scan["source_flows"] == 49


def test_downloads_alone_are_not_a_scan(tmp_path: Path) -> None:
    assert detect(tmp_path, timed([download(40000 + i) for i in range(100)], 0.01)) == []


def test_horizontal_scan(tmp_path: Path) -> None:
    groups = [closed(host(n), 22) for n in range(30)]
    [scan] = detect(tmp_path, timed(groups, 0.01))
    assert (scan["kind"], scan["target_port"], scan["distinct"]) == ("horizontal", "22/tcp", 30)
    assert detect(tmp_path, timed(groups, 0.01), "--hosts", "31") == []


def test_the_window_slides(tmp_path: Path) -> None:
    # 20 ports, one every 30 s: at most 11 fall in any 300 s (t, t+30, ..., t+300)
    groups = [closed(S, 2000 + i) for i in range(20)]
    assert detect(tmp_path, timed(groups, 30.0)) == []
    [scan] = detect(tmp_path, timed(groups, 30.0), "--ports", "11")
    assert scan["distinct"] == 11 and scan["last"] - scan["first"] == 300.0
    assert detect(tmp_path, timed(groups, 30.0), "--ports", "12") == []


def test_udp_probes_count_when_unanswered(tmp_path: Path) -> None:
    frames = [samples.udp4(C, S, 41000, 1000 + p, b"q" * (p % 2)) for p in range(15)]
    answered = [samples.udp4(S, C, 1000 + p, 41000, b"r") for p in range(15)]
    [scan] = detect(tmp_path, timed([[f] for f in frames], 0.01))
    assert scan["states"] == {"S0": 15}
    both = [[q, a] for q, a in zip(frames, answered, strict=True)]
    assert detect(tmp_path, timed(both, 0.01)) == []


def test_human_output(tmp_path: Path) -> None:
    path = tmp_path / "scan.pcap"
    frames = timed([closed(S, p) for p in range(1000, 1020)], 0.01)
    samples.write_pcap(path, [(samples.START_NS + int(t * 1e9), f) for t, f in frames])
    out = CliRunner().invoke(flows, [str(path), "--detect-scans"]).output
    assert "198.18.0.10" in out and "vertical" in out and "REJ=20" in out
    assert CliRunner().invoke(flows, [str(path), "--detect-scans", "--tsv"]).exit_code == 2


def test_a_ping_sweep_is_horizontal(tmp_path: Path) -> None:
    from wirelab.wire.icmp import ICMP
    from wirelab.wire.ipv4 import IPProto

    def ping(dst: samples.Host) -> bytes:
        msg = ICMP(type=8, id=1, seq=1, payload=b"p" * 8).encode()
        return samples.ether(C, dst, samples.ipv4(C, dst, IPProto.ICMP, msg))

    groups = [[ping(host(n))] for n in range(26)]
    [scan] = detect(tmp_path, timed(groups, 0.01))
    assert (scan["kind"], scan["target_port"], scan["distinct"]) == ("horizontal", "8/icmp", 26)
    assert scan["states"] == {"OTH": 26}


def test_retries_after_the_last_new_port_are_counted() -> None:
    # five ports, then two retries to ports already seen, all in one window: 5 distinct, 7
    # probes (a retransmitted SYN to a dropped port is a probe too)
    from wirelab.monitor.scans import Probe, _widest

    seq = [Probe(float(i), "198.18.0.20", port, "tcp", "S0")
           for i, port in enumerate([81, 82, 83, 84, 85, 81, 82])]
    best = _widest(seq, 300.0, lambda p: p.port)
    assert best is not None and best[0] == 5 and len(best[1]) == 7
