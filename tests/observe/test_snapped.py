"""A capture cut by its snaplen (tcpdump -s 60) keeps its ladder; follow reports the holes."""

from __future__ import annotations

from pathlib import Path

from wirelab import samples
from wirelab.observe import build_ladder, follow, load
from wirelab.wire.pcap import PcapWriter


def _write(path: Path, snaplen: int) -> None:
    with PcapWriter(path, snaplen=snaplen, nanosecond=True) as writer:
        for ts_ns, frame in samples.curriculum_trace():
            writer.write(frame, (ts_ns // 10**9, ts_ns % 10**9))


def test_cut_frames_keep_their_tcp_numbers(tmp_path: Path) -> None:
    full, cut = tmp_path / "full.pcap", tmp_path / "cut.pcap"
    _write(full, 65535)
    _write(cut, 74)  # whole SYNs (74 bytes with options); every data segment cut short
    whole, snapped = build_ladder(load(full), stream=0), build_ladder(load(cut), stream=0)
    assert [(a.label, a.seq, a.ack, a.marks) for a in snapped.arrows] == \
        [(a.label, a.seq, a.ack, a.marks) for a in whole.arrows]
    assert len(snapped.arrows) == 9  # the whole HTTP conversation, nothing skipped


def test_follow_reports_what_the_capture_lacks(tmp_path: Path) -> None:
    cut = tmp_path / "cut.pcap"
    _write(cut, 74)
    stream = follow(load(cut), 0)
    # the request is 54 bytes and the response 124; 20 of each were captured
    assert stream.client_bytes == b"GET /get HTTP/1.1\r\nH"
    assert stream.server_bytes == b"HTTP/1.1 200 OK\r\nCon"
    assert sorted((g.side.value, g.offset, g.length) for g in stream.gaps) == [
        ("client", 20, 34), ("server", 20, 104)]
