"""``wirelab stats`` next to tshark's -z statistics: same numbers, speed, flat memory.

Writes a capture of seeded mixed packets (:func:`wirelab.samples.mixed_frames`: TCP, UDP,
DNS, ICMP, ARP, IPv6, VLAN, fragments) and a longer one made of the same packets played
several times over (timestamps shifted): the same conversations, more packets.  On each, in
the same run and each in a fresh process: ``tshark -n -q -r FILE -z io,phs`` against
``wirelab stats FILE phs --json``, and ``tshark ... -z conv,ip`` against ``wirelab stats FILE
conv ip --json``.  Every number is checked equal before a time is printed: the conversation
table row by row (frames exact, bytes as tshark prints them, start and duration); the
hierarchy down to the transport layer and its dns node (below tcp/udp tshark's heuristics
claim some random payloads -- rx, vxlan, rtcp -- which wirelab does not imitate: the nodes
that differ there are printed, not hidden).

Times: best wall clock of RUNS runs, and the CPU seconds (user + system) of that run, from
``os.wait4``; the ratio is tshark's time over ours (target >= 2x, issue 8).  Peak memory:
``ru_maxrss`` of each child.  Memory is flat when the long capture peaks no higher than the
short one, within NOISE_KIB.

Sizes: ``WIRELAB_BENCH_MONITOR=360000,3 python -m bench monitor`` (packets of the short
capture, times it is played in the long one).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

from bench.report import ratio_line

RUNS = 2
NOISE_KIB = 4096


@dataclass
class Run:
    seconds: float
    cpu: float
    rss_kib: int
    out: str


_LAUNCHER = """
import json, os, subprocess, sys, time
started = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:], stderr=subprocess.DEVNULL)
_, status, usage = os.wait4(proc.pid, 0)
sys.stderr.write(json.dumps([time.perf_counter() - started, usage.ru_utime + usage.ru_stime,
                             usage.ru_maxrss, os.waitstatus_to_exitcode(status)]))
"""
"""Runs the measured command and reports its rusage.  Why a launcher: a child's ru_maxrss
includes the memory of the process it was forked from (vfork shares it until exec), and this
bench's process grows as it parses the outputs; the launcher is a fresh, small interpreter,
the same few MiB under every measured command (printed as the baseline)."""


def measure(argv: list[str]) -> Run:
    """One child process: wall time, CPU time, peak RSS and its standard output."""
    proc = subprocess.run([sys.executable, "-c", _LAUNCHER, *argv], capture_output=True,
                          check=True)
    seconds, cpu, rss, code = json.loads(proc.stderr)
    if code != 0:
        raise RuntimeError(f"{argv[:3]}... failed (exit {code})")
    return Run(seconds, cpu, rss, proc.stdout.decode())


def best(argv: list[str]) -> Run:
    runs = [measure(argv) for _ in range(RUNS)]
    fastest = min(runs, key=lambda r: r.seconds)
    fastest.rss_kib = max(r.rss_kib for r in runs)
    return fastest


def write_captures(directory: str, packets: int, times: int) -> tuple[str, str]:
    from wirelab import samples
    from wirelab.wire.capture import open_capture
    from wirelab.wire.pcap import PcapWriter

    short = os.path.join(directory, "short.pcap")
    samples.write_pcap(short, samples.mixed_frames(packets, seed=2544))
    with open_capture(short) as reader:
        frames = [(p.ts_ns, p.data, p.orig_len) for p in reader]
    span = frames[-1][0] - frames[0][0] + 1_000_000
    long = os.path.join(directory, "long.pcap")
    with PcapWriter(long, nanosecond=True) as writer:
        for n in range(times):
            for ts, data, length in frames:
                ts += n * span
                writer.write(data, (ts // 1_000_000_000, ts % 1_000_000_000), length)
    return short, long


def check_conv(tshark_out: str, ours_out: str) -> tuple[int, list[str]]:
    """(conversations equal, tshark's conversations wirelab does not have).

    The second list is printed: on random payloads tshark sometimes finds a tunnel (an MPLS
    stack and an IPv4 header in a UDP datagram from port 6635, RFC 7510) and counts the
    inner addresses too; wirelab reads the outermost IP header only.  Any other difference,
    a conversation of ours tshark lacks or one number unequal, stops the bench.
    """
    from tests.monitor.tshark_text import parse_conv, size_text

    from wirelab.monitor.conv import printed_duration

    theirs = parse_conv(tshark_out)
    mine = {frozenset((str(r["a"]), str(r["b"]))): r for r in json.loads(ours_out)["ip"]}
    if set(mine) - set(theirs):
        raise AssertionError(f"conv ip: {len(set(mine) - set(theirs))} conversations that "
                             "tshark does not have")
    extra = [f"{t['a']} <-> {t['b']}: {t['frames']} frames" for k, t in theirs.items()
             if k not in mine]
    for key, t in theirs.items():
        if key not in mine:
            continue
        o = mine[key]
        same = (all(o[n] == t[n] for n in ("a", "b", "frames_ab", "frames_ba", "frames"))
                and all(size_text(o[n]) == t[n] for n in ("bytes_ab", "bytes_ba", "bytes"))
                and abs(o["rel_start"] - t["rel_start"]) <= 1e-9
                and f"{printed_duration(o['rel_start'], o['duration']):.4f}"
                == t["duration_text"])
        if not same:
            raise AssertionError(f"conv ip differs: tshark {t}, wirelab {o}")
    return len(mine), extra


def check_phs(tshark_out: str, ours_out: str) -> tuple[int, list[str]]:
    """(nodes equal, the nodes below transport that differ, printed as tshark/ours)."""
    from tests.monitor.tshark_text import cut_below, parse_phs

    from wirelab.monitor.phs import TRANSPORT

    theirs = parse_phs(tshark_out)
    mine = {tuple(str(r["path"]).split("/")): (r["frames"], r["bytes"])
            for r in json.loads(ours_out)["phs"]}
    if cut_below(mine, TRANSPORT) != cut_below(theirs, TRANSPORT):  # type: ignore[arg-type]
        raise AssertionError("phs differs down to the transport layer")
    dns = ("eth", "ip", "udp", "dns")
    if mine.get(dns) != theirs.get(dns):
        raise AssertionError(f"phs dns: tshark {theirs.get(dns)}, wirelab {mine.get(dns)}")
    differ = [f"{'/'.join(k)} tshark {theirs.get(k)} wirelab {mine.get(k)}"
              for k in dict.fromkeys([*theirs, *mine]) if theirs.get(k) != mine.get(k)]
    return len(cut_below(mine, TRANSPORT)) + 1, differ  # type: ignore[arg-type]


def main() -> None:
    if shutil.which("tshark") is None:
        print("tshark is not installed: nothing to compare with (apt-get install tshark)")
        return
    packets, times = (int(x) for x in
                      os.environ.get("WIRELAB_BENCH_MONITOR", "360000,3").split(","))
    directory = tempfile.mkdtemp(prefix="wirelab-bench-monitor-")
    wirelab = [sys.executable, "-m", "wirelab", "stats"]
    try:
        started = time.perf_counter()
        short, long = write_captures(directory, packets, times)
        print(f"wrote {packets:,} mixed packets and {packets * times:,} (the same {times} "
              f"times) in {time.perf_counter() - started:.0f} s", flush=True)
        floor = measure([sys.executable, "-c", "pass"]).rss_kib
        print(f"baseline: a bare interpreter under the launcher peaks at {floor:,} KiB",
              flush=True)
        rss: dict[tuple[str, str, str], int] = {}
        for label, path in (("short", short), ("long", long)):
            count = packets if label == "short" else packets * times
            size = os.path.getsize(path) / 1e6
            for stat, z, ours_args in (("phs", "io,phs", ["phs"]),
                                       ("conv ip", "conv,ip", ["conv", "ip"])):
                tshark = best(["tshark", "-n", "-q", "-r", path, "-z", z])
                ours = best([*wirelab, path, *ours_args, "--json"])
                if stat == "phs":
                    nodes, differ = check_phs(tshark.out, ours.out)
                    what = f"{nodes} nodes equal to transport + dns"
                else:
                    equal, extra = check_conv(tshark.out, ours.out)
                    what = f"{equal:,} conversations equal"
                    if extra:
                        what += (f", {len(extra)} more in tshark's table (tunnels found in "
                                 f"random payloads, not dissected by wirelab: "
                                 f"{'; '.join(extra[:3])})")
                print(f"{label} ({count:,} packets, {size:,.0f} MB) {stat}: {what}; wall "
                      f"wirelab {ours.seconds:.2f} s, tshark {tshark.seconds:.2f} s; CPU "
                      f"wirelab {ours.cpu:.2f} s, tshark {tshark.cpu:.2f} s; peak RSS "
                      f"wirelab {ours.rss_kib:,} KiB, tshark {tshark.rss_kib:,} KiB",
                      flush=True)
                if stat == "phs" and label == "short" and differ:
                    print("  below transport, tshark's heuristics (not imitated):")
                    for line in differ:
                        print(f"    {line}")
                ratio_line(f"{label} {stat} packets/s (wall)", count / ours.seconds,
                           "tshark", count / tshark.seconds, "pkt/s", 2.0)
                ratio_line(f"{label} {stat} packets per CPU second", count / ours.cpu,
                           "tshark", count / tshark.cpu, "pkt/s", 2.0)
                rss["wirelab", stat, label] = ours.rss_kib
                rss["tshark", stat, label] = tshark.rss_kib
        for stat in ("phs", "conv ip"):
            for tool in ("wirelab", "tshark"):
                grew = rss[tool, stat, "long"] - rss[tool, stat, "short"]
                verdict = "flat" if grew <= NOISE_KIB else "GROWS"
                print(f"{tool} {stat}: peak RSS {rss[tool, stat, 'short']:,} KiB on "
                      f"{packets:,} packets, {rss[tool, stat, 'long']:,} KiB on "
                      f"{packets * times:,} ({grew:+,} KiB: {verdict}, noise allowed "
                      f"{NOISE_KIB:,} KiB)", flush=True)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
