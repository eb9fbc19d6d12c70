"""A real transfer through the lab with netem reordering and loss on the link: the kernel's
TCP retransmits and segments arrive out of order.  ``follow`` must still give exactly the
bytes each program sent, and our marks and stream numbers must be tshark's, frame by frame."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

from wirelab.lab import Lab
from wirelab.observe import build_ladder, follow, load, number_streams
from wirelab.observe.analysis import analyse_stream

from .helpers import (
    DROPPED,
    LoopbackCapture,
    needs_tshark,
    tcp_closed,
    tshark_fields,
    tshark_marks,
    wait_until,
)

PORT = 9555  # not one of the lab's service ports

SERVER = """
import socket, sys
port, upload_out, download_in = int(sys.argv[1]), sys.argv[2], sys.argv[3]
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", port))
srv.listen(1)
print("ready", flush=True)
conn, _ = srv.accept()
got = bytearray()
while chunk := conn.recv(65536):
    got += chunk
open(upload_out, "wb").write(got)
conn.sendall(open(download_in, "rb").read())
conn.close()
"""

CLIENT = """
import socket, sys
host, port, upload_in, download_out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
s = socket.create_connection((host, port), timeout=30)
s.sendall(open(upload_in, "rb").read())
s.shutdown(socket.SHUT_WR)
got = bytearray()
while chunk := s.recv(65536):
    got += chunk
open(download_out, "wb").write(got)
s.close()
"""


def _transfer(lab: Lab, tmp_path: pathlib.Path, upload: bytes, download: bytes,
              attempt: int) -> tuple[pathlib.Path, LoopbackCapture]:
    """Run the client/server transfer under capture; return the pcap and how it went."""
    files = {name: tmp_path / f"{attempt}-{name}" for name in
             ("upload.bin", "download.bin", "upload.got", "download.got", "s.py", "c.py")}
    files["upload.bin"].write_bytes(upload)
    files["download.bin"].write_bytes(download)
    files["s.py"].write_text(SERVER)
    files["c.py"].write_text(CLIENT)
    pcap = tmp_path / f"{attempt}-netem.pcap"
    server, client = lab.host("server"), lab.host("client")
    with lab.capture("server", pcap, bpf=f"tcp port {PORT}") as cap:
        proc = server.popen([sys.executable, str(files["s.py"]), str(PORT),
                             str(files["upload.got"]), str(files["download.bin"])],
                            stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
            done = client.run([sys.executable, str(files["c.py"]), server.ip, str(PORT),
                               str(files["upload.bin"]), str(files["download.got"])],
                              timeout=120)
            assert done.returncode == 0, done.stderr
            assert proc.wait(60) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        complete = wait_until(pcap, tcp_closed(1))  # tcpdump may lag on a busy machine
    # the programs did their job over the shaped link
    assert files["upload.got"].read_bytes() == upload
    assert files["download.got"].read_bytes() == download
    found = DROPPED.search(cap.stderr)
    return pcap, LoopbackCapture(pcap, int(found.group(1)) if found else 0, complete)


@pytest.mark.lab
@needs_tshark
def test_follow_and_marks_under_reordering_and_loss(lab: Lab, tmp_path: pathlib.Path) -> None:
    upload, download = os.urandom(400_000), os.urandom(250_000)
    lab.link("client", "server").shape(delay="5ms", reorder="30%", loss="2%")
    # The capture is the lab's (tcpdump, or its stand-in in a rootless lab).
    # tcpdump itself may drop packets when the machine is busy ("dropped by kernel"); such
    # a capture lacks segments the server did receive, so it cannot be held to the bytes.
    for attempt in range(3):
        pcap, cap = _transfer(lab, tmp_path, upload, download, attempt)
        if cap.ok:
            break
    else:
        pytest.fail(f"tcpdump lost packets in all 3 attempts (last: {cap})")

    packets = load(pcap)
    fs = follow(packets, 0)
    assert fs.gaps == []
    assert fs.client_bytes == upload
    assert fs.server_bytes == download

    streams = number_streams(packets)
    assert set(streams.tcp.values()) == {0}
    rows = tshark_fields(pcap, ["tcp.stream"])
    assert {int(r["tcp.stream"]) for r in rows} == {0}
    ours = {n: a.tshark_fields() for n, a in analyse_stream(packets).items()}
    theirs = tshark_marks(pcap)
    differ = {n: (ours[n], theirs[n]) for n in theirs if ours[n] != theirs[n]}
    assert differ == {}
    # the link really did reorder and lose: otherwise this test would prove little
    seen = set().union(*theirs.values())
    for field in ("retransmission", "out_of_order", "duplicate_ack", "lost_segment"):
        assert f"tcp.analysis.{field}" in seen

    text = build_ladder(packets, 0).render_text()
    assert "[TCP Out-Of-Order]" in text
    assert "Retransmission]" in text
