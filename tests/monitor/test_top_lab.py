"""``wirelab top -i`` and ``wirelab flows -i`` live in the lab, against a simultaneous capture.

On the server, a capture (tcpdump, or pcapture in a rootless lab), ``wirelab top -i eth0
--json`` and ``wirelab flows -i eth0 --json`` all listen with the same filter; once all are
armed, client downloads 1,000,000 bytes and remote 100,000 over HTTP, then both commands get
a Ctrl-C (SIGINT), which ends a capture cleanly and prints what it counted.  Then:

- top: the top talker is the server, the top conversation client <-> server, every host's
  and conversation's byte counts equal the sums of tshark's frame.len over the capture (the
  same frames), each flow's initial RTT is tshark's tcp.analysis.initial_rtt within 0.2 ms
  (two capture sockets are stamped apart by tens of microseconds), and no retransmissions;
- flows: the live records equal ``wirelab flows`` on the capture file, field for field
  (times aside), and the downloads' resp_bytes hold the bodies curl counted.
"""

from __future__ import annotations

import json
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wirelab.lab.lab import Host, Lab

from .test_top_cli import tshark_bytes

pytestmark = [pytest.mark.tshark,
              pytest.mark.skipif(shutil.which("tshark") is None,
                                 reason="tshark is not installed")]

SERVER, CLIENT, REMOTE = "198.18.0.20", "198.18.0.10", "198.18.1.10"
FILTER = "tcp port 80"
SIZES = {CLIENT: 1_000_000, REMOTE: 100_000}
DURATION = 60.0
"""A bound only: the commands are stopped with SIGINT once the traffic is over."""


def _start(host: Host, argv: list[str]) -> subprocess.Popen[str]:
    proc = host.popen([sys.executable, "-m", "wirelab", *argv], stdout=subprocess.PIPE,
                      stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    assert proc.stderr is not None
    ready, _, _ = select.select([proc.stderr], [], [], 20)
    line = proc.stderr.readline() if ready else ""
    if "capturing on" not in line:
        proc.kill()
        proc.communicate()
        raise AssertionError(f"{argv[0]} did not start: {line!r}")
    return proc


def _finish(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return out


@pytest.mark.lab
def test_live_top_and_flows_equal_the_capture(lab: Lab, tmp_path: Path) -> None:
    server, client, remote = lab.host("server"), lab.host("client"), lab.host("remote")
    iface = server.interfaces[0].name
    pcap = tmp_path / "server.pcap"
    procs: list[subprocess.Popen[str]] = []
    with lab.capture("server", pcap, bpf=FILTER) as cap:
        try:
            procs.append(_start(server, ["top", "-i", iface, "-f", FILTER, "--json",
                                         "--duration", str(DURATION), "-n", "50"]))
            procs.append(_start(server, ["flows", "-i", iface, "-f", FILTER, "--json",
                                         "--duration", str(DURATION)]))
            for host, name in ((client, CLIENT), (remote, REMOTE)):
                got = host.run(["curl", "-s", "-o", "/dev/null", "-w", "%{size_download}",
                                f"http://{SERVER}/bytes/{SIZES[name]}"], timeout=30)
                assert got.returncode == 0 and int(got.stdout) == SIZES[name], got.stderr
            time.sleep(0.5)  # the last ACKs reach every capture
            snap = json.loads(_finish(procs[0]))
            live = [json.loads(line) for line in _finish(procs[1]).splitlines()]
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.communicate()
        cap.stop()

    # top against tshark on the simultaneous capture
    tx, rx, pairs = tshark_bytes(pcap)
    assert snap["interface"] == iface and snap["kernel_drops"] == 0
    assert snap["hosts"][0]["host"] == SERVER  # sorted by the 10 s window: all traffic in it
    assert {snap["conversations"][0]["a"], snap["conversations"][0]["b"]} == {CLIENT, SERVER}
    assert {h["host"]: h["tx_bytes"] for h in snap["hosts"] if h["tx_bytes"]} == dict(tx)
    assert {h["host"]: h["rx_bytes"] for h in snap["hosts"] if h["rx_bytes"]} == dict(rx)
    for c in snap["conversations"]:
        assert (c["a_to_b_bytes"], c["b_to_a_bytes"]) == (pairs[(c["a"], c["b"])],
                                                          pairs[(c["b"], c["a"])])
    assert snap["ports"][0]["port"] == "80/tcp"
    assert snap["ports"][0]["total_bytes"] == sum(tx.values())
    rtts = _tshark_rtts(pcap)
    flows = {f["orig"].rsplit(":", 1)[0]: f for f in snap["flows"]}
    assert set(flows) == {CLIENT, REMOTE}
    for host, flow in flows.items():
        assert flow["resp"] == f"{SERVER}:80" and flow["retransmissions"] == 0
        assert flow["rtt_ms"] == pytest.approx(rtts[host], abs=0.2)

    # flows -i against flows on the capture file
    done = subprocess.run([sys.executable, "-m", "wirelab", "flows", str(pcap), "--json"],
                          capture_output=True, text=True, timeout=60, check=True)
    offline = [json.loads(line) for line in done.stdout.splitlines()]

    def comparable(r: dict[str, object]) -> dict[str, object]:
        return {k: v for k, v in r.items() if k not in ("ts", "uid", "duration")}

    assert sorted(map(str, map(comparable, live))) == sorted(map(str, map(comparable, offline)))
    for r in live:
        assert (r["conn_state"], r["service"]) == ("SF", "http")
        assert SIZES[str(r["id.orig_h"])] < int(r["resp_bytes"]) < SIZES[str(r["id.orig_h"])] \
            + 1000  # the body and the response head


def _tshark_rtts(pcap: Path) -> dict[str, float]:
    """tcp.analysis.initial_rtt in ms, by client address."""
    out = subprocess.run(["tshark", "-n", "-r", str(pcap), "-T", "fields", "-e", "ip.src",
                          "-e", "ip.dst", "-e", "tcp.analysis.initial_rtt"],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    rtts: dict[str, float] = {}
    for line in out.splitlines():
        src, dst, rtt = line.split("\t")
        if rtt:
            rtts.setdefault(dst if src == SERVER else src, float(rtt) * 1000)
    return rtts


@pytest.mark.lab
def test_retransmissions_and_out_of_order_equal_tsharks_under_loss(lab: Lab,
                                                                   tmp_path: Path) -> None:
    """netem drops 3% each way: the kernel's TCP retransmits (some fast, after duplicate
    ACKs) and the receiver's capture sees later segments first.  Per flow, the counts of
    retransmitted and out-of-order segments equal tshark's tcp.analysis flags, and flows'
    payload bytes, from sequence numbers, equal what curl received."""
    client = lab.host("client")
    lab.link("client", "server").shape(loss="3%")
    pcap = tmp_path / "client.pcap"
    received = []  # what curl read: response head + body
    with lab.capture("client", pcap, bpf=FILTER) as cap:
        for _ in range(2):
            got = client.run(["curl", "-s", "-o", "/dev/null", "-w",
                              "%{size_header} %{size_download}",
                              f"http://{SERVER}/bytes/1000000"], timeout=60)
            head, body = map(int, got.stdout.split())
            assert got.returncode == 0 and body == 1000000, got.stderr
            received.append(head + body)
        cap.stop()
    done = subprocess.run([sys.executable, "-m", "wirelab", "top", "-r", str(pcap), "--json"],
                          capture_output=True, text=True, timeout=60, check=True)
    ours = {int(f["orig"].rsplit(":", 1)[1]): (f["retransmissions"], f["out_of_order"])
            for f in json.loads(done.stdout)["flows"]}
    theirs = {port: (_flagged(pcap, "tcp.analysis.retransmission", port),
                     _flagged(pcap, "tcp.analysis.out_of_order", port)) for port in ours}
    assert len(ours) == 2 and ours == theirs
    assert sum(r for r, _ in ours.values()) > 0  # 3% of ~1,400 segments: surely some
    # flows counts TCP payload from sequence numbers, as Zeek: retransmitted data once, so
    # each connection's resp_bytes is exactly what curl received
    done = subprocess.run([sys.executable, "-m", "wirelab", "flows", str(pcap), "--json"],
                          capture_output=True, text=True, timeout=60, check=True)
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["resp_bytes"] for r in sorted(records, key=lambda r: r["ts"])] == received


def _flagged(pcap: Path, field: str, port: int) -> int:
    out = subprocess.run(["tshark", "-n", "-r", str(pcap), "-Y", f"{field} && tcp.port == {port}",
                          "-T", "fields", "-e", "frame.number"], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    return len(out.split())
