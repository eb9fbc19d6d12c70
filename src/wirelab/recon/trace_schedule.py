"""When to send which probe, when to give up on one, and when the trace is over (sans-IO).

This is Linux traceroute's main loop (traceroute.c ``do_it``) without the sockets: probes are
numbered ``0 .. max_hops * q - 1``, probe ``n`` goes out with TTL ``n // q + 1``, and:

- up to ``sim`` (``-N``, default 16) unfinished probes are in flight at once, the lowest
  numbers first, so the first hops are probed in parallel instead of one at a time;
- results are reported strictly in probe order (a late answer for hop 1 holds back hop 2's
  printing, never its sending), which is why the output is a clean table;
- a probe is given up (``*``) after ``max`` seconds (``-w``, 5.0), or sooner: three times the
  round trip of a probe of the same hop that already answered (``here``), else ten times that
  of any later probe that answered (``near``), each plus 1 ms -- a hop that answers in
  0.1 ms need not be waited for 5 s;
- a *final* answer (the destination, or an unreachable with a ``!`` mark) at hop ``h`` cancels
  every probe beyond ``h``; the trace ends when hop ``h`` is complete.

The caller owns the clock and the sockets: it asks :meth:`Scheduler.step` what to send and
what to print, stamps what it sent, feeds answers to :meth:`Scheduler.answer`, and sleeps
until :meth:`Scheduler.deadline`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

WAIT_PRECISION = 0.001  # traceroute's DEF_WAIT_PREC, added to an RTT before scaling it


@dataclass(frozen=True, slots=True)
class Wait:
    """``-w MAX[,HERE[,NEAR]]`` as Linux traceroute reads it (0 turns a factor off)."""

    max: float = 5.0
    here: float = 3.0
    near: float = 10.0

    @classmethod
    def parse(cls, text: str) -> Wait:
        parts = [p for p in text.replace("/", ",").split(",")]
        if not 1 <= len(parts) <= 3:
            raise ValueError(f"bad wait {text!r}: MAX[,HERE[,NEAR]]")
        try:
            values = [float(p) for p in parts]
        except ValueError:
            raise ValueError(f"bad wait {text!r}: numbers expected") from None
        if any(v < 0 for v in values) or values[0] <= 0:
            raise ValueError(f"bad wait {text!r}: MAX must be > 0, factors >= 0")
        return cls(*values)


@dataclass(slots=True)
class Slot:
    """One probe's life: sent, then answered or given up."""

    sent: float | None = None
    received: float | None = None
    source: str | None = None
    mark: str = ""
    final: bool = False
    done: bool = False

    @property
    def rtt(self) -> float | None:
        if self.sent is None or self.received is None:
            return None
        return self.received - self.sent


@dataclass
class Scheduler:
    max_hops: int
    q: int = 3
    sim: int = 16
    wait: Wait = field(default_factory=Wait)
    first_hop: int = 1

    def __post_init__(self) -> None:
        self.slots = [Slot() for _ in range(self.max_hops * self.q)]
        self.start = (self.first_hop - 1) * self.q  # the next probe to report
        self.end = len(self.slots)  # probes from here on are not wanted

    def ttl(self, index: int) -> int:
        return index // self.q + 1

    @property
    def finished(self) -> bool:
        return self.start >= self.end

    def _hop_end(self, index: int) -> int:
        return (index // self.q + 1) * self.q

    def timeout(self, index: int) -> float:
        """How long probe ``index`` is waited for, given what has answered so far."""
        wait = self.wait
        if wait.here:
            first = index - index % self.q
            for slot in self.slots[first:first + self.q]:
                if slot.done and slot.rtt is not None and slot.rtt > 0:
                    return min((slot.rtt + WAIT_PRECISION) * wait.here, wait.max)
        if wait.near:
            for slot in self.slots[index + 1:]:
                if slot.done and slot.rtt is not None and slot.rtt > 0:
                    return min((slot.rtt + WAIT_PRECISION) * wait.near, wait.max)
        return wait.max

    def step(self, now: float) -> tuple[list[int], list[int]]:
        """(probes to send now, probes whose result can now be reported, in order)."""
        for index in range(self.start, self.end):
            slot = self.slots[index]
            if slot.sent is not None and not slot.done \
                    and now >= slot.sent + self.timeout(index):
                slot.done = True  # no answer in time: "*"
        report: list[int] = []
        send: list[int] = []
        flying = 0
        index = self.start
        while index < self.end:
            slot = self.slots[index]
            if slot.done:
                if index == self.start:
                    report.append(index)
                    self.start += 1
                if slot.final:
                    self.end = min(self.end, self._hop_end(index))
                index += 1
                continue
            if slot.sent is None:
                send.append(index)
            flying += 1
            if flying >= self.sim:
                break
            index += 1
        return send, report

    def sent(self, index: int, when: float) -> None:
        self.slots[index].sent = when

    def answer(self, index: int, when: float, source: str, mark: str = "",
               final: bool = False) -> bool:
        """Record an answer; False if the probe is not waiting for one (late, duplicate)."""
        if not self.start <= index < self.end:
            return False
        slot = self.slots[index]
        if slot.sent is None or slot.done:
            return False
        slot.received = max(when, slot.sent)
        slot.source = source
        slot.mark = mark
        slot.final = final
        slot.done = True
        return True

    def deadline(self) -> float | None:
        """When the next in-flight probe times out; None when nothing is in flight."""
        times = [slot.sent + self.timeout(i)
                 for i, slot in enumerate(self.slots[self.start:self.end], self.start)
                 if slot.sent is not None and not slot.done]
        return min(times) if times else None
