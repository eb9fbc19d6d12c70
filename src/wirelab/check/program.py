"""Run a program inside a lab host the way a check needs: output kept, time bounded.

The learner's program may crash, hang, or print a lot; none of that may reach the user as a
traceback from wirelab.  So its output goes to files in the results folder (no pipe can fill
and block it), it runs in its own session so that the whole process group can be stopped by
the PID we started, and a timeout becomes a FAIL with a reason.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

from wirelab.errors import EncodeError, LabError
from wirelab.lab.lab import Host


def parse_program(command: str) -> list[str]:
    """``--program 'python3 my_client.py --port 8000'`` as an argument list (no shell)."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise EncodeError(f"--program: cannot split {command!r}: {exc}") from None
    if not argv:
        raise EncodeError("--program: empty command")
    return argv


def wirelab_argv(args: list[str]) -> list[str]:
    """wirelab's own command, run with this interpreter (the lab's PATH may lack the venv)."""
    return [sys.executable, "-m", "wirelab", *args]


def program_env(host: Host, server_ip: str) -> dict[str, str]:
    """The environment a program sees: the lab's, whose PATH starts with this interpreter's
    bin (so ``python3`` has Scapy and ``wirelab`` is this one), and the server's address in
    ``WIRELAB_SERVER`` for scripts that read it."""
    from wirelab.lab import lifecycle

    env = lifecycle.lab_env(host.lab._state(), host.name)
    env["WIRELAB_SERVER"] = server_ip
    env["PYTHONUNBUFFERED"] = "1"  # so output is in the file even if the program is killed
    return env


class Running:
    """A program started in a host, its stdout and stderr going to ``<stem>.out``/``.err``."""

    def __init__(self, host: Host, argv: list[str], folder: Path, stem: str,
                 env: dict[str, str] | None = None) -> None:
        self.argv = argv
        self.out_path = folder / f"{stem}.out"
        self.err_path = folder / f"{stem}.err"
        self.timed_out = False
        self.started = time.monotonic()
        out: IO[bytes]
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            kwargs: dict[str, Any] = {"stdin": subprocess.DEVNULL, "stdout": out,
                                      "stderr": err, "start_new_session": True}
            if env is not None:
                kwargs["env"] = env
            try:
                self.proc: subprocess.Popen[bytes] = host.popen(argv, **kwargs)
            except FileNotFoundError:
                raise LabError(f"cannot run {argv[0]!r} in {host.name}: no such program") \
                    from None
            except PermissionError:
                raise LabError(f"cannot run {argv[0]!r} in {host.name}: not executable") \
                    from None

    # -- reading --------------------------------------------------------------------------

    @property
    def stdout(self) -> str:
        return self.out_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def said(self, text: str) -> bool:
        return text in self.stdout or text in self.stderr

    def wait_for(self, text: str | None, timeout: float) -> bool:
        """Wait until the program prints ``text`` (None: anything), exits, or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (self.said(text) if text else (self.stdout or self.stderr)):
                return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.02)
        return False

    # -- ending ---------------------------------------------------------------------------

    def wait(self, timeout: float) -> int | None:
        """Wait for the exit; on timeout kill the program's process group and mark it."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.timed_out = True
            self._signal(signal.SIGKILL)
            self.proc.wait()
            return None

    def reap(self) -> None:
        """After the program ended: kill what it left running in its process group (a
        background child must not outlive the check).  The group id is the PID we started."""
        if self.proc.poll() is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def interrupt(self, grace: float = 5.0) -> int | None:
        """Ctrl-C (SIGINT to the group), then SIGKILL after ``grace`` seconds."""
        if self.proc.poll() is None:
            self._signal(signal.SIGINT)
        return self.wait(grace)

    def stop(self, grace: float = 2.0) -> None:
        """End a server counterpart: SIGTERM, then SIGKILL."""
        if self.proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.proc.wait()

    def _signal(self, sig: int) -> None:
        # The program leads its own session (start_new_session), so its group id is its PID:
        # the group of the process we started, nothing else.
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass

    def last_error_line(self) -> str:
        lines = [ln.strip() for ln in self.stderr.splitlines() if ln.strip()]
        return lines[-1] if lines else ""

    def describe_exit(self) -> str:
        code = self.proc.returncode
        if code is not None and code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exit status {code}"


def quote(argv: list[str]) -> str:
    return shlex.join(argv)
