"""The progress bar: on stderr, only when stderr is a terminal and the scan lasts more than a
second.  Unit tests on a string stream, then a real scan in the lab with stderr on a pty."""

from __future__ import annotations

import io
import os
import pty
import select
import subprocess
import sys
import time

import pytest

from wirelab.lab.lab import Lab
from wirelab.recon.progress import ScanProgress


def test_not_a_terminal_draws_nothing() -> None:
    stream = io.StringIO()
    with ScanProgress("Scanning x", stream=stream, delay=0) as progress:
        for done in range(0, 101, 10):
            progress(done, 100)
    assert not progress.enabled and stream.getvalue() == ""


def test_short_scans_draw_nothing() -> None:
    stream = io.StringIO()
    with ScanProgress("Scanning x", stream=stream, force=True, delay=30) as progress:
        progress(50, 100)
        assert not progress.shown
    assert stream.getvalue() == ""


def test_bar_with_eta_after_the_delay() -> None:
    stream = io.StringIO()
    with ScanProgress("Scanning server (tcp)", stream=stream, force=True,
                      delay=0.05) as progress:
        progress(0, 100)
        time.sleep(0.1)
        progress(40, 100)
        assert progress.shown
        progress._bar.refresh()  # draw now instead of waiting for the refresh thread
        drawn = stream.getvalue()
    assert "Scanning server (tcp)" in drawn
    assert "40/100" in drawn and "ETA" in drawn


def _stderr_of(lab: Lab | None, argv: list[str], tty: bool) -> tuple[int, str]:
    """Run ``argv`` in the lab's client (or here) with stderr on a pty (or a pipe)."""
    if not tty:
        assert lab is not None
        done = lab.host("client").run(argv, timeout=60)
        return done.returncode, str(done.stderr)
    master, slave = pty.openpty()
    try:
        start = lab.host("client").popen if lab is not None else subprocess.Popen
        proc = start(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave)
        os.close(slave)
        chunks = []
        while True:
            ready, _, _ = select.select([master], [], [], 30)
            if not ready:
                proc.kill()
                break
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed its end
                break
            if not chunk:
                break
            chunks.append(chunk)
        return proc.wait(timeout=30), b"".join(chunks).decode(errors="replace")
    finally:
        os.close(master)


def test_no_bar_for_a_short_scan_on_a_terminal() -> None:
    code, on_tty = _stderr_of(None, [sys.executable, "-m", "wirelab", "scan", "127.0.0.1",
                                     "-p", "1-50", "--type", "connect"], tty=True)
    assert code == 0 and on_tty == ""


@pytest.mark.lab
def test_progress_on_a_terminal_only(shared_lab: Lab) -> None:
    server = shared_lab.host("server")
    rule = ["INPUT", "-p", "tcp", "--dport", "1000:1003", "-j", "DROP"]
    server.run(["iptables", "-w", "-A", *rule], check=True)
    # -T3 waits 1 s for a silent port, twice here: the scan lasts about 2 s
    argv = [sys.executable, "-m", "wirelab", "scan", "server", "-p", "1000-1003", "-T3",
            "--max-retries", "1"]
    try:
        code, on_tty = _stderr_of(shared_lab, argv, tty=True)
        assert code == 0, on_tty
        assert "Scanning server (tcp)" in on_tty and "ETA" in on_tty
        code, on_pipe = _stderr_of(shared_lab, argv, tty=False)
        assert code == 0 and on_pipe == ""
    finally:
        server.run(["iptables", "-w", "-D", *rule])
