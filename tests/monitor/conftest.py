"""Shared fixtures of the monitor tests: real traffic captured on loopback."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from wirelab import samples

from ..helpers import read_until


class LoCapture:
    """tcpdump on ``lo`` writing a pcap (to a file we open: tcpdump drops root), by PID."""

    def __init__(self, path: Path, bpf: str) -> None:
        if os.geteuid() != 0 or shutil.which("tcpdump") is None:
            pytest.skip("capturing on lo needs root and tcpdump")
        self.path = path
        argv = ["tcpdump", "-i", "lo", "-n", "-U", "--immediate-mode", "-s", "0", "-w", "-",
                bpf]
        with open(path, "wb") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.PIPE)
        read_until(self.proc, b"listening on", timeout=10)

    def stop(self) -> None:
        """SIGINT, so tcpdump flushes the file; safe to call twice."""
        if self.proc.returncode is not None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        self.proc.communicate(timeout=10)


def mixed_pcap(directory: Path, count: int, seed: int) -> Path:
    """``directory``/mixed.pcap: ``count`` frames of ``samples.mixed_frames`` (every kind the
    monitor counts: fragments, IPv6, DNS, ...), the same frames for the same ``seed``."""
    path = directory / "mixed.pcap"
    samples.write_pcap(path, samples.mixed_frames(count, seed=seed))
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_for(pred: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


@pytest.fixture
def loopback_http(tmp_path: Path) -> Iterator[Path]:
    """A pcap of a few HTTP fetches on lo; the server and tcpdump are stopped by PID."""
    port = _free_port()
    (tmp_path / "index.html").write_bytes(b"hello " * 2000)
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind",
                               "127.0.0.1", "--directory", str(tmp_path)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        dump = LoCapture(tmp_path / "lo.pcap", f"tcp port {port}")
    except BaseException:
        server.terminate()
        server.wait(timeout=10)
        raise
    try:
        _wait_for(lambda: _connects(port))
        for name in ("index.html", "index.html", "missing"):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/{name}", timeout=5) as r:
                    r.read()
            except urllib.error.HTTPError:
                pass  # the 404 is traffic too
        time.sleep(0.5)  # the last FIN/ACKs
        dump.stop()
        yield dump.path
    finally:
        dump.stop()
        server.terminate()
        server.wait(timeout=10)


def _connects(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


