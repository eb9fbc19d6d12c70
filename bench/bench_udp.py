"""Lossless receive rate of ``wirelab udp serve --quiet`` vs socat, on loopback, same run.

A second process floods the receiver with 64-byte datagrams at a paced rate (sendmmsg(2)
through ctypes, in small bursts on a schedule); a stepping search, then a bisection, finds the
highest rate at which the receiver gets every datagram.  Loss is judged the same way for
both receivers, by the kernel: the socket's ``drops`` counter in /proc/net/udp, read after
its receive queue has drained.  wirelab's own count must agree with it.

Receivers: ``wirelab udp serve --quiet`` (counts datagrams and bytes, prints only the summary:
the mode measured here) and ``socat -u UDP-RECV:PORT,... /dev/null`` (reads each datagram and
writes it out).  Both get the same SO_RCVBUF.  If the sender cannot go faster than a
receiver can take, that receiver's figure is a floor and the line says so.

Run: ``.venv/bin/python -m bench udp``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench._mmsg import messages
from bench.report import ratio_line

PAYLOAD = 64
RCVBUF = 1 << 20
TRIAL_SECONDS = 0.6
BURST = 64  # datagrams per sendmmsg call at most: far below what SO_RCVBUF holds
START_RATE = 20_000.0
STEP = 1.4
BISECTIONS = 4
WIRELAB = str(Path(sys.executable).with_name("wirelab"))


# --- the paced sender (runs as its own process: python -m bench.bench_udp send ...) --------


def send_paced(port: int, rate: float, count: int) -> dict[str, float]:
    """Send ``count`` datagrams to 127.0.0.1:``port`` at ``rate`` per second."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    sock.connect(("127.0.0.1", port))
    msgs, _keep = messages([b"w" * PAYLOAD], BURST)
    sendmmsg, fd, clock = libc.sendmmsg, sock.fileno(), time.perf_counter
    sent = 0
    start = clock()
    while sent < count:
        due = int((clock() - start) * rate) - sent
        if due <= 0:
            continue  # spin: sleeping would make the bursts too coarse
        n = sendmmsg(fd, msgs, min(due, BURST, count - sent), 0)
        if n < 0:
            err = ctypes.get_errno()
            if err in (errno.ENOBUFS, errno.EAGAIN):
                continue
            raise OSError(err, "sendmmsg")
        sent += n
    elapsed = clock() - start
    return {"sent": sent, "seconds": elapsed, "rate": sent / elapsed}


# --- receivers -------------------------------------------------------------------------------


def _socket_stats(port: int) -> tuple[int, int] | None:
    """(rx_queue bytes, drops) of the UDP socket bound to 127.0.0.1:``port``."""
    local = f"0100007F:{port:04X}"
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        cols = line.split()
        if cols[1] == local:
            rx_queue = int(cols[4].split(":")[1], 16)
            return rx_queue, int(cols[-1])
    return None


def _wait_bound(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while _socket_stats(port) is None:
        if time.monotonic() > deadline:
            raise RuntimeError(f"receiver did not bind port {port}")
        time.sleep(0.01)


def _wait_drained(port: int, timeout: float = 5.0) -> int:
    """Wait until the receive queue is empty; return the socket's drop count."""
    deadline = time.monotonic() + timeout
    while True:
        stats = _socket_stats(port)
        assert stats is not None
        if stats[0] == 0 or time.monotonic() > deadline:
            time.sleep(0.05)  # let the receiver finish the datagram it holds
            stats = _socket_stats(port)
            assert stats is not None
            return stats[1]
        time.sleep(0.01)


@dataclass
class Trial:
    rate: float  # asked
    achieved: float
    sent: int
    dropped: int  # by the kernel: the receiver was too slow
    counted: int | None  # by the receiver itself, where it says

    @property
    def lossless(self) -> bool:
        return self.dropped == 0 and self.counted in (None, self.sent)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wirelab_receiver(port: int) -> tuple[subprocess.Popen[bytes], Callable[[], int | None]]:
    proc = subprocess.Popen([WIRELAB, "udp", "serve", "--port", str(port), "--quiet", "--json",
                             "--rcvbuf", str(RCVBUF)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    def stop() -> int | None:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=10)
        summary = json.loads(out.decode().strip().splitlines()[-1])
        return int(summary["datagrams"])

    return proc, stop


def socat_receiver(port: int) -> tuple[subprocess.Popen[bytes], Callable[[], int | None]]:
    proc = subprocess.Popen(["socat", "-u", f"UDP-RECV:{port},bind=127.0.0.1,rcvbuf={RCVBUF}",
                             "OPEN:/dev/null"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop() -> int | None:
        proc.terminate()
        proc.communicate(timeout=10)
        return None  # socat does not count; the kernel's drop counter judges it

    return proc, stop


Receiver = Callable[[int], tuple[subprocess.Popen[bytes], Callable[[], int | None]]]


def trial(receiver: Receiver, rate: float) -> Trial:
    port = _free_port()
    proc, stop = receiver(port)
    try:
        _wait_bound(port)
        count = max(int(rate * TRIAL_SECONDS), 2000)
        out = subprocess.run([sys.executable, "-m", "bench.bench_udp", "send", str(port),
                              str(rate), str(count)], capture_output=True, check=True,
                             cwd=Path(__file__).parent.parent, timeout=120).stdout
        sent = json.loads(out)
        dropped = _wait_drained(port)
        counted = stop()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return Trial(rate, sent["rate"], int(sent["sent"]), dropped, counted)


def lossless_rate(name: str, receiver: Receiver) -> tuple[float, bool]:
    """Highest rate without loss; and whether the sender (not the receiver) was the limit."""
    def run(rate: float) -> Trial:
        t = trial(receiver, rate)
        if not t.lossless:  # one retry: a single scheduling hiccup is not the receiver's rate
            t = trial(receiver, rate)
        note = "" if t.counted is None else f", counted {t.counted}"
        print(f"  {name}: asked {rate:,.0f}/s sent {t.achieved:,.0f}/s, {t.sent} datagrams, "
              f"dropped {t.dropped}{note} -> {'lossless' if t.lossless else 'LOSS'}", flush=True)
        return t

    good, bad = 0.0, None
    rate = START_RATE
    while True:
        t = run(rate)
        if not t.lossless:
            bad = rate
            break
        good = t.achieved
        if t.achieved < 0.9 * rate:  # the sender cannot go faster: a floor, not a limit
            return good, True
        rate *= STEP
    for _ in range(BISECTIONS):
        mid = (good + bad) / 2
        t = run(mid)
        if t.lossless:
            good = max(good, t.achieved)
        else:
            bad = mid
    return good, False


def main() -> None:
    print(f"64-byte datagrams on 127.0.0.1, SO_RCVBUF {RCVBUF} for both receivers; "
          f"wirelab measured in --quiet mode (counts, prints only the summary)")
    ours, ours_capped = lossless_rate("wirelab", wirelab_receiver)
    theirs, theirs_capped = lossless_rate("socat", socat_receiver)
    for who, capped in (("wirelab", ours_capped), ("socat", theirs_capped)):
        if capped:
            print(f"  note: {who} lost nothing at the sender's top speed; its figure is a floor")
    ratio_line("udp lossless receive rate", ours, "socat", theirs, "datagrams/s", 0.8)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "send":
        print(json.dumps(send_paced(int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]))))
    else:
        main()
