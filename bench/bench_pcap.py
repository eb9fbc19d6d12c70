"""Reading a pcap: memory flat as the file grows, and the read rate next to dpkt's.

Writes a ~10 MB and a ~1 GB classic pcap file to a temporary directory (removed afterwards;
the big one shrinks, with a printed note, when the disk is short), then reads each one fully
in a fresh interpreter, once with ``wirelab.wire.capture.open_capture`` and once with
``dpkt.pcap.Reader``.  The peak resident set size of each reader process comes from
``os.wait4`` (the kernel's per-child rusage, the figure ``RUSAGE_CHILDREN`` aggregates), so
one run cannot hide behind another.  Target (issue 2): the 1 GB read peaks no higher than the
10 MB read, give or take 2 MiB of noise.

Sizes can be lowered for a quick look: ``WIRELAB_BENCH_PCAP_MB=10,200 python -m bench pcap``.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time

from bench.report import ratio_line

MB = 1_000_000
NOISE_KIB = 2048  # allowed difference in peak RSS between the two runs
RUNS = 2

# One reader per child process.  It touches every packet's bytes, as a consumer would.
_CHILD = {
    "wirelab": """
import sys, time
from wirelab.wire.capture import open_capture
started = time.perf_counter()
count = size = 0
for packet in open_capture(sys.argv[1]):
    count += 1
    size += len(packet.data)
print(count, size, time.perf_counter() - started)
""",
    "dpkt": """
import sys, time
import dpkt
started = time.perf_counter()
count = size = 0
with open(sys.argv[1], "rb") as f:
    for ts, buf in dpkt.pcap.Reader(f):
        count += 1
        size += len(buf)
print(count, size, time.perf_counter() - started)
""",
    "baseline": """
import wirelab.wire.capture
print(0, 0, 0.0)
""",
}


def _frames() -> list[bytes]:
    """A handful of Ethernet/IPv4/UDP frames from 60 to 1514 bytes (content is irrelevant)."""
    frames = []
    for payload in (18, 32, 56, 300, 548, 972, 1472):
        ip_len = 20 + 8 + payload
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, ip_len, 1, 0, 64, 17, 0,
                         bytes([198, 18, 0, 1]), bytes([198, 18, 0, 2]))
        udp = struct.pack("!HHHH", 40000, 9999, 8 + payload, 0)
        frames.append(b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00" + ip + udp
                      + bytes(payload))
    return frames


def write_capture(path: str, target_bytes: int) -> int:
    """Write frames round-robin until the file reaches ``target_bytes``; return the count."""
    from wirelab.wire.pcap import PcapWriter

    frames = _frames()
    count = size = 0
    with PcapWriter(path) as writer:
        while size < target_bytes:
            frame = frames[count % len(frames)]
            writer.write(frame, (1_700_000_000 + count // 1000, (count % 1000) * 1_000_000))
            size += 16 + len(frame)
            count += 1
    return count


def measure(kind: str, path: str) -> tuple[int, float, int]:
    """(packets, seconds, peak RSS in KiB) of one reader run in a fresh interpreter."""
    proc = subprocess.Popen([sys.executable, "-c", _CHILD[kind], path], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    proc.stdout.close()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} reader failed on {path} (exit {proc.returncode})")
    count, _, seconds = out.split()
    return int(count), float(seconds), usage.ru_maxrss  # ru_maxrss is in KiB on Linux


def _sizes(directory: str) -> tuple[int, int]:
    wanted = os.environ.get("WIRELAB_BENCH_PCAP_MB", "10,1000")
    small_mb, big_mb = (int(x) for x in wanted.split(","))
    small, big = small_mb * MB, big_mb * MB
    free = shutil.disk_usage(directory).free
    if free < (small + big) * 1.5:
        big = max(small, int(free / 1.5) - small)
        print(f"note: only {free / MB:,.0f} MB free in {directory}; the big file is scaled "
              f"down to {big / MB:,.0f} MB", flush=True)
    return small, big


def main() -> None:
    directory = tempfile.mkdtemp(prefix="wirelab-bench-pcap-")
    try:
        small, big = _sizes(directory)
        paths = {}
        for label, size in (("small", small), ("big", big)):
            path = os.path.join(directory, f"{label}.pcap")
            started = time.perf_counter()
            count = write_capture(path, size)
            paths[label] = path
            print(f"wrote {path}: {os.path.getsize(path) / MB:,.1f} MB, {count:,} packets "
                  f"in {time.perf_counter() - started:.1f} s", flush=True)
        _, _, base_rss = measure("baseline", paths["small"])
        print(f"baseline (interpreter + wirelab.wire.capture imported, nothing read): "
              f"peak RSS {base_rss:,} KiB", flush=True)
        results: dict[tuple[str, str], tuple[int, float, int]] = {}
        for label in ("small", "big"):
            for kind in ("wirelab", "dpkt"):
                # Best time of RUNS alternating runs (other work on the machine only slows a
                # run down); the peak RSS reported is the highest of them, to be conservative.
                runs = [measure(kind, paths[label]) for _ in range(RUNS)]
                count = runs[0][0]
                seconds = min(r[1] for r in runs)
                rss = max(r[2] for r in runs)
                results[kind, label] = (count, seconds, rss)
                print(f"read {os.path.getsize(paths[label]) / MB:,.1f} MB with {kind}: "
                      f"{count:,} packets in {seconds:.2f} s = {count / seconds:,.0f} "
                      f"packets/s (best of {RUNS}), peak RSS {rss:,} KiB", flush=True)
        _report(results, small, big)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _report(results: dict[tuple[str, str], tuple[int, float, int]], small: int,
            big: int) -> None:
    for label, size in (("small", small), ("big", big)):
        ours, theirs = results["wirelab", label], results["dpkt", label]
        assert ours[0] == theirs[0], "the two readers disagree on the packet count"
        ratio_line(f"pcap read rate, {size / MB:,.0f} MB file", ours[0] / ours[1], "dpkt",
                   theirs[0] / theirs[1], "packets/s", target=1.0)
    for kind in ("wirelab", "dpkt"):
        small_rss, big_rss = results[kind, "small"][2], results[kind, "big"][2]
        verdict = "meets" if big_rss <= small_rss + NOISE_KIB else "MISSES"
        print(f"memory flat ({kind}): {big / MB:,.0f} MB file peak RSS {big_rss:,} KiB, "
              f"{small / MB:,.0f} MB file {small_rss:,} KiB, difference "
              f"{big_rss - small_rss:+,} KiB ({verdict} target <= +{NOISE_KIB:,} KiB)",
              flush=True)
    ours_small, ours_big = results["wirelab", "small"][2], results["wirelab", "big"][2]
    ratio_line(f"wirelab peak RSS, {big / MB:,.0f} MB vs {small / MB:,.0f} MB file", ours_big,
               f"{small / MB:,.0f} MB file", ours_small, "KiB",
               target=round((ours_small + NOISE_KIB) / ours_small, 3), higher_is_better=False)


if __name__ == "__main__":
    main()
