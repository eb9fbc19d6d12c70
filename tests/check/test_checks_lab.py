"""Every check PASSes with wirelab's own implementation, and FAILs known-bad programs with
the right reason -- each run for real in a lab, judged from the capture of the client's link."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from wirelab.check import exercises, run_check
from wirelab.lab.lab import Lab
from wirelab.wire.capture import open_capture

PROGRAMS = Path(__file__).parent / "programs"


def prog(name: str, *args: str) -> list[str]:
    return [sys.executable, str(PROGRAMS / name), *args]


@pytest.mark.lab
@pytest.mark.parametrize("ex_id", sorted(exercises()))
def test_wirelab_implementation_passes(shared_lab: Lab, tmp_path: Path, ex_id: str) -> None:
    result = run_check(ex_id, shared_lab, tmp_path)
    assert result.passed, result.line() + "\n" + result.ladder_text
    assert result.line().startswith(f"PASS {ex_id} ")
    # the evidence is kept: a readable capture, the ladder as text and HTML, the JSON record
    assert result.pcap is not None
    with open_capture(result.pcap) as reader:
        assert sum(1 for _ in reader) >= 1
    assert result.ladder_txt is not None and result.ladder_txt.read_text().strip()
    assert result.ladder_html is not None and "<svg" in result.ladder_html.read_text()
    record = json.loads((tmp_path / "result.json").read_text())
    assert record["result"] == "PASS" and record["exercise"] == ex_id


BAD = [
    # the curriculum's handshake as written: RandShort() gives the ACK another port
    ("2.2", prog("handshake_randshort.py"),
     r"the ACK left from port \d+ but the SYN from port \d+: a new RandShort\(\)"),
    ("1.2", prog("http_lf_only.py"), r"request header lines end in LF only, not CRLF"),
    ("1.1", prog("udp_wrong_port.py"),
     r"no UDP datagram to 198\.18\.0\.20:8000; saw UDP to 198\.18\.0\.20:8001"),
    ("1.1", prog("udp_localhost.py"),
     r"no UDP datagram to 198\.18\.0\.20:8000; nothing left the client's link \(aimed at "
     r"127\.0\.0\.1"),
    ("1.4", prog("raw_udp_zero_checksum.py"),
     r"UDP checksum is 0 \(none\): the kernel does not compute it on a raw socket"),
    ("2.4", prog("custom_zero_length.py"), r"length field 0 but 22 data bytes follow"),
    ("2.3", prog("counter_wrong.py"), r"counts differ from the capture: HTTP 0 \(capture: [1-9]"),
    ("1.1", prog("crash.py", "7"), r"the program failed \(exit status 7\)"),
    # the curriculum's counter as printed: `protocol_counts += 1` in the callback
    ("2.3", prog("counter_unbound.py"),
     r"counts differ from the capture: .*stderr ends: .*cannot access local variable"),
    ("2.3", prog("counter_deaf.py"), r"the program did not stop within 5 s of Ctrl-C"),
    ("2.1", ["no-such-program-xyz"], r"could not start 'no-such-program-xyz' in client"),
]


@pytest.mark.lab
@pytest.mark.parametrize(("ex_id", "argv", "reason"), BAD,
                         ids=[f"{b[0]}-{Path(b[1][-1]).stem}" for b in BAD])
def test_known_bad_program_fails(shared_lab: Lab, tmp_path: Path, ex_id: str,
                                 argv: list[str], reason: str) -> None:
    result = run_check(ex_id, shared_lab, tmp_path, argv)
    assert not result.passed
    assert result.line().startswith(f"FAIL {ex_id} ")
    assert "\n" not in result.reason
    import re

    assert re.search(reason, result.reason), result.reason


@pytest.mark.lab
def test_curriculum_style_scapy_counter_passes(shared_lab: Lab, tmp_path: Path) -> None:
    # HTTPRequest-only counting (responses as TCP) is the curriculum's reading: accepted
    result = run_check("2.3", shared_lab, tmp_path, prog("counter_scapy.py"))
    assert result.passed, result.reason
    assert "requests only" in result.reason


@pytest.mark.lab
def test_nothing_the_program_started_outlives_the_check(shared_lab: Lab, tmp_path: Path) -> None:
    import os
    import time

    result = run_check("1.1", shared_lab, tmp_path, prog("leave_child.py"))
    assert result.passed, result.reason
    child = int((tmp_path / "program.out").read_text().split()[0])
    # the child was in the program's process group, which the check killed: gone (or a
    # zombie about to be reaped by init) -- never still sleeping
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            break
        if state == "Z":
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"process {child} left running")
    assert os.getpid() != child


@pytest.mark.lab
def test_hanging_program_is_killed_and_fails(shared_lab: Lab, tmp_path: Path) -> None:
    result = run_check("1.1", shared_lab, tmp_path, prog("hang.py"), timeout=1.5)
    assert not result.passed and result.timed_out
    assert result.reason.startswith("the program did not finish within 1.5 s (killed)")
    assert result.seconds < 10


@pytest.mark.lab
@pytest.mark.parametrize(("ex_id", "name"), [
    ("1.2", "http_client_ok.py"), ("1.4", "raw_udp_ok.py"), ("2.1", "ping_scapy_ok.py"),
    ("2.4", "custom_ok.py"), ("2.2", "handshake_ok.py")])
def test_right_learner_programs_pass(shared_lab: Lab, tmp_path: Path, ex_id: str,
                                     name: str) -> None:
    result = run_check(ex_id, shared_lab, tmp_path, prog(name))
    assert result.passed, result.reason


@pytest.mark.lab
def test_learner_program_that_is_right_passes(shared_lab: Lab, tmp_path: Path) -> None:
    # a plain-socket 1.1 client written like the curriculum's, aimed at the lab's server
    code = ("import os, socket\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "s.sendto(b'Hello, World!', (os.environ['WIRELAB_SERVER'], 8000))\n")
    script = tmp_path / "udp_client.py"
    script.write_text(code)
    result = run_check("1.1", shared_lab, tmp_path / "out", [sys.executable, str(script)])
    assert result.passed, result.reason
