"""Packet capture inside a lab host: tcpdump(8) run in the host, writing a pcap file.

tcpdump writes the pcap to its standard output (``-w -``), which is the file opened here by
the caller: the file then belongs to the caller whatever user tcpdump switches to.  ``-U``
flushes every packet, so the file is complete the moment tcpdump stops, and
``--immediate-mode`` hands each packet over at once: without it, packets still in libpcap's
buffer when SIGINT arrives are never written.

In a rootless lab tcpdump cannot run (it insists on switching users, which a user namespace
with one mapped UID forbids); :mod:`wirelab.lab.pcapture` takes its place there, with the same
arguments, output and messages.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

from wirelab.errors import LabError, ToolMissingError

if TYPE_CHECKING:
    from wirelab.lab.lab import Host

_COUNTS = re.compile(rb"(\d+) packets? captured")
READY_SECONDS = 10.0


class Capture:
    """A running tcpdump.  Use as a context manager, or :meth:`start` / :meth:`stop`."""

    def __init__(self, host: Host, path: str | os.PathLike[str], iface: str | None = None,
                 bpf: str | None = None, count: int | None = None,
                 duration: float | None = None, snaplen: int = 262144) -> None:
        self.host = host
        self.path = os.fspath(path)
        self.iface = iface or host.interfaces[0].name
        self.bpf = bpf
        self.count = count
        self.duration = duration
        self.snaplen = snaplen
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.stderr = b""
        self.packets: int | None = None

    @property
    def engine(self) -> str:
        return "tcpdump" if self.host.lab.mode == "root" else "pcapture"

    def argv(self) -> list[str]:
        if self.engine == "tcpdump":
            # -B: a 32 MiB kernel buffer (the default 2 MiB overflows on a busy machine, and
            # tcpdump then reports packets "dropped by kernel").
            argv = ["tcpdump", "-i", self.iface, "-n", "-U", "--immediate-mode", "-B", "32768",
                    "-s", str(self.snaplen), "-w", "-"]
        else:
            argv = [sys.executable, "-m", "wirelab.lab.pcapture", "-i", self.iface, "-s",
                    str(self.snaplen)]
        if self.count is not None:
            argv += ["-c", str(self.count)]
        if self.bpf:
            argv.append(self.bpf)  # one argument: tcpdump joins the expression's words itself
        return argv

    def start(self) -> Capture:
        """Start tcpdump and return once it is capturing (it said "listening on")."""
        with open(self.path, "wb") as out:
            try:
                self.proc = self.host.popen(self.argv(), stdout=out, stderr=subprocess.PIPE,
                                            stdin=subprocess.DEVNULL)
            except FileNotFoundError:
                raise ToolMissingError("tcpdump is not installed (apt-get install tcpdump)") \
                    from None
        self.started_at = time.monotonic()
        assert self.proc.stderr is not None
        fd = self.proc.stderr.fileno()
        deadline = time.monotonic() + READY_SECONDS
        while b"listening on" not in self.stderr:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(fd, 4096) if ready else b""
            if not chunk:
                self.proc.kill()
                self.proc.wait()
                raise LabError(f"{self.engine} on {self.host.name}:{self.iface} did not start: "
                               f"{self._last_line()}")
            self.stderr += chunk
        return self

    def wait(self, timeout: float | None = None) -> int:
        """Wait for tcpdump to end (``-c`` reached, or ``duration`` over); return packets."""
        assert self.proc is not None, "capture not started"
        limit = self.duration
        if timeout is not None:
            limit = timeout if limit is None else min(limit, timeout)
        try:
            remaining = None if limit is None else \
                max(0.0, self.started_at + limit - time.monotonic())
            self.proc.wait(remaining)
        except subprocess.TimeoutExpired:
            pass
        return self.stop()

    def stop(self) -> int:
        """Stop tcpdump (SIGINT, so it finishes the file); return the packets it captured."""
        proc = self.proc
        if proc is None:
            return 0
        if self.packets is not None:  # already stopped
            return self.packets
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(5.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        assert proc.stderr is not None
        self.stderr += proc.stderr.read()
        proc.stderr.close()
        match = _COUNTS.search(self.stderr)
        self.packets = int(match.group(1)) if match else 0
        if proc.returncode not in (0, -signal.SIGINT) and match is None:
            raise LabError(f"{self.engine} failed: {self._last_line()}")
        return self.packets

    def _last_line(self) -> str:
        lines = self.stderr.decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else "no output"

    def __enter__(self) -> Capture:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
