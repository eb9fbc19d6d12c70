"""nmap's -T templates and the RTO estimator (RFC 6298), without the network."""

from __future__ import annotations

import pytest

from wirelab.recon.timing import TEMPLATES, RTOEstimator, TimingError, allowed_tries, template


def test_t4_is_nmaps_aggressive() -> None:
    # nmap(1): "-T4 does the equivalent of --max-rtt-timeout 1250ms --min-rtt-timeout 100ms
    # --initial-rtt-timeout 500ms --max-retries 6 and sets the maximum TCP ... scan delay to 10ms"
    t4 = template(4)
    assert (t4.name, t4.initial_rto, t4.min_rto, t4.max_rto, t4.max_retries) == (
        "aggressive", 0.5, 0.1, 1.25, 6)
    assert t4.max_tcp_delay == 0.010


def test_t5_and_t3() -> None:
    t5, t3 = template(5), template(3)
    assert (t5.initial_rto, t5.min_rto, t5.max_rto, t5.max_retries) == (0.25, 0.05, 0.3, 2)
    assert t5.max_tcp_delay == 0.005
    assert (t3.name, t3.initial_rto, t3.min_rto, t3.max_rto, t3.max_retries) == (
        "normal", 1.0, 0.1, 10.0, 10)


def test_slow_templates_serialise_and_wait() -> None:
    # nmap(1): T0 waits five minutes between probes, T1 15 s, T2 0.4 s; one probe at a time.
    assert [TEMPLATES[n].scan_delay for n in (0, 1, 2)] == [300.0, 15.0, 0.4]
    assert all(TEMPLATES[n].max_parallelism == 1 for n in (0, 1, 2))
    assert all(TEMPLATES[n].max_parallelism is None for n in (3, 4, 5))
    # and every template keeps RTO bounds ordered
    for tpl in TEMPLATES.values():
        assert tpl.min_rto <= tpl.initial_rto <= tpl.max_rto


@pytest.mark.parametrize("level", [-1, 6])
def test_bad_level(level: int) -> None:
    with pytest.raises(TimingError, match="-T0 to -T5"):
        template(level)


def test_estimator_follows_rfc6298() -> None:
    est = RTOEstimator.for_template(template(3))
    assert est.rto == 1.0  # nothing measured yet: the initial RTO
    est.sample(0.3)  # 2.2: SRTT 0.3, RTTVAR 0.15 -> 0.9
    assert (est.srtt, est.rttvar) == (0.3, 0.15)
    assert est.rto == pytest.approx(0.9)
    est.sample(0.5)  # 2.3: RTTVAR 3/4*0.15 + 1/4*0.2 = 0.1625, SRTT 7/8*0.3 + 1/8*0.5 = 0.325
    assert est.rttvar == pytest.approx(0.1625)
    assert est.srtt == pytest.approx(0.325)
    assert est.rto == pytest.approx(0.325 + 4 * 0.1625)


@pytest.mark.parametrize("level", [3, 4, 5])
def test_estimator_clamped_to_template(level: int) -> None:
    tpl = template(level)
    fast = RTOEstimator.for_template(tpl)
    for _ in range(20):
        fast.sample(0.00005)
    assert fast.rto == tpl.min_rto
    slow = RTOEstimator.for_template(tpl)
    slow.sample(60.0)
    assert slow.rto == tpl.max_rto


def test_retries_only_on_evidence_of_loss() -> None:
    assert allowed_tries(6, 0) == 2  # reliable network: one retransmission
    assert allowed_tries(6, 1) == 3  # an answer to a retransmission buys one more try
    assert allowed_tries(6, 5) == 7
    assert allowed_tries(6, 9) == 7  # never beyond --max-retries
    assert allowed_tries(0, 0) == 1  # --max-retries 0: no retransmission at all


def test_scan_refuses_bad_arguments_before_any_socket() -> None:
    from wirelab.recon.ports import PortSpecError
    from wirelab.recon.scan import ScanTypeError, scan

    with pytest.raises(PortSpecError, match="no ports"):
        scan("127.0.0.1", [], "connect")
    with pytest.raises(PortSpecError, match="outside 0-65535"):
        scan("127.0.0.1", [80, 70000], "connect")
    with pytest.raises(ScanTypeError, match="unknown scan type"):
        scan("127.0.0.1", [80], "xmas")
    with pytest.raises(TimingError, match="-T0 to -T5"):
        scan("127.0.0.1", [80], "connect", timing=7)
    with pytest.raises(ScanTypeError, match="max-retries"):
        scan("127.0.0.1", [80], "connect", max_retries=-1)


def test_duplicate_ports_scanned_once() -> None:
    import socket

    from wirelab.recon.scan import scan

    with socket.socket() as live:
        live.bind(("127.0.0.1", 0))
        live.listen()
        port = live.getsockname()[1]
        result = scan("127.0.0.1", [port, port, port], "connect")
    assert [(p.port, str(p.state)) for p in result.ports] == [(port, "open")]
