"""What a check is and what it answers: :class:`Exercise`, :class:`Verdict`, :class:`CheckResult`.

An exercise is a table row, not a class hierarchy: the server counterpart the lab provides,
wirelab's own client command, the packets the ladder should show, and a ``verify`` function
that reads the capture and says PASS or FAIL with one reason.  The runner
(:mod:`wirelab.check.runner`) does the I/O; verifiers only read packets, so they can be tested
on any capture file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wirelab.observe.packets import Capture

SERVER_IP = "198.18.0.20"
CLIENT_IP = "198.18.0.10"


@dataclass(frozen=True)
class Verdict:
    """A verifier's answer: PASS or FAIL, the one-line reason, and what was seen."""

    passed: bool
    reason: str
    seen: str = ""

    @classmethod
    def ok(cls, seen: str) -> Verdict:
        return cls(True, seen, seen)

    @classmethod
    def fail(cls, reason: str, seen: str = "") -> Verdict:
        return cls(False, reason, seen)


@dataclass
class Evidence:
    """What a verifier gets: the capture (observed packets and the file) and the program run."""

    packets: Capture
    pcap: Path
    client_ip: str = CLIENT_IP
    server_ip: str = SERVER_IP
    program_stdout: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


Verify = Callable[[Evidence], Verdict]
ClientArgv = Callable[[str], list[str]]  # server address -> wirelab's own client command
Traffic = Callable[[str], list[list[str]]]  # server address -> commands run in the client


@dataclass(frozen=True)
class Exercise:
    """One curriculum exercise as a check."""

    id: str
    title: str
    expect: str
    """What the curriculum says should be seen on the wire, in one line."""
    client: ClientArgv
    """wirelab's own implementation, as ``wirelab`` arguments (the runner adds the interpreter)."""
    verify: Verify
    server: tuple[str, ...] = ()
    """The counterpart started in ``server`` (``wirelab`` arguments), or () for none."""
    server_ready: str = "listening on"
    ladder_filter: str | None = None
    """Which packets the ladder shows (:mod:`wirelab.observe.filter` syntax); None: all."""
    timeout: float = 20.0
    """Seconds the client program may run before it is killed (a FAIL)."""
    traffic: Traffic | None = None
    """2.3: the program is a sniffer; the runner runs these commands in the client while
    it listens, then interrupts it (Ctrl-C) so that it prints its final counts."""


@dataclass
class CheckResult:
    """Everything a run of one check produced, for the CLI, the tour and the tests."""

    exercise: str
    title: str
    passed: bool
    reason: str
    seen: str
    results: Path
    pcap: Path | None = None
    ladder_text: str = ""
    ladder_txt: Path | None = None
    ladder_html: Path | None = None
    program: list[str] = field(default_factory=list)
    returncode: int | None = None
    timed_out: bool = False
    seconds: float = 0.0

    @property
    def status(self) -> str:
        return "PASS" if self.passed else "FAIL"

    def line(self) -> str:
        """``PASS 2.2 (manual TCP handshake): <reason>`` -- the one line the CLI prints."""
        return f"{self.status} {self.exercise} ({self.title}): {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        def p(path: Path | None) -> str | None:
            return str(path) if path is not None else None

        return {"exercise": self.exercise, "title": self.title, "result": self.status,
                "reason": self.reason, "seen": self.seen, "results": str(self.results),
                "pcap": p(self.pcap), "ladder_txt": p(self.ladder_txt),
                "ladder_html": p(self.ladder_html), "program": self.program,
                "returncode": self.returncode, "timed_out": self.timed_out,
                "seconds": round(self.seconds, 3)}
