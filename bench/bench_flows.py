"""``wirelab flows`` next to softflowd (a C flow table) and tshark's conversations.

Captures: the stats bench's generator (:func:`bench.bench_monitor.write_captures`: seeded
mixed packets -- TCP, UDP, DNS, ICMP, ARP, IPv6, VLAN, fragments -- and the same packets
played TIMES over, so the long capture has more flows, not bigger ones), plus a small
capture whose flows never fill a 65,536-flow table.  Each measured command runs in a fresh
child under bench_monitor's launcher (wall time, CPU seconds from ``os.wait4``, peak RSS):

- ``wirelab flows FILE --json -w OUT`` (JSON lines to a file; OUT is read afterwards);
- ``softflowd -r FILE -n 127.0.0.1:PORT -d -v 10 -6 -m 65536``: softflowd 1.1.0 reads the
  pcap, keeps the same default timeouts as wirelab (tcp 3600 s, after RST 120 s, after FIN
  300 s, udp and icmp 300 s, maxlife one week) and the same 65,536-flow bound, exports
  IPFIX to ``nfcapd`` listening on a loopback port of ours, and exits at the end of the
  file ("Shutting down after pcap EOF").  Its own statistics (stdout) and what the
  collector stored (``nfdump -s proto``) are both read;
- ``tshark -n -q -r FILE -z conv,tcp -z conv,udp`` (short capture only).

What is comparable.  softflowd tracks a flow in both directions internally but exports one
record per direction that carried packets (NetFlow/IPFIX are unidirectional); wirelab's
records are bidirectional (Zeek's conn.log).  So the counts compared are *directions*: a
wirelab record counts once per direction with packets.  Per protocol, the directions,
packets and IP bytes (softflowd's octets are IP total lengths, as wirelab's ``*_ip_bytes``)
must be equal for TCP, ICMP and ICMPv6 on the small capture -- the bench stops if not.
They differ, and the bench says how much, where the semantics differ:

- UDP: softflowd counts every fragment as a packet (a non-first fragment in a flow of
  ports 0; IPv6 fragments after the first under protocol 0), wirelab counts a fragmented
  datagram once, on the frame that completes it (as tshark reassembles);
- a full table: softflowd evicts by its expiry tree (soonest to time out first), wirelab
  the least recently active flow; a 5-tuple seen again after its flow was evicted makes a
  second record, so on the 300,000-packet capture the counts differ by a few records;
- softflowd's bidirectional flow count ("Flows exported") also differs from wirelab's:
  it keys ICMP on type and code per direction, wirelab pairs a request with its answer
  (Zeek's rule), so a ping is one wirelab flow and two softflowd flows.

tshark's conversations have no timeouts (one row per 5-tuple for the whole capture): its
row count is compared with wirelab's distinct 5-tuples (tshark may also list conversations
it finds inside random payloads it decodes as tunnels, such as VXLAN on port 4789).

Sizes: ``WIRELAB_BENCH_FLOWS=300000,3,20000`` (packets of the short capture, times it is
played in the long one, packets of the small one).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter

from bench.bench_monitor import NOISE_KIB, Run, measure, write_captures
from bench.report import ratio_line

PROTOS = {"tcp": 6, "udp": 17, "icmp": 1, "icmp6": 58}
_NAMES = {v: k for k, v in PROTOS.items()}


def wirelab_counts(path: str) -> tuple[int, Counter[tuple[str, str]], int]:
    """(records, per (protocol, what): directions/packets/ip_bytes, distinct TCP+UDP tuples)."""
    sums: Counter[tuple[str, str]] = Counter()
    tuples = set()
    records = 0
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            records += 1
            proto = r["proto"]
            if proto == "icmp" and ":" in r["id.orig_h"]:
                proto = "icmp6"
            for side in ("orig", "resp"):
                if r[f"{side}_pkts"]:
                    sums[proto, "directions"] += 1
                    sums[proto, "packets"] += r[f"{side}_pkts"]
                    sums[proto, "ip_bytes"] += r[f"{side}_ip_bytes"]
            if proto in ("tcp", "udp"):
                ends = sorted([(r["id.orig_h"], r["id.orig_p"]), (r["id.resp_h"], r["id.resp_p"])])
                tuples.add((proto, *ends))
    return records, sums, len(tuples)


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def softflowd(path: str, tmp: str) -> tuple[Run, dict[str, int], Counter[tuple[str, str]]]:
    """Run softflowd on ``path`` into an nfcapd of ours: (its run, its own statistics, what
    the collector stored per (protocol, what))."""
    port = _free_udp_port()
    store = tempfile.mkdtemp(dir=tmp, prefix="sf")
    collector = subprocess.Popen(["nfcapd", "-b", "127.0.0.1", "-p", str(port), "-w", store,
                                  "-t", "3600", "-B", "8000000"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)
        # Run in a directory of ours with short relative -p/-c names: softflowd 1.1.0 here
        # hung in accept() on its control socket at the end of the file when -c was an
        # absolute path or a longer name (seen with /tmp/x/q.ctl and softflowd.ctl; q.ctl
        # always ended).  `timeout` turns another such hang into a failure, not a stall.
        run = measure(["env", "-C", store, "timeout", "600", "softflowd", "-r", path, "-n",
                       f"127.0.0.1:{port}", "-d", "-v", "10", "-6", "-m", "65536", "-p",
                       "s.pid", "-c", "s.ctl"])
        time.sleep(1.0)
    finally:
        collector.send_signal(signal.SIGTERM)
        collector.wait(timeout=30)
    stats = {}
    for line in run.out.splitlines():
        key, _, value = line.partition(":")
        words = value.split()
        if key in ("Packets processed", "Fragments", "Flows expired") and words:
            stats[key] = int(words[0])
        elif key == "Flows exported" and len(words) >= 3:
            stats["Flows exported"] = int(words[0])
            stats["records"] = int(words[1].lstrip("("))
    stored: Counter[tuple[str, str]] = Counter()
    csv = subprocess.run(["nfdump", "-R", store, "-s", "proto", "-o", "csv", "-n", "0"],
                         capture_output=True, text=True, check=True).stdout
    for line in csv.splitlines()[1:]:
        cells = line.split(",")
        if len(cells) < 10 or not cells[4].isdigit():
            break  # the summary after the per-protocol rows
        name = _NAMES.get(int(cells[4]), f"proto {cells[4]}")
        stored[name, "directions"] += int(cells[5])
        stored[name, "packets"] += int(cells[7])
        stored[name, "ip_bytes"] += int(cells[9])
    return run, stats, stored


def compare(label: str, ours: Counter[tuple[str, str]], theirs: Counter[tuple[str, str]],
            exact: tuple[str, ...]) -> None:
    """Print per protocol wirelab / softflowd; stop if a protocol in ``exact`` differs."""
    names = dict.fromkeys([p for p, _ in ours] + [p for p, _ in theirs])
    for proto in names:
        cells = []
        for what in ("directions", "packets", "ip_bytes"):
            a, b = ours[proto, what], theirs[proto, what]
            cells.append(f"{what} {a:,} / {b:,}" + ("" if a == b else f" ({a - b:+,})"))
        same = all(ours[proto, w] == theirs[proto, w] for w in ("directions", "packets",
                                                                 "ip_bytes"))
        print(f"  {label} {proto:<9} wirelab / softflowd: {'; '.join(cells)}"
              f"{'  equal' if same else ''}", flush=True)
        if proto in exact and not same:
            raise AssertionError(f"{label}: {proto} differs from softflowd's")


def tshark_conversations(text: str) -> int:
    return sum(1 for line in text.splitlines() if "<->" in line)


def main() -> None:
    missing = [t for t in ("softflowd", "nfcapd", "nfdump", "tshark") if shutil.which(t) is None]
    if missing:
        print(f"skipped: needs {', '.join(missing)} (scripts/install-deps bench)")
        return
    packets, times, small_n = (int(x) for x in
                               os.environ.get("WIRELAB_BENCH_FLOWS", "300000,3,20000").split(","))
    wirelab = [sys.executable, "-m", "wirelab", "flows"]
    with tempfile.TemporaryDirectory(prefix="wirelab-bench-flows-") as tmp:
        started = time.perf_counter()
        short, long = write_captures(tmp, packets, times)
        small_dir = os.path.join(tmp, "small")
        os.mkdir(small_dir)
        small, _ = write_captures(small_dir, small_n, 1)
        print(f"wrote {packets:,} mixed packets, {packets * times:,} (the same {times} times) "
              f"and {small_n:,} in {time.perf_counter() - started:.0f} s", flush=True)
        floor = measure([sys.executable, "-c", "pass"]).rss_kib
        print(f"baseline: a bare interpreter under the launcher peaks at {floor:,} KiB",
              flush=True)

        # the anchor: a table that never fills, where the semantics coincide
        out = os.path.join(tmp, "small.jsonl")
        measure([*wirelab, small, "--json", "-w", out])
        _, ours, _ = wirelab_counts(out)
        _, _, stored = softflowd(small, tmp)
        compare(f"small ({small_n:,} packets)", ours, stored, exact=("tcp", "icmp", "icmp6"))

        rss: dict[tuple[str, str], int] = {}
        for label, path, count in (("short", short, packets), ("long", long, packets * times)):
            size = os.path.getsize(path) / 1e6
            out = os.path.join(tmp, f"{label}.jsonl")
            ours_run = measure([*wirelab, path, "--json", "-w", out])
            records, ours, tuples = wirelab_counts(out)
            os.unlink(out)
            peer, stats, stored = softflowd(path, tmp)
            print(f"{label} ({count:,} packets, {size:,.0f} MB): wirelab flows --json "
                  f"{records:,} records ({sum(ours[p, 'directions'] for p in PROTOS):,} "
                  f"directions); softflowd {stats.get('Flows exported', '?'):,} flows, "
                  f"{stats.get('records', '?'):,} records, collector stored "
                  f"{sum(v for (p, w), v in stored.items() if w == 'directions'):,}; "
                  f"softflowd saw {stats.get('Fragments', '?'):,} fragments", flush=True)
            compare(label, ours, stored, exact=())
            print(f"  wall wirelab {ours_run.seconds:.2f} s, softflowd {peer.seconds:.2f} s; "
                  f"CPU wirelab {ours_run.cpu:.2f} s, softflowd {peer.cpu:.2f} s; peak RSS "
                  f"wirelab {ours_run.rss_kib:,} KiB, softflowd {peer.rss_kib:,} KiB",
                  flush=True)
            ratio_line(f"{label} flows packets per CPU second", count / ours_run.cpu,
                       "softflowd", count / peer.cpu, "pkt/s", 1.0)
            ratio_line(f"{label} flows packets/s (wall)", count / ours_run.seconds,
                       "softflowd", count / peer.seconds, "pkt/s", 1.0)
            rss["wirelab", label], rss["softflowd", label] = ours_run.rss_kib, peer.rss_kib
            if label == "short":
                tshark = measure(["tshark", "-n", "-q", "-r", path, "-z", "conv,tcp", "-z",
                                  "conv,udp"])
                print(f"  tshark -z conv,tcp -z conv,udp: {tshark_conversations(tshark.out):,} "
                      f"conversations, wirelab {tuples:,} distinct TCP/UDP 5-tuples; wall "
                      f"{tshark.seconds:.2f} s, CPU {tshark.cpu:.2f} s, peak RSS "
                      f"{tshark.rss_kib:,} KiB", flush=True)
                ratio_line("short flows vs tshark conv packets per CPU second",
                           count / ours_run.cpu, "tshark", count / tshark.cpu, "pkt/s", 2.0)
        for tool in ("wirelab", "softflowd"):
            grew = rss[tool, "long"] - rss[tool, "short"]
            print(f"{tool}: peak RSS {rss[tool, 'short']:,} KiB on {packets:,} packets, "
                  f"{rss[tool, 'long']:,} KiB on {packets * times:,} ({grew:+,} KiB: "
                  f"{'flat' if grew <= NOISE_KIB else 'GROWS'}, noise allowed "
                  f"{NOISE_KIB:,} KiB)", flush=True)
