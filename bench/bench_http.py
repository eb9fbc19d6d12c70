"""``wirelab http get -o /dev/null`` vs ``curl -s -o /dev/null``: a 256 MiB body from nginx on
loopback, in the same run, plus wirelab's peak memory for a 32 MiB and a 256 MiB body.

Each figure is the median of several runs, the two tools interleaved.  Both are timed from
outside, as whole processes (fork to exit).  The throughput compared is the transfer's:
256 MiB divided by (time for the 256 MiB body - time for an empty body) for the same tool,
which takes out the start-up cost of each program (the Python interpreter and imports for
wirelab, next to nothing for curl) and leaves the cost of moving the bytes.  The whole-process
figures are printed as well.  Peak memory is the child's ru_maxrss from wait4(2).

Run: ``.venv/bin/python -m bench http``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.sockets.helpers import Nginx

from bench.report import ratio_line

MiB = 1024 * 1024
BIG = 256 * MiB
SMALL = 32 * MiB
RUNS = 7
WIRELAB = str(Path(sys.executable).with_name("wirelab"))

def _write_body(path: Path, size: int) -> None:
    block = os.urandom(MiB)
    with open(path, "wb") as fh:
        for _ in range(size // MiB):
            fh.write(block)


def start_nginx(workdir: Path) -> Nginx:
    """The tests' nginx (``tests/sockets/helpers.py``) serving the three bodies."""
    server = Nginx(workdir)
    _write_body(server.root / "big.bin", BIG)
    _write_body(server.root / "small.bin", SMALL)
    (server.root / "empty.bin").write_bytes(b"")
    return server.start()


def run(argv: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one process run to completion."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({proc.returncode}): {err.strip()}")
    return elapsed, usage.ru_maxrss


def ours(url: str) -> list[str]:
    return [WIRELAB, "http", "get", url, "-o", "/dev/null"]


def curl(url: str) -> list[str]:
    return ["curl", "-s", "-o", "/dev/null", url]


def main() -> None:
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None  # bodies in RAM, not on disk
    with tempfile.TemporaryDirectory(prefix="wirelab-bench-http-", dir=base) as tmp:
        server = start_nginx(Path(tmp))
        try:
            measure(server)
        finally:
            server.stop()


def measure(server: Nginx) -> None:
    times: dict[tuple[str, str], list[float]] = {}
    rss: dict[str, list[int]] = {"small.bin": [], "big.bin": []}
    for tool in (ours, curl):  # warm the page cache and both programs
        run(tool(server.url("/big.bin")))
    for _ in range(RUNS):
        for name in ("empty.bin", "big.bin"):
            for label, tool in (("wirelab", ours), ("curl", curl)):
                seconds, _ = run(tool(server.url("/" + name)))
                times.setdefault((label, name), []).append(seconds)
        for name in rss:
            rss[name].append(run(ours(server.url("/" + name)))[1])
    med = {key: statistics.median(values) for key, values in times.items()}
    for label in ("wirelab", "curl"):
        print(f"  {label}: 256 MiB in {med[(label, 'big.bin')]:.3f} s, empty body in "
              f"{med[(label, 'empty.bin')]:.3f} s (medians of {RUNS}, whole process)")

    def transfer_rate(label: str) -> float:
        return BIG / MiB / (med[(label, "big.bin")] - med[(label, "empty.bin")])

    ratio_line("http 256 MiB transfer throughput (start-up subtracted)",
               transfer_rate("wirelab"), "curl", transfer_rate("curl"), "MiB/s", 0.8)
    ratio_line("http 256 MiB whole-process throughput (incl. start-up)",
               BIG / MiB / med[("wirelab", "big.bin")], "curl",
               BIG / MiB / med[("curl", "big.bin")], "MiB/s", 0.8)
    small, big = max(rss["small.bin"]) / 1024, max(rss["big.bin"]) / 1024
    verdict = "independent of the body size" if big <= small * 1.1 + 1 else "GROWS with the body"
    print(f"http peak RSS of wirelab: {small:.1f} MiB for a 32 MiB body, {big:.1f} MiB for a "
          f"256 MiB body ({verdict})", flush=True)


if __name__ == "__main__":
    main()
