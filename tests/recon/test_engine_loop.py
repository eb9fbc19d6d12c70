"""The probe loop's retransmission and rate-limit rules, against a simulated target.

The target is a model living behind a socketpair: each probe it gets is answered (or not) by
writing a small datagram back at once, so the loop's real code (select, non-blocking reads,
RTO expiry, pacing) runs, only faster: the template's times are tens of milliseconds.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from wirelab.recon import ratelimit, states
from wirelab.recon.states import PortState, Reason
from wirelab.recon.timing import Answer, ProbeLoop, Template, recv_all

FAST = Template(9, "test", 0.04, 0.02, 0.04, 6, 0.0, 0.0, 0.05, None)
VERDICTS = {b"rst": (PortState.CLOSED, Reason.RESET),
            b"unreach": (PortState.CLOSED, Reason.PORT_UNREACH)}


class Target:
    """A simulated target: ``drop[port]`` probes are lost first; ``silent`` ports never
    answer; with ``bucket``, ICMP answers come from a Linux-like token bucket (``burst``
    tokens, one more every ``bucket`` seconds)."""

    def __init__(self, kind: bytes = b"rst", *, silent: frozenset[int] = frozenset(),
                 drop: dict[int, int] | None = None, bucket: float | None = None,
                 burst: float = 6.0) -> None:
        self.rx, self._tx = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.rx.setblocking(False)
        self.kind, self.silent, self.drop = kind, silent, dict(drop or {})
        self.refill = bucket
        self.burst = burst
        self.tokens, self.stamp = burst, time.monotonic()
        self.sent: list[tuple[int, int]] = []

    def send(self, dport: int, tryno: int) -> None:
        self.sent.append((dport, tryno))
        if dport in self.silent:
            return
        if self.drop.get(dport, 0) > 0:
            self.drop[dport] -= 1
            return
        if self.refill is not None:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) / self.refill)
            self.stamp = now
            if self.tokens < 1:
                return  # rate-limited: no ICMP error this time
            self.tokens -= 1
        self._tx.send(b"%d %d %s" % (dport, tryno, self.kind))

    def read_answers(self) -> list[Answer]:
        return [self.interpret(frame) for frame in recv_all(self.rx)]

    def interpret(self, frame: bytes) -> Answer:
        port, tryno, kind = frame.split()
        return int(port), int(tryno), VERDICTS[kind], 64

    def close(self) -> None:
        self.rx.close()
        self._tx.close()


@pytest.fixture
def targets() -> Iterator[list[Target]]:
    made: list[Target] = []
    yield made
    for target in made:
        target.close()


def _run(target: Target, ports: list[int], retries: int = 6, udp: bool = False) -> ProbeLoop:
    silence = states.UDP_NO_ANSWER if udp else states.NO_ANSWER
    loop = ProbeLoop(ports, FAST, retries, silence=silence,
                     icmp_limited=ratelimit.from_icmp if udp else None)
    loop.run(target)
    return loop


def test_reliable_network_one_retransmission(targets: list[Target]) -> None:
    target = Target(silent=frozenset({5}))
    targets.append(target)
    loop = _run(target, [1, 2, 5, 9])
    result = {p.port: (p.state, p.tries) for p in loop.result("t", "t", "syn").ports}
    assert result == {1: ("closed", 1), 2: ("closed", 1), 5: ("filtered", 2), 9: ("closed", 1)}
    assert target.sent.count((5, 1)) == 1 and (5, 2) not in target.sent


def test_no_retransmission_with_max_retries_0(targets: list[Target]) -> None:
    target = Target(silent=frozenset({5}))
    targets.append(target)
    loop = _run(target, [5], retries=0)
    assert target.sent == [(5, 0)] and loop.done[5].state == PortState.FILTERED


def test_loss_buys_silent_ports_more_tries(targets: list[Target]) -> None:
    # nmap's rule: port 3 answers only its 2nd probe (evidence of loss), which lets port 4
    # have a 3rd, which it answers, which lets the silent port 8 have a 4th (allowedTryno)
    target = Target(silent=frozenset({8}), drop={3: 1, 4: 2})
    targets.append(target)
    loop = _run(target, [3, 4, 8])
    assert (loop.done[3].state, loop.done[3].tries) == (PortState.CLOSED, 2)
    assert (loop.done[4].state, loop.done[4].tries) == (PortState.CLOSED, 3)
    assert loop.best_try == 2
    assert (loop.done[8].state, loop.done[8].tries) == (PortState.FILTERED, 4)


def test_loss_without_evidence_is_filtered(targets: list[Target]) -> None:
    # two lost probes on a network that looked reliable: nmap gives up after one
    # retransmission too, and so do we
    target = Target(drop={3: 2})
    targets.append(target)
    loop = _run(target, [3])
    assert (loop.done[3].state, loop.done[3].tries) == (PortState.FILTERED, 2)


def test_rate_limited_icmp_paced_and_explained(targets: list[Target]) -> None:
    # 12 closed UDP ports behind a burst-6 bucket refilled every 50 ms, a silent port first
    target = Target(b"unreach", silent=frozenset({1}), bucket=0.05)
    targets.append(target)
    ports = [1, *range(100, 112)]
    loop = _run(target, ports, udp=True)
    got = {p: loop.done[p].state for p in ports}
    assert got == {1: PortState.OPEN_FILTERED, **{p: PortState.CLOSED for p in ports[1:]}}
    assert loop.paced_at is not None and loop.delay == FAST.max_udp_delay
    assert len(loop.rescued) >= 1  # answered only once paced
    notes = ratelimit.explain(loop, "198.18.0.20")
    assert len(notes) == 1 and "rate-limits its ICMP errors" in notes[0]


def test_unlimited_icmp_not_paced(targets: list[Target]) -> None:
    target = Target(b"unreach", silent=frozenset({1}))
    targets.append(target)
    loop = _run(target, [1, *range(100, 112)], udp=True)
    assert loop.paced_at is None and ratelimit.explain(loop, "x") == []
    assert all(loop.done[p].tries == 1 for p in range(100, 112))
    assert loop.done[1].state == PortState.OPEN_FILTERED and loop.done[1].tries == 2


def test_unlimited_icmp_then_silent_ports_not_paced(targets: list[Target]) -> None:
    # 20 closed ports answer at once, then 10 filtered ones stay silent at the end of the
    # order: silence after ICMP answers, but more answers than a Linux limit lets through
    target = Target(b"unreach", silent=frozenset(range(200, 210)))
    targets.append(target)
    ports = [*range(100, 120), *range(200, 210)]
    loop = _run(target, ports, udp=True)
    assert loop.paced_at is None and ratelimit.explain(loop, "x") == []
    assert all(loop.done[p].state == PortState.OPEN_FILTERED for p in range(200, 210))
    assert all(loop.done[p].state == PortState.CLOSED for p in range(100, 120))


def test_shared_icmp_budget_throttled_and_explained(targets: list[Target]) -> None:
    # the per-peer limit off, the budget shared by all peers left: a burst of 50, then one
    # ICMP error a millisecond -- full speed loses most; retries answered prove the loss, and
    # at one probe every 2 ms every closed port is found closed
    target = Target(b"unreach", bucket=0.001, burst=50.0)
    targets.append(target)
    ports = list(range(100, 400))
    loop = _run(target, ports, udp=True)
    assert {loop.done[p].state for p in ports} == {PortState.CLOSED}
    assert loop.throttled_at is not None and loop.paced_at is None
    assert loop.delay == pytest.approx(0.002)
    notes = ratelimit.explain(loop, "198.18.0.20")
    assert len(notes) == 1 and "lost ICMP errors at full speed" in notes[0]


def test_progress_reported(targets: list[Target]) -> None:
    target = Target()
    targets.append(target)
    seen: list[tuple[int, int]] = []
    loop = ProbeLoop(list(range(1, 301)), FAST, 6, silence=states.NO_ANSWER,
                     progress=lambda done, total: seen.append((done, total)))
    loop.run(target)
    assert seen and seen[-1] == (300, 300)
    assert all(total == 300 for _, total in seen)
