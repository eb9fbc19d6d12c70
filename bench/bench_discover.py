"""wirelab discover vs nmap -sn, from the same lab host to the same networks, same run.

Two sweeps, each run by both tools alternately REPEATS times; the figure is the median wall
time of the whole process (what a user waits for; Python's start-up included):

- the local segment 198.18.0.0/24 from ``client``: ARP (wirelab) against ``nmap -sn -n``
  (which also uses ARP there);
- the routed segment 198.18.1.0/24 behind the router: ICMP echo, TCP SYN 443, TCP ACK 80 and
  ICMP timestamp by both (nmap's default probes as root).

Both must find the same hosts up before a time counts.  Target: no slower than nmap.
Run as root or with unprivileged user namespaces: ``python -m bench discover``.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import xml.etree.ElementTree as ET

from bench.report import ratio_line
from wirelab.lab.lab import Host, Lab, unique_name

REPEATS = 3
NETWORKS = {"local segment (ARP)": "198.18.0.0/24", "routed /24 (probes)": "198.18.1.0/24"}


def _timed(host: Host, argv: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = host.run(argv, timeout=120)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{argv}: {done.stderr.strip()}")
    return took, str(done.stdout)


def _ours(client: Host, network: str) -> tuple[float, set[str]]:
    took, out = _timed(client, [sys.executable, "-m", "wirelab", "discover", network, "--json"])
    return took, {h["ip"] for h in json.loads(out)["hosts"]}


def _nmap(client: Host, network: str) -> tuple[float, set[str]]:
    took, out = _timed(client, ["nmap", "-sn", "-n", "-oX", "-", network])
    up = set()
    for host in ET.fromstring(out).iter("host"):
        status, address = host.find("status"), host.find("address")
        if status is not None and address is not None and status.get("state") == "up":
            up.add(address.get("addr", ""))
    return took, up - {"198.18.0.10"}  # nmap lists the scanning host itself on its segment


def main() -> None:
    with Lab("default", unique_name("bench")) as lab:
        client = lab.host("client")
        for what, network in NETWORKS.items():
            ours, theirs = [], []
            for _ in range(REPEATS):
                t_nmap, up_nmap = _nmap(client, network)
                t_ours, up_ours = _ours(client, network)
                if up_ours != up_nmap:
                    raise SystemExit(f"{network}: wirelab found {sorted(up_ours)}, "
                                     f"nmap {sorted(up_nmap)}")
                ours.append(t_ours)
                theirs.append(t_nmap)
            print(f"{network}: both found {sorted(up_ours)}")
            ratio_line(f"discover {what}, median of {REPEATS}", statistics.median(ours),
                       "nmap -sn", statistics.median(theirs), "s", 1.0,
                       higher_is_better=False)


if __name__ == "__main__":
    main()
