"""A receiver that stops reading: its window closes to zero, the sender probes, then the
window opens again.  Real kernel TCP on loopback; tshark is the judge of every mark."""

from __future__ import annotations

import os
import pathlib
import socket
import threading
import time

import pytest

from wirelab.observe import build_ladder, follow, load
from wirelab.observe.analysis import Mark, analyse_stream

from .helpers import loopback_capture, needs_tshark, tcp_closed, tshark_marks

PAYLOAD_SIZE = 1_500_000


def _slow_receiver(listener: socket.socket, out: list[bytes]) -> None:
    conn, _ = listener.accept()
    with conn:
        time.sleep(1.0)  # let the window close and the sender probe it
        got = bytearray()
        while chunk := conn.recv(4096):
            got += chunk
            time.sleep(0.0005)  # read slowly: the window opens and closes again
        out.append(bytes(got))


@needs_tshark
def test_zero_window_marks_agree_with_tshark(tmp_path: pathlib.Path) -> None:
    payload = os.urandom(PAYLOAD_SIZE)
    listener = socket.socket()
    # A small receive buffer, set before listen() so the handshake's window scale fits it.
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    with listener:
        for attempt in range(3):  # again if tcpdump lost packets on a busy machine
            received: list[bytes] = []
            pcap = tmp_path / f"zero-{attempt}.pcap"
            with loopback_capture(pcap, f"tcp port {port}", until=tcp_closed(1)) as cap:
                thread = threading.Thread(target=_slow_receiver, args=(listener, received))
                thread.start()
                with socket.socket() as sender:
                    sender.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
                    sender.connect(("127.0.0.1", port))
                    sender.sendall(payload)
                    sender.shutdown(socket.SHUT_WR)
                    thread.join(60)
            if cap.ok:
                break
        else:
            pytest.fail(f"tcpdump lost packets in 3 attempts (last: {cap})")
    assert received == [payload]

    packets = load(pcap)
    assert follow(packets, 0).client_bytes == payload
    ours = analyse_stream(packets)
    theirs = tshark_marks(pcap)
    assert {n: a.tshark_fields() for n, a in ours.items()} == theirs
    seen = set().union(*theirs.values())
    if "tcp.analysis.zero_window" not in seen:
        pytest.fail(f"the receiver's window never closed; tshark saw only {sorted(seen)}")
    zero = [n for n, a in ours.items() if a.marks & Mark.ZERO_WINDOW]
    ladder = build_ladder(packets, 0)
    marked = {a.number: a for a in ladder.arrows}
    assert all("TCP ZeroWindow" in marked[n].marks and marked[n].alert for n in zero)
    assert all(marked[n].detail.startswith("Seq=") and "Win=0 " in marked[n].detail
               for n in zero)
