"""Helpers shared by every test package (and the benchmarks): wait for a child to say it is
ready, make sure a child is gone when a test ends, run a child without a capability, and read
a capture's fields with tshark (the independent reading most tests compare with).

Children are always ended by their own PID (``Popen.kill``), never by name.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def read_until(proc: subprocess.Popen[Any], marker: bytes, timeout: float = 10.0) -> bytes:
    """Read the process's stderr until ``marker`` appears (the process says it is ready).

    Reads the raw file descriptor, so it works for text and binary pipes alike and never
    waits past ``timeout`` for a line that does not come.  If the child ends or stays silent,
    it is killed and the test fails with what it did say.
    """
    assert proc.stderr is not None
    fd = proc.stderr.fileno()
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        ready, _, _ = select.select([fd], [], [], max(deadline - time.monotonic(), 0.0))
        chunk = os.read(fd, 4096) if ready else b""
        if not chunk:
            proc.kill()
            proc.communicate()
            raise AssertionError(f"no {marker!r} from {proc.args!r}: {seen!r}")
        seen += chunk
    return seen


@contextmanager
def reaped(proc: subprocess.Popen[Any]) -> Iterator[subprocess.Popen[Any]]:
    """The block's child is gone when the block ends, even on failure: killed if still running.

    ``communicate`` (not ``wait``) also drains and closes its pipes, so a chatty child cannot
    block on a full pipe and no file descriptor is left open.
    """
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def without_caps(argv: list[str], *caps: str) -> list[str]:
    """``argv`` run with the capabilities ``caps`` (e.g. ``"net_raw"``) out of reach.

    As root, setpriv(1) drops them from the bounding and inheritable sets before exec, so the
    child cannot have them even as uid 0 (capabilities(7)); anyone else never had them and
    runs ``argv`` as is.  The test is skipped, saying why, where root has no setpriv.
    """
    if os.geteuid() != 0:
        return argv
    import pytest  # here, not at the top: the benchmarks import this module without pytest

    setpriv = shutil.which("setpriv")
    if setpriv is None:
        names = " and ".join(f"CAP_{c.upper()}" for c in caps)
        pytest.skip(f"setpriv (util-linux) is needed to drop {names} as root")
    drop = ",".join(f"-{c}" for c in caps)
    return [setpriv, f"--bounding-set={drop}", f"--inh-caps={drop}", *argv]


def tshark_fields(pcap: str | os.PathLike[str], *fields: str, display: str = "",
                  options: tuple[str, ...] = ()) -> list[list[str]]:
    """One row a frame of ``tshark -T fields``: the values of ``fields`` in that order, ``""``
    where a frame has none (a row for every frame, so rows line up with frames).

    ``-n``: addresses and ports as numbers, never names.  ``display`` is a display filter
    (``-Y``), ``options`` extra arguments before ``-T`` (e.g. ``("-o", "pref:value")``).
    """
    argv = ["tshark", "-n", "-r", os.fspath(pcap), *options, "-T", "fields",
            "-E", "separator=|"]
    for name in fields:
        argv += ["-e", name]
    if display:
        argv += ["-Y", display]
    done = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=120)
    return [line.split("|") for line in done.stdout.splitlines()]
