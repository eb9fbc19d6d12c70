"""Flow export: ``wirelab export`` next to nfdump's own pcap-to-flows tool, nfpcapd.

Writes a capture of mixed traffic (``samples.mixed_frames``; 300,000 packets by default,
``WIRELAB_BENCH_EXPORT_PACKETS`` to change it), then, each in a child process timed with
``os.wait4`` (CPU seconds, user + system, so a busy machine does not blur the figures; wall
time printed too):

- ``wirelab export FILE --ipfix 127.0.0.1:PORT --pps 0`` into nfcapd on loopback;
- ``nfpcapd -r FILE -w DIR``: nfdump 1.7's reader, which builds flows from a pcap and writes
  nfcapd files itself (its flows are unidirectional with 300/60 s active/idle timeouts, so
  its record count differs; both totals are printed from ``nfdump -I``);
- ``wirelab flows FILE --json``: the flow table alone, so the export's own share shows;
- ``wirelab export FILE --parquet DIR``: the history writer on the same flows.

No target is set by the issue for export; the line prints the ratio against nfpcapd with a
floor of 0.5x (half nfpcapd's rate) as this bench's own goal.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from bench.report import ratio_line


def _timed(argv: list[str], **kw: object) -> tuple[float, float, str]:
    """(CPU seconds, wall seconds, stdout) of ``argv`` run to its end."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, **kw)  # type: ignore[call-overload]
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{argv[0]} failed: {out[-500:]}")
    return usage.ru_utime + usage.ru_stime, time.perf_counter() - started, out


def _totals(directory: str) -> dict[str, int]:
    totals = {"Flows": 0, "Packets": 0, "Bytes": 0}
    for name in sorted(os.listdir(directory)):
        if not name.startswith("nfcapd.2"):
            continue
        out = subprocess.run(["nfdump", "-r", os.path.join(directory, name), "-I"],
                             capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            key, _, value = line.partition(":")
            if key in totals:
                totals[key] += int(value)
    return totals


def main() -> None:
    if shutil.which("nfcapd") is None or shutil.which("nfpcapd") is None:
        print("skipped: needs nfcapd and nfpcapd (apt-get install nfdump)")
        return
    from wirelab import samples

    count = int(os.environ.get("WIRELAB_BENCH_EXPORT_PACKETS", "300000"))
    wirelab = [sys.executable, "-m", "wirelab"]
    with tempfile.TemporaryDirectory(prefix="wirelab-bench-export-") as tmp:
        pcap = os.path.join(tmp, "mixed.pcap")
        samples.write_pcap(pcap, samples.mixed_frames(count))
        print(f"capture: {count:,} packets, {os.path.getsize(pcap) / 1e6:.1f} MB")

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        ours_dir, peer_dir = os.path.join(tmp, "ours"), os.path.join(tmp, "peer")
        os.mkdir(ours_dir)
        os.mkdir(peer_dir)
        collector = subprocess.Popen(["nfcapd", "-b", "127.0.0.1", "-p", str(port), "-w",
                                      ours_dir, "-t", "3600", "-B", "8000000"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(1.0)
            ours_cpu, ours_wall, _ = _timed([*wirelab, "export", pcap, "--ipfix",
                                             f"127.0.0.1:{port}", "--pps", "0"])
            time.sleep(1.0)
        finally:
            collector.send_signal(signal.SIGTERM)
            collector.wait(timeout=30)
        peer_cpu, peer_wall, _ = _timed(["nfpcapd", "-r", pcap, "-w", peer_dir])
        flows_cpu, flows_wall, _ = _timed([*wirelab, "flows", pcap, "--json"])
        hist_cpu, hist_wall, _ = _timed([*wirelab, "export", pcap, "--parquet",
                                         os.path.join(tmp, "hist")])
        ours, peer = _totals(ours_dir), _totals(peer_dir)
        print(f"wirelab export --ipfix: {ours_cpu:.2f} s CPU ({ours_wall:.2f} s wall); "
              f"nfdump reads {ours}")
        print(f"nfpcapd -r:             {peer_cpu:.2f} s CPU ({peer_wall:.2f} s wall); "
              f"nfdump reads {peer}")
        print(f"wirelab flows --json:   {flows_cpu:.2f} s CPU ({flows_wall:.2f} s wall): the "
              "flow table alone")
        print(f"wirelab export --parquet: {hist_cpu:.2f} s CPU ({hist_wall:.2f} s wall)")
        ratio_line("packets to flows at a collector", count / ours_cpu, "nfpcapd",
                   count / peer_cpu, "packets/s CPU", 0.5)
