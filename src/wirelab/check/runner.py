"""Run one check: counterpart in ``server``, capture on the client's link, the exercise in
``client``, then the verdict from the capture, and the evidence kept in a results folder.

Folder contents: ``capture.pcap`` (the client's interface, whole frames), ``ladder.txt`` and
``ladder.html`` (the packets the exercise is about), ``program.out``/``program.err``,
``server.out``/``server.err`` for the counterpart, and ``result.json``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from wirelab.check.model import CheckResult, Evidence, Exercise, Verdict
from wirelab.check.program import Running, program_env, quote, wirelab_argv
from wirelab.errors import ExitCode, LabError, WirelabError
from wirelab.lab.lab import Lab, unique_name
from wirelab.observe.flow import NoPacketsError, build_ladder
from wirelab.observe.packets import Observed, load

LATE_REPLIES = 0.3  # seconds for answers still in flight when the program ends
READY_SECONDS = 10.0
LEARNER_SNIFFER_SETTLE = 1.5  # after a learner's counter first prints, before traffic starts
EVIDENCE = ("capture.pcap", "ladder.txt", "ladder.html", "program.out", "program.err",
            "server.out", "server.err", "result.json")


class UnknownExerciseError(WirelabError):
    exit_code = ExitCode.USAGE


def exercises() -> dict[str, Exercise]:
    from wirelab.check import module1, module2

    return {ex.id: ex for ex in (*module1.EXERCISES, *module2.EXERCISES)}


def exercise(ex_id: str) -> Exercise:
    table = exercises()
    if ex_id not in table:
        raise UnknownExerciseError(f"no check for exercise {ex_id!r}; there are "
                                   + ", ".join(table))
    return table[ex_id]


@contextmanager
def lab_for_checks(name: str | None) -> Iterator[Lab]:
    """The running lab ``name`` (left up), or a fresh default lab removed afterwards."""
    if name is not None:
        yield Lab.attach(name)
        return
    with Lab("default", unique_name("chk")) as lab:
        yield lab


def run_check(ex_id: str, lab: Lab, results: Path, program: list[str] | None = None,
              timeout: float | None = None) -> CheckResult:
    """Run the check of ``ex_id`` in ``lab``; ``program`` is the learner's (None: wirelab's)."""
    ex = exercise(ex_id)
    results.mkdir(parents=True, exist_ok=True)
    for name in EVIDENCE:
        (results / name).unlink(missing_ok=True)
    started = time.monotonic()
    server_ip = lab.host("server").ip
    argv = program if program is not None else wirelab_argv(ex.client(server_ip))
    result = CheckResult(ex.id, ex.title, False, "", "", results, program=argv)
    pcap = results / "capture.pcap"
    # The lab's capture hands each packet over at once (tcpdump --immediate-mode, or its
    # rootless stand-in): a half-second exercise would otherwise be lost in libpcap's buffer.
    capture = lab.capture("client", pcap).start()
    extra: dict[str, object] = {}
    try:
        verdict = _exercise_run(ex, lab, results, argv, program is not None,
                                timeout or ex.timeout, result, extra)
    finally:
        time.sleep(LATE_REPLIES)
        capture.stop()
    result.pcap = pcap
    packets = load(pcap)
    if verdict is None:
        evidence = Evidence(packets, pcap, lab.host("client").ip, server_ip,
                            _read(results / "program.out"), extra)
        verdict = _with_stderr(ex.verify(evidence), _read(results / "program.err"))
    result.passed, result.reason, result.seen = verdict.passed, verdict.reason, verdict.seen
    _ladder(ex, packets, result)
    result.seconds = time.monotonic() - started
    (results / "result.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    return result


def _exercise_run(ex: Exercise, lab: Lab, results: Path, argv: list[str], learner: bool,
                  timeout: float, result: CheckResult, extra: dict[str, object]
                  ) -> Verdict | None:
    """Start the counterpart and the program; a Verdict if the program itself failed."""
    server = None
    if ex.server:
        server = Running(lab.host("server"), wirelab_argv(list(ex.server)), results, "server")
        if not server.wait_for(ex.server_ready, READY_SECONDS):
            server.stop()
            raise LabError(f"the {ex.id} counterpart did not start in server: "
                           f"{server.last_error_line() or 'no output'}")
    try:
        client = lab.host("client")
        try:
            run = Running(client, argv, results, "program", program_env(client, lab.host(
                "server").ip))
        except LabError as exc:
            return Verdict.fail(str(exc).replace("cannot run", "could not start"))
        try:
            if ex.traffic is not None:
                extra["window"] = _make_traffic(ex, lab, run, learner, timeout)
            else:
                run.wait(timeout)
        finally:
            if run.proc.poll() is None:  # interrupted (Ctrl-C) or an error on our side
                run.wait(0.0)
            run.reap()
    finally:
        if server is not None:
            server.stop()
            server.reap()
    result.returncode, result.timed_out = run.proc.returncode, run.timed_out
    return _program_verdict(run, timeout, ex.traffic is not None)


def _make_traffic(ex: Exercise, lab: Lab, run: Running, learner: bool,
                  timeout: float) -> tuple[float, float]:
    """2.3: wait until the counter listens, make known traffic, then Ctrl-C it.

    Returns the wall-clock window in which the counter was known to listen: the ground truth
    counts only the frames captured inside it (a fresh lab's own IGMP report, sent while the
    counter was still importing Scapy, is in the capture but was never the counter's to see).
    """
    assert ex.traffic is not None
    ready = run.wait_for(None if learner else "listening on", min(timeout, READY_SECONDS))
    if ready and learner:
        time.sleep(LEARNER_SNIFFER_SETTLE)  # its first line comes before sniff() opens
    opened = time.time()
    if run.proc.poll() is None:
        client = lab.host("client")
        for argv in ex.traffic(lab.host("server").ip):
            client.run(argv, timeout=15.0, env=program_env(client, lab.host("server").ip))
        time.sleep(LATE_REPLIES)
    closed = time.time()
    run.interrupt(grace=5.0)
    return opened, closed


def _program_verdict(run: Running, timeout: float, interrupted: bool) -> Verdict | None:
    if run.timed_out:
        if interrupted:
            return Verdict.fail("the program did not stop within 5 s of Ctrl-C (killed)")
        return Verdict.fail(f"the program did not finish within {timeout:g} s (killed): "
                            f"{quote(run.argv)}")
    code = run.proc.returncode
    if code != 0 and not (interrupted and code in (-2, 130)):
        why = run.last_error_line()
        return Verdict.fail(f"the program failed ({run.describe_exit()})"
                            + (f": {why}" if why else ""))
    return None


def _ladder(ex: Exercise, packets: Sequence[Observed], result: CheckResult) -> None:
    title = f"wirelab check {ex.id}: {ex.title} -- {result.status}"
    try:
        ladder = build_ladder(packets, where=ex.ladder_filter, title=title)
    except NoPacketsError:
        what = f" matching {ex.ladder_filter!r}" if ex.ladder_filter else ""
        result.ladder_text = f"(no packets{what} in the capture)"
        return
    result.ladder_text = ladder.render_text()
    result.ladder_txt = result.results / "ladder.txt"
    result.ladder_txt.write_text(result.ladder_text + "\n")
    result.ladder_html = result.results / "ladder.html"
    result.ladder_html.write_text(ladder.render_html(title))


def _with_stderr(verdict: Verdict, stderr: str) -> Verdict:
    """A FAIL from the wire, with the last thing the program said on stderr: often the why
    (Scapy, for one, reports an exception in a sniff callback there and carries on)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if verdict.passed or not lines:
        return verdict
    last = lines[-1] if len(lines[-1]) <= 160 else lines[-1][:157] + "..."
    return Verdict.fail(f"{verdict.reason} (the program's stderr ends: {last})", verdict.seen)


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
