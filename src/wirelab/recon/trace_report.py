"""``wirelab trace --report``: rounds of one probe per hop, then mtr's table.

mtr sends one probe to every hop per round and keeps, per hop, how many it sent and
received, and the last, mean, best and worst round trip with their standard deviation; its
``--report`` mode runs ``-c COUNT`` rounds and prints the table once.  Loss at a hop that
does not show up further down the path is usually the router rate-limiting its own ICMP
errors (Linux: one time-exceeded per second to a given source after a burst of six, the
``icmp_ratelimit`` sysctl), not packets lost in transit: only loss that carries on to the
last hop is real.

Each round is one run of the traceroute scheduler with one probe per hop; once the
destination has answered at hop ``h``, later rounds probe hops ``1..h`` only.  The first
round keeps at most four probes in flight (not traceroute's 16): every probe sent beyond the
destination reaches it and spends one of its six ICMP tokens, and a destination whose bucket
was emptied by round one would show loss in the next rounds that is our own doing.  Hops
after the last one that ever answered are not shown.
"""

from __future__ import annotations

import datetime as dt
import socket
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from wirelab.recon.trace import Options, close, open_prober, run_schedule
from wirelab.recon.trace_render import Namer
from wirelab.recon.trace_schedule import Scheduler

FIRST_ROUND_SIM = 4


@dataclass
class HopStats:
    ttl: int
    sent: int = 0
    rtts: list[float] = field(default_factory=list)  # ms, in arrival order
    addresses: list[str] = field(default_factory=list)  # in order of first answer
    marks: set[str] = field(default_factory=set)

    @property
    def received(self) -> int:
        return len(self.rtts)

    @property
    def loss(self) -> float:
        return 100.0 * (self.sent - self.received) / self.sent if self.sent else 0.0

    def figures(self) -> dict[str, float]:
        r = self.rtts
        if not r:
            return {"last": 0.0, "avg": 0.0, "best": 0.0, "wrst": 0.0, "stdev": 0.0}
        return {"last": r[-1], "avg": statistics.fmean(r), "best": min(r), "wrst": max(r),
                "stdev": statistics.stdev(r) if len(r) > 1 else 0.0}


@dataclass
class Report:
    target: str
    address: str
    started: dt.datetime
    local: str
    hops: list[HopStats]
    rounds: int


def run_report(target: str, opts: Options, count: int, interval: float) -> Report:
    if count < 1:
        from wirelab.recon.trace import TraceUsageError

        raise TraceUsageError(f"-c {count}: at least one round")
    started = dt.datetime.now(dt.UTC)
    prober = open_prober(target, opts)
    address = prober.factory.dst
    stats = [HopStats(ttl) for ttl in range(1, opts.max_hops + 1)]
    depth = opts.max_hops
    try:
        for round_ in range(count):
            began = time.monotonic()
            sim = min(opts.sim, FIRST_ROUND_SIM) if round_ == 0 else max(opts.sim, depth)
            sched = Scheduler(depth, 1, sim, opts.wait)
            run_schedule(prober, sched, offset=round_ * opts.max_hops)
            depth = min(depth, sched.end)
            for index in range(sched.end):
                _count(stats[index], sched.slots[index].source, sched.slots[index].rtt,
                       sched.slots[index].mark)
            if round_ + 1 < count:
                time.sleep(max(0.0, interval - (time.monotonic() - began)))
    finally:
        close(prober)
    shown = stats[:depth]
    while shown and not shown[-1].addresses:
        shown.pop()
    return Report(target, address, started, socket.gethostname(), shown, count)


def _count(hop: HopStats, source: str | None, rtt: float | None, mark: str) -> None:
    hop.sent += 1
    if source is None or rtt is None:
        return
    hop.rtts.append(rtt * 1000)
    if source not in hop.addresses:
        hop.addresses.append(source)
    if mark:
        hop.marks.add(mark)


# mtr's default fields "LS NABWV": a one-column space between Snt and Last.
TITLES = (("Loss%", 6), ("Snt", 6), ("", 1), ("Last", 6), ("Avg", 6), ("Best", 6), ("Wrst", 6),
          ("StDev", 6))


def render_report(rep: Report, names: Namer) -> str:
    """The table as ``mtr --report`` lays it out (host column, then right-aligned figures)."""
    def label(address: str) -> str:
        return address if names is None else names(address)

    labels = [label(h.addresses[0]) if h.addresses else "???" for h in rep.hops]
    width = max([25, *(len(x) for x in labels)])
    lines = [f"Start: {rep.started.strftime('%Y-%m-%dT%H:%M:%S%z')}",
             f"HOST: {rep.local:<{width + 2}}" + "".join(f"{t:>{w}}" for t, w in TITLES)]
    for hop, text in zip(rep.hops, labels, strict=True):
        f = hop.figures()
        lines.append(f"{hop.ttl:3d}.|-- {text:<{width}}{hop.loss:5.1f}%{hop.sent:6d} "
                     f"{f['last']:6.1f}{f['avg']:6.1f}{f['best']:6.1f}{f['wrst']:6.1f}"
                     f"{f['stdev']:6.1f}")
        for extra in hop.addresses[1:]:
            lines.append(f"        {label(extra):<{width + 8}}")  # as mtr prints it
    return "\n".join(lines)


def report_json(rep: Report, names: Namer) -> dict[str, Any]:
    hops = []
    for hop in rep.hops:
        f = hop.figures()
        entry: dict[str, Any] = {"ttl": hop.ttl, "addresses": hop.addresses,
                                 "loss_pct": round(hop.loss, 1), "sent": hop.sent,
                                 "received": hop.received,
                                 **{k: round(v, 3) for k, v in f.items()}}
        if names is not None:
            entry["names"] = [names(a) for a in hop.addresses]
        if hop.marks:
            entry["marks"] = sorted(hop.marks)
        hops.append(entry)
    return {"target": rep.target, "address": rep.address, "local": rep.local,
            "start": rep.started.isoformat(), "rounds": rep.rounds, "hops": hops}
