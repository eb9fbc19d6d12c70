"""open_source: the packets of a file or of a live interface, stopped by count, time or Ctrl-C.

Live captures here listen on ``lo`` with a BPF filter on a port of ours and send UDP to
127.0.0.1 only; they need CAP_NET_RAW (root), and are skipped with that reason otherwise.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from wirelab import samples
from wirelab.monitor.source import Packet, SourceError, open_source
from wirelab.wire.capture import open_capture

from ..helpers import reaped, without_caps
from .conftest import mixed_pcap

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("tcpdump") is None,
    reason="a live capture needs CAP_NET_RAW (root) and tcpdump to compile its filter")


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return mixed_pcap(tmp_path_factory.mktemp("source"), 3000, seed=5)


def test_file_source_yields_the_files_packets(mixed: Path) -> None:
    with open_capture(str(mixed)) as reader:
        expected = [(p.ts_ns, p.linktype, p.data, p.orig_len) for p in reader]
    with open_source(str(mixed)) as source:
        got = list(source)
    assert got == expected
    assert all(isinstance(p, Packet) for p in got)
    assert source.count == len(expected) == 3000 and not source.interrupted


def test_file_source_count_and_duration(mixed: Path) -> None:
    with open_source(str(mixed), count=1500) as source:
        assert len(list(source)) == 1500
    with open_source(str(mixed), count=1) as source:
        assert len(list(source)) == 1
    with open_capture(str(mixed)) as reader:
        stamps = [p.ts_ns for p in reader]
    within = sum(1 for t in stamps if t - stamps[0] <= 2_000_000_000)
    assert 0 < within < len(stamps)
    with open_source(str(mixed), duration=2.0) as source:
        assert len(list(source)) == within


def test_file_source_stop_ends_after_the_batch_in_hand(tmp_path: Path) -> None:
    path = tmp_path / "longer.pcap"
    samples.write_pcap(path, samples.mixed_frames(9000, seed=6))  # about 3 MB: 3 batches
    with open_source(str(path)) as source:
        seen = []
        for batch in source.batches(0.1):
            seen.append(len(batch))
            source.stop()
        assert len(seen) == 1 and 0 < seen[0] < 9000  # the batch in hand, then nothing


@pytest.mark.parametrize("kwargs", [{}, {"interface": "lo"}, {"bpf": "udp"}, {"count": 0},
                                    {"duration": 0}])
def test_bad_combinations_are_source_errors(mixed: Path, kwargs: dict[str, object]) -> None:
    path = None if kwargs == {} else str(mixed)
    with pytest.raises(SourceError):
        with open_source(path, **kwargs):  # type: ignore[arg-type]
            pass


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _send_udp(port: int, n: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for i in range(n):
            s.sendto(b"wirelab %d" % i, ("127.0.0.1", port))


@needs_root
def test_live_source_on_lo_counts_exactly_what_was_sent() -> None:
    port = _free_udp_port()
    with open_source(interface="lo", bpf=f"udp dst port {port}", count=25,
                     duration=10) as source:
        _send_udp(port, 30)  # the ring is armed: these wait in it
        got = list(source)
    assert len(got) == 25 and source.count == 25
    for i, p in enumerate(got):
        assert p.linktype == 1  # lo's frames carry an Ethernet header, as libpcap records
        assert p.data.endswith(b"wirelab %d" % i)  # once each: outgoing copies are skipped
        assert p.orig_len == len(p.data) == 14 + 20 + 8 + len(b"wirelab %d" % i)
        assert abs(p.ts_ns - time.time_ns()) < 10 * 1_000_000_000


@needs_root
def test_live_source_ends_at_its_duration_without_traffic() -> None:
    port = _free_udp_port()
    start = time.monotonic()
    with open_source(interface="lo", bpf=f"udp dst port {port}", duration=0.5) as source:
        got = list(source)
    assert got == [] and not source.interrupted
    assert 0.45 <= time.monotonic() - start < 5


@needs_root
def test_live_batches_are_empty_when_quiet_and_stop_works() -> None:
    port = _free_udp_port()
    with open_source(interface="lo", bpf=f"udp dst port {port}") as source:
        timer = threading.Timer(0.6, source.stop)
        timer.start()
        batches = list(source.batches(0.1))
        timer.join()
    assert batches and all(b == [] for b in batches)  # the quiet ticks a live view redraws on


_CTRL_C = """
import sys
from wirelab.monitor.source import open_source
with open_source(interface="lo", bpf="udp dst port %d") as source:
    print("armed", flush=True)
    n = sum(1 for _ in source)
print("count", n, "interrupted", source.interrupted, flush=True)
"""


@needs_root
def test_ctrl_c_ends_a_live_capture_cleanly() -> None:
    port = _free_udp_port()
    proc = subprocess.Popen([sys.executable, "-c", _CTRL_C % port], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    with reaped(proc):
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "armed"
        _send_udp(port, 7)
        time.sleep(0.3)  # the ring retires a block within 50 ms
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert out.strip() == "count 7 interrupted True"


_REFUSED = """
from wirelab.errors import PrivilegeError
from wirelab.monitor.source import open_source
try:
    with open_source(interface="lo"):
        pass
except PrivilegeError as exc:
    print(exc)
"""


def test_live_source_without_net_raw_is_a_privilege_error() -> None:
    argv = without_caps([sys.executable, "-c", _REFUSED], "net_raw")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "needs CAP_NET_RAW" in done.stdout and "lab" in done.stdout
