"""Full 65,535-port scans of a lab host, wirelab vs nmap, in the same run and the same lab.

The lab is wirelab's ``default`` topology, built here and always removed.  The target,
``server``, has every state: open (its listeners on 22, 53, 80, 443, 8080), closed (the other
ports: the kernel's RST), and firewall rules giving filtered by DROP (81 and 5000-5009, no
answer), filtered by REJECT with ICMP admin-prohibited (82) and closed by REJECT with a TCP
reset (83).  Both scanners run from ``client`` over the lab's bridge:

- SYN: ``nmap -sS -p- -T4 -n -Pn server`` vs ``wirelab scan server -p- --type syn -T4``;
- connect: ``nmap -sT -p- -T4 -n -Pn`` vs ``wirelab scan -p- --type connect -T4``.

Each is timed from outside as a whole process printing its normal output (start-up included:
the Python interpreter and imports for wirelab), the median of RUNS runs with the tools
interleaved; in every timed run the two tables (open/filtered rows and the "Not shown:"
lines, which together give every port's state) must be identical.  Before that, untimed,
every one of the 65,535 states from nmap's XML and wirelab's JSON is compared.  A mismatch
stops the benchmark.  Each run's CPU time (user + system of the process tree) is printed too:
on a shared machine the wall times move with the load, and CPU time tells where they went.
Targets (issue 7): SYN at most 0.5x nmap's time; connect no slower than nmap (<= 1.0x).

Run as root or as a user with unprivileged user namespaces: ``.venv/bin/python -m bench scan``.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import time
import xml.etree.ElementTree as ET

from bench.report import ratio_line
from wirelab.lab.lab import Host, Lab, unique_name

RUNS = 5
SERVER = "198.18.0.20"
RULES = [
    ["-p", "tcp", "--dport", "81", "-j", "DROP"],
    ["-p", "tcp", "--dport", "5000:5009", "-j", "DROP"],
    ["-p", "tcp", "--dport", "82", "-j", "REJECT", "--reject-with", "icmp-admin-prohibited"],
    ["-p", "tcp", "--dport", "83", "-j", "REJECT", "--reject-with", "tcp-reset"],
]
NMAP_FLAG = {"syn": "-sS", "connect": "-sT"}
TARGET = {"syn": 0.5, "connect": 1.0}


class BenchError(RuntimeError):
    pass


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(host: Host, argv: list[str], cpu: list[float] | None = None) -> tuple[float, str]:
    """Run ``argv`` in ``host``: (wall seconds, stdout); its CPU seconds (user + system, the
    whole process tree) appended to ``cpu``."""
    before = _cpu()
    started = time.perf_counter()
    done = host.run(argv, timeout=600)
    elapsed = time.perf_counter() - started
    if cpu is not None:
        cpu.append(_cpu() - before)
    if done.returncode != 0:
        raise BenchError(f"{argv[0]} failed: {done.stderr.strip()[-300:]}")
    return elapsed, done.stdout


def nmap_run(client: Host, kind: str) -> tuple[float, dict[int, str]]:
    elapsed, out = _timed(client, ["nmap", NMAP_FLAG[kind], "-p-", "-T4", "-n", "-Pn",
                                   "-oX", "-", SERVER])
    root = ET.fromstring(out)
    listed = {int(p.get("portid", "0")): p.find("state").get("state", "")  # type: ignore[union-attr]
              for p in root.iter("port")}
    # nmap lists only the ports not summarised by <extraports>; fill in the rest.
    extra = [(e.get("state", ""), int(e.get("count", "0"))) for e in root.iter("extraports")]
    if len(extra) != 1 and len(listed) != 65535:
        raise BenchError(f"nmap XML: cannot rebuild every port's state ({extra})")
    rest = extra[0][0] if extra else ""
    states = {port: listed.get(port, rest) for port in range(1, 65536)}
    return elapsed, states


def wirelab_run(client: Host, kind: str) -> tuple[float, dict[int, str]]:
    elapsed, out = _timed(client, [sys.executable, "-m", "wirelab", "scan", SERVER, "-p-",
                                   "--type", kind, "-T4", "--json"])
    data = json.loads(out)
    return elapsed, {int(p["port"]): str(p["state"]) for p in data["ports"]}


def table(out: str) -> tuple[list[str], list[list[str]]]:
    """The "Not shown" lines and the PORT/STATE pairs of a normal output: together they
    give every port's state (the ports not listed are the ones "Not shown" counts)."""
    lines = out.splitlines()
    hidden = sorted(line for line in lines if line.startswith("Not shown:"))
    rows = [line.split()[:2] for line in lines if line.split() and "/tcp" in line.split()[0]]
    return hidden, rows


def _summary(states: dict[int, str]) -> str:
    counts: dict[str, int] = {}
    for state in states.values():
        counts[state] = counts.get(state, 0) + 1
    return ", ".join(f"{n} {s}" for s, n in sorted(counts.items(), key=lambda kv: -kv[1]))


def check_all_ports(client: Host, kind: str) -> None:
    """Untimed: every port's state from nmap's XML and wirelab's JSON, compared one by one."""
    _, s_nmap = nmap_run(client, kind)
    _, s_ours = wirelab_run(client, kind)
    if s_ours != s_nmap:
        diff = sorted(p for p in s_nmap if s_nmap[p] != s_ours.get(p))[:10]
        raise BenchError(f"{kind}: states differ from nmap's at {diff}: "
                         f"nmap {[s_nmap[p] for p in diff]}, "
                         f"wirelab {[s_ours.get(p) for p in diff]}")
    print(f"  {kind}: all 65,535 states identical to nmap's ({_summary(s_ours)})", flush=True)


def bench(client: Host, kind: str) -> None:
    check_all_ports(client, kind)
    ours: list[float] = []
    theirs: list[float] = []
    cpu_ours: list[float] = []
    cpu_theirs: list[float] = []
    nmap_argv = ["nmap", NMAP_FLAG[kind], "-p-", "-T4", "-n", "-Pn", SERVER]
    our_argv = [sys.executable, "-m", "wirelab", "scan", SERVER, "-p-", "--type", kind, "-T4"]
    for run in range(RUNS):
        t_nmap, out_nmap = _timed(client, nmap_argv, cpu_theirs)
        t_ours, out_ours = _timed(client, our_argv, cpu_ours)
        if table(out_ours) != table(out_nmap):
            raise BenchError(f"{kind} run {run}: tables differ: nmap {table(out_nmap)}, "
                             f"wirelab {table(out_ours)}")
        theirs.append(t_nmap)
        ours.append(t_ours)
        print(f"  {kind} run {run + 1}: nmap {t_nmap:.3f} s (cpu {cpu_theirs[-1]:.2f} s), "
              f"wirelab {t_ours:.3f} s (cpu {cpu_ours[-1]:.2f} s), same table "
              f"({'; '.join(table(out_ours)[0])}), load {os.getloadavg()[0]:.2f}", flush=True)
    ratio_line(f"scan {kind} -p- (65,535 ports, median of {RUNS})", statistics.median(ours),
               "nmap", statistics.median(theirs), "s", TARGET[kind], higher_is_better=False)
    print(f"  (CPU, user + system, median: wirelab {statistics.median(cpu_ours):.2f} s, nmap "
          f"{statistics.median(cpu_theirs):.2f} s; wall times depend on the machine's load)",
          flush=True)


def main() -> None:
    from wirelab.lab.privilege import available

    ok, reason = available()
    if not ok:
        print(f"bench scan: no lab possible here ({reason}) (skipped)")
        return
    print(f"full-port scans of a lab host from another, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.2f} at start", flush=True)
    with Lab("default", unique_name("bscan")) as lab:
        server = lab.host("server")
        for rule in RULES:
            done = server.run(["iptables", "-w", "-A", "INPUT", *rule])
            if done.returncode != 0:
                raise BenchError(f"iptables {rule}: {done.stderr.strip()}")
        client = lab.host("client")
        for kind in ("syn", "connect"):
            bench(client, kind)


if __name__ == "__main__":
    main()
