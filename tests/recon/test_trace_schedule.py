"""Linux traceroute's loop without sockets: parallel probes, order of printing, adaptive
waits, and the stop at the destination."""

from __future__ import annotations

import pytest

from wirelab.recon.trace_schedule import Scheduler, Wait


def send_all(s: Scheduler, now: float) -> tuple[list[int], list[int]]:
    send, report = s.step(now)
    for i in send:
        s.sent(i, now)
    return send, report


def test_sixteen_in_flight_lowest_first() -> None:
    s = Scheduler(max_hops=30, q=3, sim=16)
    send, report = send_all(s, 0.0)
    assert send == list(range(16)) and report == []
    assert send_all(s, 0.001) == ([], [])  # nothing new until something finishes
    s.answer(3, 0.002, "r2")
    send, report = send_all(s, 0.002)
    assert send == [16] and report == []  # hop 1 not done: hop 2's answer waits to print


def test_results_in_probe_order() -> None:
    s = Scheduler(max_hops=3, q=2, sim=16)
    send_all(s, 0.0)
    for i, src in [(2, "b"), (3, "b"), (0, "a")]:
        s.answer(i, 0.001, src)
    _, report = s.step(0.001)
    assert report == [0]
    s.answer(1, 0.0015, "a")
    _, report = s.step(0.002)
    assert report == [1, 2, 3]


def test_wait_max_here_near() -> None:
    s = Scheduler(max_hops=4, q=3, sim=16, wait=Wait(5.0, 3.0, 10.0))
    send_all(s, 0.0)
    assert s.timeout(0) == 5.0
    s.answer(10, 0.002, "far")  # a later hop answered in 2 ms: near factor 10
    assert s.timeout(0) == pytest.approx((0.002 + 0.001) * 10)
    s.answer(1, 0.001, "r1")  # the same hop answered in 1 ms: here factor 3
    assert s.timeout(0) == pytest.approx((0.001 + 0.001) * 3)
    assert s.deadline() == pytest.approx(0.006)
    s.step(0.0061)
    assert s.slots[0].done and s.slots[0].source is None  # given up: "*"
    assert s.timeout(11) == pytest.approx((0.002 + 0.001) * 3)  # probe 10 is its hop's
    assert s.timeout(9) == pytest.approx((0.002 + 0.001) * 3)


def test_zero_factors_wait_the_maximum() -> None:
    s = Scheduler(max_hops=2, q=2, wait=Wait(1.5, 0, 0))
    send_all(s, 0.0)
    s.answer(1, 0.001, "r1")
    assert s.timeout(0) == 1.5


def test_final_answer_ends_the_trace_at_its_hop() -> None:
    s = Scheduler(max_hops=30, q=3, sim=16)
    send_all(s, 0.0)
    for i in range(3):
        s.answer(i, 0.001, "r1")
    s.answer(4, 0.001, "dst", final=True)  # hop 2 reached the destination
    assert s.answer(9, 0.001, "late") is True  # hop 4 was in flight; accepted, then cut
    s.answer(3, 0.001, "dst", final=True)
    s.answer(5, 0.001, "dst", final=True)
    send, report = s.step(0.002)
    assert send == [] and report == [0, 1, 2, 3, 4, 5]
    assert s.finished and s.end == 6
    assert s.answer(7, 0.003, "late") is False


def test_late_and_duplicate_answers_refused() -> None:
    s = Scheduler(max_hops=2, q=1, wait=Wait(1.0, 0, 0))
    send_all(s, 0.0)
    assert s.answer(0, 0.5, "r1")
    assert not s.answer(0, 0.6, "r1")  # duplicate
    s.step(2.0)
    assert s.slots[1].done and not s.answer(1, 2.1, "dst")  # after its time-out


def test_wait_parse() -> None:
    assert Wait.parse("2") == Wait(2.0, 3.0, 10.0)
    assert Wait.parse("5,0,0") == Wait(5.0, 0.0, 0.0)
    assert Wait.parse("1/2/3") == Wait(1.0, 2.0, 3.0)
    for bad in ("", "x", "0", "1,2,3,4", "-1"):
        with pytest.raises(ValueError, match="bad wait"):
            Wait.parse(bad)
