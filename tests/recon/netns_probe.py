"""Run inside an empty network namespace by test_scope.py: scan refused targets and report
whether the namespace's IP counters moved (they count every send attempt, routed or not).

Prints one JSON object: the scans' exit codes and stderr, the counter deltas during the
scans, and the deltas during a control send (proof that the counters see an attempt); then
the same for a scan let through by --i-own-this-network (it tries, and in this empty
namespace nothing can leave).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys


def counters() -> dict[str, int]:
    lines = [line.split() for line in open("/proc/net/snmp") if line.startswith("Ip:")]
    names, values = lines[0][1:], lines[1][1:]
    stats = dict(zip(names, map(int, values), strict=True))
    return {k: stats[k] for k in ("OutRequests", "OutNoRoutes")}


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before[k] for k in before}


def main() -> None:
    env = {k: v for k, v in os.environ.items() if k != "WIRELAB_LAB"}
    runs = []
    before = counters()
    for target, kind in (("192.0.2.1", "syn"), ("192.0.2.1", "connect"),
                         ("198.18.0.20", "syn")):
        done = subprocess.run([sys.executable, "-m", "wirelab", "scan", target, "-p", "1-100",
                               "--type", kind], capture_output=True, text=True, env=env,
                              check=False)
        runs.append({"rc": done.returncode, "stderr": done.stderr, "stdout": done.stdout})
    scans = delta(before, counters())
    before = counters()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as control:
        try:
            control.sendto(b"x", ("192.0.2.1", 9))  # no route here: counted, goes nowhere
        except OSError:
            pass
    control = delta(before, counters())
    before = counters()
    done = subprocess.run([sys.executable, "-m", "wirelab", "scan", "192.0.2.1", "-p", "1-3",
                           "--type", "connect", "--i-own-this-network", "--json"],
                          capture_output=True, text=True, env=env, check=False)
    owned = {"rc": done.returncode, "stderr": done.stderr, "stdout": done.stdout,
             "counters": delta(before, counters())}
    print(json.dumps({"runs": runs, "scans": scans, "control": control, "owned": owned}))


if __name__ == "__main__":
    main()
