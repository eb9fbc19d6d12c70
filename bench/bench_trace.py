"""wirelab trace vs Linux traceroute, from the same lab host to the same target, same run.

The ``path`` lab (client - r1 - r2 - r3 - far, ICMP rate limits lifted) is traced by both
tools, alternating, REPEATS times each; the figure is the median wall time:

- whole process, every hop answering: what a user waits for (Python's start-up included);
- the trace alone: ``wirelab.recon.trace.trace()`` timed inside one process in the lab host,
  against traceroute's whole process (a C program starts in about a millisecond);
- silent hops: r2 drops forwarded UDP, ``-m 8 -w 1``, so both tools wait for hops 3 to 8;
  here the loop (16 probes in flight, the near/here waits) decides the time, not the
  language.

Both outputs are checked to name the same hops before a time counts.  Run as root or as a
user with unprivileged user namespaces: ``python -m bench trace``.
"""

from __future__ import annotations

import re
import statistics
import sys
import time

from bench.report import ratio_line
from wirelab.lab.lab import Host, Lab, unique_name

REPEATS = 7
FAR = "198.18.23.10"
TIME = re.compile(r"  \d+\.\d{3} ms")


def _timed(host: Host, argv: list[str]) -> tuple[float, list[str]]:
    started = time.perf_counter()
    done = host.run(argv, timeout=120)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{argv}: {done.stderr.strip()}")
    return took, [TIME.sub("", line) for line in str(done.stdout).splitlines()]


def _inside(lab: str, reps: int) -> list[float]:
    import os

    from wirelab.recon.trace import Options, trace

    os.environ["WIRELAB_LAB"] = lab
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        result = trace(FAR, Options())
        times.append(time.perf_counter() - started)
        assert result.reached
    return times


def _pair(client: Host, extra: list[str]) -> tuple[float, float]:
    ours, theirs = [], []
    for _ in range(REPEATS):
        t, a = _timed(client, ["traceroute", "-n", *extra, FAR])
        theirs.append(t)
        t, b = _timed(client, [sys.executable, "-m", "wirelab", "trace", "-n", *extra, FAR])
        ours.append(t)
        if a != b:
            raise SystemExit(f"outputs differ:\n{a}\n{b}")
    return statistics.median(ours), statistics.median(theirs)


def main() -> None:
    with Lab("path", unique_name("b"), services=False) as lab:
        client = lab.host("client")
        ours, theirs = _pair(client, [])
        ratio_line("trace 4 hops, whole process (median of 7)", ours, "traceroute", theirs,
                   "s", 1.0, higher_is_better=False)
        inside = statistics.median(client.call(_inside, lab.name, REPEATS))
        ratio_line("trace 4 hops, wirelab's trace() in-process vs traceroute's process",
                   inside, "traceroute", theirs, "s", 1.0, higher_is_better=False)
        rule = ["FORWARD", "-p", "udp", "-j", "DROP"]
        lab.host("r2").run(["iptables", "-w", "-A", *rule], check=True)
        ours, theirs = _pair(client, ["-m", "8", "-w", "1"])
        ratio_line("trace with hops 3-8 silent (-m 8 -w 1), whole process", ours,
                   "traceroute", theirs, "s", 1.0, higher_is_better=False)


if __name__ == "__main__":
    main()
