"""Live export in the lab: ``wirelab export -i`` in client, nfcapd in server, tcpdump beside.

The client exports the flows of its own interface, live, to nfcapd running on the lab's
server (a lab address, allowed because the exporter runs inside the lab), and to a Parquet
history at the same time, while it fetches pages from the server's HTTP origin and pings it.
Checks: nfdump's records equal the Parquet rows of the same run split per direction, and
equal (times aside) the flows wirelab computes from a tcpdump capture of the same interface.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from wirelab.lab.lab import Host, Lab
from wirelab.monitor.export.records import UniFlow, split
from wirelab.monitor.flows import FlowTable
from wirelab.monitor.run import run

from ..helpers import read_until
from .test_export_nfdump import ENV, _nfdump_records

pytestmark = [pytest.mark.lab,
              pytest.mark.skipif(shutil.which("nfcapd") is None, reason="needs nfcapd")]
pq = pytest.importorskip("pyarrow.parquet")

PORT = 2055
BPF = "ip and (tcp port 80 or icmp)"  # the test's own traffic only


def _bound(host: Host, ip: str, port: int) -> bool:
    # /proc/net/udp: the address as a little-endian 32-bit hex number, then the port
    want = f"{socket.inet_aton(ip)[::-1].hex().upper()}:{port:04X}"
    udp = host.run(["cat", "/proc/net/udp"]).stdout
    return any(line.split()[1] == want for line in udp.splitlines()[1:])


def _key(u: UniFlow) -> tuple[object, ...]:
    """Everything but the times."""
    return (u.src, u.dst, u.sport, u.dport, u.proto, u.packets, u.octets, u.tcp_flags)


def _nf_key(g: tuple[object, ...]) -> tuple[object, ...]:
    """The same, from a row of :func:`_nfdump_records` (times at 7 and 8, flags at 9)."""
    return (*g[:7], g[9])


def _parquet_records(root: Path) -> list[dict[str, object]]:
    rows = []
    for f in root.rglob("*.parquet"):
        for r in pq.read_table(f).to_pylist():
            ident = r.pop("id")
            r.update({f"id.{k}": v for k, v in ident.items()})
            r["ts"] = r["ts"].timestamp()
            rows.append(r)
    return rows


def test_live_export_to_nfcapd_in_the_lab(lab: Lab, tmp_path: Path) -> None:
    client, server = lab.host("client"), lab.host("server")
    flows_dir, hist, pcap = tmp_path / "nfcapd", tmp_path / "hist", tmp_path / "client.pcap"
    flows_dir.mkdir()
    log = open(tmp_path / "nfcapd.log", "wb")  # noqa: SIM115
    nfcapd = server.popen(["nfcapd", "-b", server.ip, "-p", str(PORT), "-w", str(flows_dir),
                           "-t", "3600"], stdout=log, stderr=subprocess.STDOUT)
    exporter = None
    try:
        deadline = time.monotonic() + 10
        while not _bound(server, server.ip, PORT):
            assert nfcapd.poll() is None and time.monotonic() < deadline, \
                (tmp_path / "nfcapd.log").read_text()
            time.sleep(0.05)
        with lab.capture("client", pcap, bpf=BPF):
            exporter = client.popen(
                [sys.executable, "-m", "wirelab", "export", "-i", client.interfaces[0].name,
                 "-f", BPF, "--duration", "6", "--netflow", f"{server.ip}:{PORT}",
                 "--parquet", str(hist), "--json"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                text=True)
            read_until(exporter, b"exporting the flows of", timeout=30)
            for size in (1000, 20000, 300000):
                done = client.run(["curl", "-sS", "-o", "/dev/null",
                                   f"http://{server.ip}/bytes/{size}"], timeout=30)
                assert done.returncode == 0, done.stderr
            done = client.run(["ping", "-c", "3", "-i", "0.2", "-n", server.ip], timeout=30)
            assert done.returncode == 0, done.stdout + done.stderr
            traffic_done = time.monotonic()
            out, err = exporter.communicate(timeout=60)
            assert exporter.returncode == 0, err
            # the traffic must have ended inside the export's 6 s window, or the flows
            # below would be cut short: say so rather than fail on a confusing mismatch
            assert time.monotonic() - traffic_done > 0.5, "traffic outlasted --duration 6"
        time.sleep(0.3)
    finally:
        if exporter is not None and exporter.poll() is None:
            exporter.kill()
            exporter.communicate()
        if nfcapd.poll() is None:
            nfcapd.send_signal(signal.SIGTERM)
            try:
                nfcapd.wait(timeout=15)
            except subprocess.TimeoutExpired:
                nfcapd.kill()
                nfcapd.wait()
        log.close()

    summary = json.loads(out)
    records = _parquet_records(hist)
    assert summary["flows"] == len(records) == 4  # three HTTP connections and one ping
    assert sorted(str(r["conn_state"]) for r in records) == ["OTH", "SF", "SF", "SF"]
    exported = [u for r in records for u in split(r)]
    assert summary["netflow"]["records"] == len(exported) == 8

    files = sorted(flows_dir.glob("nfcapd.2*"))
    got = _nfdump_records(files)
    assert Counter(_key(u) for u in exported) == Counter(_nf_key(g) for g in got)
    # times: the Parquet history keeps microseconds, NetFlow milliseconds
    by_key = {_key(u): u for u in exported}
    for g in got:
        u = by_key[_nf_key(g)]
        assert abs(g[7] - u.first_ms) <= 1 and abs(g[8] - u.last_ms) <= 1  # type: ignore[operator]

    table = FlowTable()
    run(str(pcap), [table])
    from_pcap = [u for r in table.records() for u in split(r)]
    assert Counter(_key(u) for u in from_pcap) == Counter(_key(u) for u in exported)
    assert ENV["TZ"] == "UTC"
