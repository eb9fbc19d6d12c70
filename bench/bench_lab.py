"""Lab bring-up and teardown, wirelab vs Mininet, in the same run.

Both build a star: N hosts on one Linux bridge, each with an address, and no services
(Mininet: ``SingleSwitchTopo(k=N)``, ``switch=LinuxBridge``, ``controller=None``; wirelab:
``star:N`` with ``services=False``).  Each side is timed inside its own process, from the
topology object to a working network ("up": Mininet's constructor with build plus
``start()``; wirelab's ``Lab(...)`` plus ``up()``), and from there to everything removed
("down": ``net.stop()``; ``lab.down()``).  Before each teardown both sides prove the network
works with one ping from the first host to the last (not timed).  Namespace memory is freed
by the kernel asynchronously after both; neither side waits for that.

Mininet runs under Debian's /usr/bin/python3; if a run dies, the objects it created are
removed by name (links that were not there before the run) and its host shells by PID,
never with ``mn -c``.  The target: wirelab's time <= 0.5x Mininet's.  star:200 is timed for
wirelab alone (it must work).

Run as root: ``python -m bench lab``.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time

from bench.report import ratio_line

SIZES = (2, 10, 50)
REPEATS = 5
TARGET = 0.5
MININET_PY = "/usr/bin/python3"

MININET = r"""
import json, sys, time
from mininet.log import setLogLevel
from mininet.net import Mininet
from mininet.nodelib import LinuxBridge
from mininet.topo import SingleSwitchTopo

setLogLevel("error")
n = int(sys.argv[1])
topo = SingleSwitchTopo(k=n)
t0 = time.perf_counter()
net = Mininet(topo=topo, switch=LinuxBridge, controller=None)
net.start()
t1 = time.perf_counter()
print(json.dumps({"pids": [h.pid for h in net.hosts]}), flush=True)
out = net.hosts[0].cmd("ping -c1 -W2 %s" % net.hosts[-1].IP())
t2 = time.perf_counter()
net.stop()
t3 = time.perf_counter()
print(json.dumps({"up": t1 - t0, "down": t3 - t2, "ok": " 0% packet loss" in out}), flush=True)
"""

WIRELAB = r"""
import json, sys, time
from wirelab.lab.lab import Lab
from wirelab.lab.topology import star
import wirelab.lab.driver  # imported before timing, as Mininet's modules are

n, name = int(sys.argv[1]), sys.argv[2]
topo = star(n)
t0 = time.perf_counter()
lab = Lab(topo, name, services=False).up()
t1 = time.perf_counter()
last = lab.host("h%d" % n).ip
ok = lab.host("h1").run(["ping", "-c1", "-W2", "-n", last]).returncode == 0
t2 = time.perf_counter()
lab.down()
t3 = time.perf_counter()
print(json.dumps({"up": t1 - t0, "down": t3 - t2, "ok": ok}), flush=True)
"""


def _links() -> set[str]:
    out = subprocess.run(["ip", "-j", "link", "show"], capture_output=True, text=True,
                         check=True).stdout
    return {link["ifname"] for link in json.loads(out)}


def _mininet_once(n: int) -> dict[str, float]:
    before = _links()
    proc = subprocess.run([MININET_PY, "-c", MININET, str(n)], capture_output=True, text=True,
                          timeout=300)
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    pids = lines[0]["pids"] if lines else []
    result = lines[1] if len(lines) > 1 else None
    _clean_mininet(before, pids)
    if proc.returncode != 0 or result is None or not result["ok"]:
        raise RuntimeError(f"mininet star:{n} failed: {proc.stderr.strip()[-300:]}")
    return result


def _clean_mininet(before: set[str], pids: list[int]) -> None:
    """Remove what a failed Mininet run may have left: its new links, its host shells."""
    for name in sorted(_links() - before):
        if name == "s1" or name.startswith(("s1-eth", "h")):
            subprocess.run(["ip", "link", "del", name], capture_output=True)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _wirelab_once(n: int, run: int) -> dict[str, float]:
    name = f"bench{os.getpid()}-{n}-{run}"
    proc = subprocess.run([sys.executable, "-c", WIRELAB, str(n), name], capture_output=True,
                          text=True, timeout=300)
    if proc.returncode != 0:
        from wirelab.lab.lifecycle import down

        down(name)
        raise RuntimeError(f"wirelab star:{n} failed: {proc.stderr.strip()[-300:]}")
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    if not result["ok"]:
        raise RuntimeError(f"wirelab star:{n}: h1 could not ping h{n}")
    return result


def _median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main() -> None:
    if os.geteuid() != 0:
        print("bench lab: Mininet needs root; run as root (skipped)")
        return
    print(f"star:N bring-up and teardown, median of {REPEATS} runs each, alternating "
          "wirelab and Mininet", flush=True)
    for n in SIZES:
        ours, theirs = [], []
        for run in range(REPEATS):
            ours.append(_wirelab_once(n, run))
            theirs.append(_mininet_once(n))
            time.sleep(0.2)  # let the kernel free the namespaces of the previous run
        ratio_line(f"lab star:{n} up", _median(ours, "up"), "mininet", _median(theirs, "up"),
                   "s", TARGET, higher_is_better=False)
        ratio_line(f"lab star:{n} down", _median(ours, "down"), "mininet",
                   _median(theirs, "down"), "s", TARGET, higher_is_better=False)
    big = _wirelab_once(200, 0)
    print(f"lab star:200: wirelab up {big['up']:.3f} s, down {big['down']:.3f} s, h1 pings "
          "h200: yes", flush=True)


if __name__ == "__main__":
    main()
