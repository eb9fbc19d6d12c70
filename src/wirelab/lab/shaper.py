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

Only ``loss`` may lose a packet.  The kernel drops every packet still waiting for a verdict
when the queue's socket closes, so stopping (SIGTERM, sent when a link is reshaped or cleared)
is done in order: remove the rules (new packets pass unshaped), verdict the packets still
held at their due time (at most :data:`STOP_GRACE` seconds, then at once), read the last
notifications, and only then close.  The socket side of the same promise is in
:mod:`wirelab.lab.nfqueue` (no ENOBUFS death, no notification discarded).

At exit one line goes to the shaper's log (``logs/<host>-shaper.log``): packets queued,
verdicts given, overruns, and the worst lateness of a verdict, which tells CPU starvation
(late verdicts, nothing lost) from a lost packet (fewer verdicts than packets).
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
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
STOP_GRACE = 1.0  # seconds a stopping shaper keeps delaying held packets (SIGKILL comes at 2)


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
        self.verdicts = 0
        self.late = 0.0  # worst lateness of a delayed verdict, in seconds

    def _verdict(self, queue: int, packet_id: int, verdict: int) -> None:
        self.qs.verdict(queue, packet_id, verdict)
        self.verdicts += 1

    def arrive(self, queue: int, packet_id: int, now: float) -> None:
        rule = self.rules[queue]
        self.arrivals += 1
        if rule.loss_pct and self.rng.random() * 100.0 < rule.loss_pct:
            self._verdict(queue, packet_id, NF_DROP)
            return
        if rule.reorder_pct and self.rng.random() * 100.0 < rule.reorder_pct:
            self._verdict(queue, packet_id, NF_ACCEPT)
            return
        delay = rule.delay_ms
        if rule.jitter_ms:
            delay += self.rng.uniform(-rule.jitter_ms, rule.jitter_ms)
        if delay <= 0:
            self._verdict(queue, packet_id, NF_ACCEPT)
            return
        heapq.heappush(self.heap, (now + delay / 1000.0, self.arrivals, queue, packet_id))

    def release(self, now: float) -> float | None:
        """Accept every packet that is due; return seconds until the next one (None: none)."""
        while self.heap and self.heap[0][0] <= now:
            due, _, queue, packet_id = heapq.heappop(self.heap)
            self.late = max(self.late, now - due)
            self._verdict(queue, packet_id, NF_ACCEPT)
        return max(0.0, self.heap[0][0] - now) if self.heap else None

    def flush(self) -> None:
        """Accept every held packet now."""
        while self.heap:
            _, _, queue, packet_id = heapq.heappop(self.heap)
            self._verdict(queue, packet_id, NF_ACCEPT)

    def summary(self) -> str:
        return (f"shaper: {self.arrivals} packets, {self.verdicts} verdicts, {len(self.heap)} "
                f"held, {self.qs.overruns} overruns, latest verdict {self.late * 1000:.1f} ms "
                "late")


def _serve(sched: Scheduler, wake: int, until: float | None) -> None:
    """Verdict packets as they fall due; return when ``wake`` is readable (a signal came), or
    at ``until`` (monotonic) / when nothing is held, if ``until`` is given."""
    qs = sched.qs
    now = time.monotonic()
    for queue, packet_id in qs.packets():  # first: what bind() kept is not signalled again
        sched.arrive(queue, packet_id, now)
    wait: float | None = sched.release(now)
    while until is None or (sched.heap and time.monotonic() < until):
        if until is not None:
            left = max(0.0, until - time.monotonic())
            wait = left if wait is None else min(wait, left)
        ready, _, _ = select.select([qs.fileno(), wake], [], [], wait)
        now = time.monotonic()
        for queue, packet_id in qs.packets():
            sched.arrive(queue, packet_id, now)
        wait = sched.release(time.monotonic())
        if wake in ready:
            while _drain(wake):
                pass
            return


def _drain(fd: int) -> bool:
    try:
        return bool(os.read(fd, 64))
    except BlockingIOError:
        return False


def _stop(sched: Scheduler, wake: int) -> None:
    """Let go of every held packet: rules out, held packets out on time, then the rest.

    A second SIGTERM cuts the grace short; SIGKILL (after 2 s) would drop what is held.
    """
    uninstall()
    _serve(sched, wake, time.monotonic() + STOP_GRACE)
    now = time.monotonic()
    for queue, packet_id in sched.qs.packets():  # queued before the rules went
        sched.arrive(queue, packet_id, now)
    sched.flush()


def run(rules: list[Rule]) -> None:
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    stopping: list[int] = []
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGTERM, lambda signum, _frame: stopping.append(signum))
    qs = QueueSocket()
    sched = Scheduler(qs, rules, random.Random())
    try:
        for rule in rules:
            qs.bind(rule.queue)
        install(rules)
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        while not stopping:
            _serve(sched, wake_r, None)
        _stop(sched, wake_r)
    finally:
        sys.stderr.write(sched.summary() + "\n")
        sys.stderr.flush()
        qs.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="wirelab lab userspace shaper (internal)")
    parser.add_argument("--lab", required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("--rules", required=True, help="JSON list of rules")
    args = parser.parse_args(argv)
    set_process_name(f"wl-shape-{args.lab}")
    rules = [Rule(**r) for r in json.loads(args.rules)]
    try:
        run(rules)
    except BaseException:
        uninstall()  # after a crash too: no rule may point at a queue nobody serves
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
