"""wirelab export against a real collector: nfcapd on loopback, read back with nfdump.

nfcapd (Debian's nfdump 1.7) listens on 127.0.0.1 on a free port, writing into the test's own
directory; it is stopped by PID with SIGTERM, on which it closes its file.  nfdump then reads
that file back and every record -- addresses, ports, protocol, packets, bytes, first and last
millisecond, TCP flags -- and the totals must equal wirelab's own flows split per direction.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from wirelab import samples
from wirelab.cli.export import export
from wirelab.errors import WirelabError
from wirelab.monitor.export.records import UniFlow, split
from wirelab.monitor.flows import FlowTable
from wirelab.monitor.run import run

pytestmark = pytest.mark.skipif(shutil.which("nfcapd") is None or shutil.which("nfdump") is None,
                                reason="needs nfdump and nfcapd (scripts/install-deps test)")

_NFDUMP_FLAGS = "CEUAPRSF"  # nfdump's flag string, most significant bit first
ENV = {**os.environ, "TZ": "UTC"}


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _udp_bound(port: int) -> bool:
    want = f"0100007F:{port:04X}"
    with open("/proc/net/udp") as f:
        return any(line.split()[1] == want for line in f.readlines()[1:])


class Nfcapd:
    """nfcapd on 127.0.0.1:port writing into ``directory``; stopped by PID."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        directory.mkdir()
        self.port = _free_udp_port()
        self.log = open(directory.parent / "nfcapd.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            ["nfcapd", "-b", "127.0.0.1", "-p", str(self.port), "-w", str(directory),
             "-t", "3600", "-B", "4000000"], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while not _udp_bound(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError("nfcapd did not start: "
                                     + (directory.parent / "nfcapd.log").read_text())
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM: nfcapd flushes and closes its file; safe to call twice."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.log.close()

    def files(self) -> list[Path]:
        return sorted(p for p in self.dir.iterdir() if p.name.startswith("nfcapd.2"))


@pytest.fixture
def nfcapd(tmp_path: Path) -> Iterator[Nfcapd]:
    collector = Nfcapd(tmp_path / "flows")
    try:
        yield collector
    finally:
        collector.stop()


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The curriculum story (HTTP, DNS, ping, UDP) then 2,500 random frames, one second on."""
    trace = samples.curriculum_trace()
    shift = trace[-1][0] - samples.START_NS + 1_000_000_000
    frames = trace + [(ts + shift, f) for ts, f in samples.mixed_frames(2500, seed=5103)]
    path = tmp_path_factory.mktemp("export") / "mixed.pcap"
    samples.write_pcap(path, frames)
    return path


def _wirelab_records(path: Path) -> list[UniFlow]:
    table = FlowTable()
    run(str(path), [table])
    return [u for r in table.records() for u in split(r)]


def _key(u: UniFlow) -> tuple[object, ...]:
    return (u.src, u.dst, u.sport, u.dport, u.proto, u.packets, u.octets, u.first_ms,
            u.last_ms, u.tcp_flags)


def _ms(text: str) -> int:
    t = datetime.fromisoformat(text).replace(tzinfo=UTC)
    return round(t.timestamp() * 1000)


def _nfdump_records(files: list[Path]) -> list[tuple[object, ...]]:
    out = []
    for f in files:
        proc = subprocess.run(["nfdump", "-r", str(f), "-o", "json"], capture_output=True,
                              text=True, env=ENV, check=True, timeout=60)
        # a file without records: nfdump prints "[", "No matching flows", "]"
        listing = proc.stdout.replace("No matching flows", "")
        for r in json.loads(listing.strip() or "[]"):
            # nfdump prints no flags for ICMP (it shows type and code instead of ports)
            text = r.get("tcp_flags", "........")
            flags = sum(1 << (7 - i) for i, c in enumerate(text) if c != ".")
            src = r.get("src4_addr") or r.get("src6_addr")
            dst = r.get("dst4_addr") or r.get("dst6_addr")
            if r["proto"] in (1, 58) and "icmp_type" in r:
                sport, dport = 0, r["icmp_type"] * 256 + r["icmp_code"]
            else:
                sport, dport = r["src_port"], r["dst_port"]
            out.append((src, dst, sport, dport, r["proto"], r["in_packets"], r["in_bytes"],
                        _ms(r["first"]), _ms(r["last"]), flags))
    return out


def _nfdump_totals(files: list[Path]) -> dict[str, int]:
    """nfdump's own statistics of each file (-I): flows, packets, bytes, sequence failures."""
    totals: Counter[str] = Counter()
    for f in files:
        proc = subprocess.run(["nfdump", "-r", str(f), "-I"], capture_output=True, text=True,
                              env=ENV, check=True, timeout=60)
        for line in proc.stdout.splitlines():
            name, _, value = line.partition(":")
            if name in ("Flows", "Packets", "Bytes", "Sequence failures"):
                totals[name] += int(value)
    return dict(totals)


@pytest.mark.parametrize("fmt", ["netflow", "ipfix"])
def test_nfdump_reads_back_wirelabs_flows(fmt: str, capture: Path, nfcapd: Nfcapd) -> None:
    result = CliRunner().invoke(export, [str(capture), f"--{fmt}",
                                         f"127.0.0.1:{nfcapd.port}", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    time.sleep(0.5)  # let nfcapd take the last datagrams off its socket
    nfcapd.stop()
    files = nfcapd.files()
    assert files, (nfcapd.dir.parent / "nfcapd.log").read_text()

    expected = _wirelab_records(capture)
    if fmt == "netflow":  # v5 is IPv4 only
        v6 = [u for u in expected if ":" in u.src]
        assert summary["netflow"]["skipped_ipv6"] == len(v6) > 0
        expected = [u for u in expected if ":" not in u.src]
    assert all(u.ip_bytes for u in expected)
    assert {u.proto for u in expected} >= {1, 6, 17}
    assert summary[fmt]["records"] == len(expected)

    got = _nfdump_records(files)
    assert Counter(got) == Counter(_key(u) for u in expected)
    totals = _nfdump_totals(files)
    assert totals == {"Flows": len(expected), "Packets": sum(u.packets for u in expected),
                      "Bytes": sum(u.octets for u in expected), "Sequence failures": 0}


def test_outside_collector_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "t.pcap"
    samples.write_pcap(path, samples.curriculum_trace())
    for addr in ("8.8.8.8:2055", "198.18.0.20:2055", "example.com:2055"):
        result = CliRunner().invoke(export, [str(path), "--netflow", addr])
        exc = result.exception
        assert isinstance(exc, WirelabError) and exc.exit_code == 2
        assert "refusing" in str(exc) or "IP address" in str(exc)


def test_nfdump_places_a_long_flow_exported_after_later_ones(tmp_path: Path,
                                                             nfcapd: Nfcapd) -> None:
    """A TCP connection open from t=0 to t=600 s is exported after 70 UDP flows that began
    at t=1 s and ended on their 300 s idle timeout: NetFlow v5's boot time moves back for
    it, and nfdump must still place every record at its own milliseconds."""
    c, s = samples.CLIENT, samples.SERVER
    t0, sec = samples.START_NS, 1_000_000_000
    frames = [(t0, samples.tcp4(c, s, 40000, 22, 1000, 0, 0x02))]
    frames += [(t0 + sec + i * 1_000_000, samples.udp4(c, s, 20000 + i, 9999, b"x" * i))
               for i in range(70)]
    frames.append((t0 + 600 * sec, samples.tcp4(c, s, 40000, 22, 1001, 0, 0x10)))
    path = tmp_path / "long.pcap"
    samples.write_pcap(path, frames)
    result = CliRunner().invoke(export, [str(path), "--netflow", f"127.0.0.1:{nfcapd.port}"])
    assert result.exit_code == 0, result.output
    time.sleep(0.5)
    nfcapd.stop()
    expected = _wirelab_records(path)
    assert expected[-1].proto == 6 and expected[-1].first_ms == t0 // 1_000_000
    assert Counter(_nfdump_records(nfcapd.files())) == Counter(_key(u) for u in expected)
