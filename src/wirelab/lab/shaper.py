"""Userspace delay, jitter, loss and reordering, for kernels built without netem.

tc-netem(8) is the normal way; some kernels (this project's CI VM among them) are built
without CONFIG_NET_SCH_NETEM.  Then one shaper process runs inside each shaped host: an
iptables rule in the host's ``mangle`` table sends the packets leaving a shaped interface to an
NFQUEUE (``--queue-bypass``: if the shaper is gone, packets pass unshaped), and the shaper
gives each packet its verdict:

- loss: DROP with the given probability;
- reorder: ACCEPT at once with the given probability (the packet overtakes delayed ones,
  which is what netem's ``reorder`` does);
- delay and jitter: ACCEPT after ``delay`` +/- ``jitter`` (uniform, netem's default without a
  distribution table); packets keep their order unless jitter reorders them.

It works on IP packets (the netfilter hook), where netem works on every frame; ARP is not
delayed.  Rate limiting stays in the kernel (tbf), which every kernel here has.
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

from wirelab.lab.nfqueue import NF_ACCEPT, NF_DROP, QueueSocket
from wirelab.lab.rootless import set_process_name

CHAIN = "WIRELAB_SHAPE"
QUEUE_BASE = 100  # queue number = QUEUE_BASE + the interface's position on its host


@dataclass(frozen=True)
class Rule:
    iface: str
    queue: int
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss_pct: float = 0.0
    reorder_pct: float = 0.0


def _iptables(argv: list[str], stdin: str | None = None, check: bool = True) -> int:
    result = subprocess.run(argv, input=stdin, text=True, capture_output=True)
    if check and result.returncode != 0:
        raise SystemExit(f"shaper: {' '.join(argv)}: {result.stderr.strip()}")
    return result.returncode


def install(rules: list[Rule]) -> None:
    lines = ["*mangle", f":{CHAIN} - [0:0]"]
    lines += [f"-A {CHAIN} -o {r.iface} -j NFQUEUE --queue-num {r.queue} --queue-bypass"
              for r in rules]
    lines.append("COMMIT")
    _iptables(["iptables-restore", "--noflush"], "\n".join(lines) + "\n")
    if _iptables(["iptables", "-t", "mangle", "-C", "POSTROUTING", "-j", CHAIN], check=False):
        _iptables(["iptables", "-t", "mangle", "-A", "POSTROUTING", "-j", CHAIN])


def uninstall() -> None:
    _iptables(["iptables", "-t", "mangle", "-F", CHAIN], check=False)


class Scheduler:
    """Verdicts now or later; the heap holds (due time, arrival order, queue, packet id)."""

    def __init__(self, qs: QueueSocket, rules: list[Rule], rng: random.Random) -> None:
        self.qs = qs
        self.rules = {r.queue: r for r in rules}
        self.rng = rng
        self.heap: list[tuple[float, int, int, int]] = []
        self.arrivals = 0

    def arrive(self, queue: int, packet_id: int, now: float) -> None:
        rule = self.rules[queue]
        self.arrivals += 1
        if rule.loss_pct and self.rng.random() * 100.0 < rule.loss_pct:
            self.qs.verdict(queue, packet_id, NF_DROP)
            return
        if rule.reorder_pct and self.rng.random() * 100.0 < rule.reorder_pct:
            self.qs.verdict(queue, packet_id, NF_ACCEPT)
            return
        delay = rule.delay_ms
        if rule.jitter_ms:
            delay += self.rng.uniform(-rule.jitter_ms, rule.jitter_ms)
        if delay <= 0:
            self.qs.verdict(queue, packet_id, NF_ACCEPT)
            return
        heapq.heappush(self.heap, (now + delay / 1000.0, self.arrivals, queue, packet_id))

    def release(self, now: float) -> float | None:
        """Accept every packet that is due; return seconds until the next one (None: none)."""
        while self.heap and self.heap[0][0] <= now:
            _, _, queue, packet_id = heapq.heappop(self.heap)
            self.qs.verdict(queue, packet_id, NF_ACCEPT)
        return max(0.0, self.heap[0][0] - now) if self.heap else None


def run(rules: list[Rule]) -> None:
    qs = QueueSocket()
    for rule in rules:
        qs.bind(rule.queue)
    install(rules)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    sched = Scheduler(qs, rules, random.Random())
    wait: float | None = None
    while True:
        ready, _, _ = select.select([qs], [], [], wait)
        now = time.monotonic()
        if ready:
            for queue, packet_id in qs.packets():
                sched.arrive(queue, packet_id, now)
        wait = sched.release(time.monotonic())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="wirelab lab userspace shaper (internal)")
    parser.add_argument("--lab", required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("--rules", required=True, help="JSON list of rules")
    args = parser.parse_args(argv)
    set_process_name(f"wl-shape-{args.lab}")
    rules = [Rule(**r) for r in json.loads(args.rules)]

    def _stop(*_: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _stop)
    try:
        run(rules)
    finally:
        uninstall()
    return 0


if __name__ == "__main__":
    sys.exit(main())
