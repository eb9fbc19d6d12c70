"""``wirelab flows``' fast path: the same records as the general path, and tshark's sums.

:meth:`FlowTable.feed` reads headers at fixed offsets and sends only the frames it does not
handle (fragments, IPv6 extension headers, three VLAN tags) through
:class:`~wirelab.monitor.keys.KeyReader`; :meth:`FlowTable.add` is the general path the
statistics accumulators use.  Both must give the same records on every kind of frame the
samples make, on three link types, with flows cut by the idle and active timeouts and by a
full table.  Then the records are checked against a real peer: per direction of each TCP and
UDP flow, the packets and IP bytes tshark's dissection gives for the same capture.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from wirelab import samples
from wirelab.cli.flows import flows
from wirelab.monitor.flows import Flow, FlowTable, json_line, json_record, record
from wirelab.monitor.keys import KeyReader

from .test_flows import CASES

Packet = tuple[int, int, bytes, int]


def _mixed(count: int, seed: int, stretch: int) -> list[tuple[int, bytes]]:
    """The curriculum trace and ``count`` mixed frames, gaps multiplied by ``stretch`` (so
    idle timeouts fire between flows of the same addresses), then one connection in each
    conn_state of test_flows, 4000 s apart (past TCP's idle timeout: each is a new flow)."""
    frames = samples.curriculum_trace() + list(samples.mixed_frames(count, seed=seed))
    frames.sort(key=lambda x: x[0])
    t0 = frames[0][0]
    out = [(t0 + (ts - t0) * stretch, f) for ts, f in frames]
    for segments, _ in CASES.values():
        start = out[-1][0] + 4000 * 10**9
        out += [(start + i * 10**6, f) for i, f in enumerate(segments)]
    return out


def _link(frames: list[tuple[int, bytes]], linktype: int) -> list[Packet]:
    """The frames as Ethernet (1), raw IP (101: Ethernet header and tags taken off) or Linux
    cooked (113: a 16-byte SLL header with the frame's EtherType)."""
    out = []
    for ts, f in frames:
        if linktype == 1:
            out.append((ts, 1, f, len(f)))
            continue
        etype, off = f[12:14], 14
        while etype in (b"\x81\x00", b"\x88\xa8"):
            etype, off = f[off + 2:off + 4], off + 4
        if etype not in (b"\x08\x00", b"\x86\xdd"):
            continue  # ARP: no IP to carry bare
        if linktype == 101:
            out.append((ts, 101, f[off:], len(f) - off))
        else:
            sll = b"\x00\x00\x00\x01\x00\x06" + f[6:12] + b"\x00\x00" + etype
            out.append((ts, 113, sll + f[off:], 16 + len(f) - off))
    return out


def _general(packets: list[Packet], **kw: int) -> list[dict[str, object]]:
    table = FlowTable(**kw)
    reader = KeyReader()
    for ts, linktype, data, length in packets:
        keys = reader.read(data, linktype)
        if keys is not None:
            table.set_frame(data)
            table.add(keys, ts, length)
    return table.records()


def _fast(packets: list[Packet], **kw: int) -> tuple[list[dict[str, object]], list[str]]:
    """Records and JSON lines of the fast path; batches of 100, as a source hands them."""
    ended: list[Flow] = []
    table = FlowTable(emit_flow=ended.append, **kw)
    for i in range(0, len(packets), 100):
        table.feed(packets[i:i + 100])
    table.flush()
    return [record(f) for f in ended], [json_line(f) for f in ended]


@pytest.mark.parametrize("linktype", [1, 101, 113])
@pytest.mark.parametrize("bounds", [{}, {"max_flows": 64, "active_timeout_ns": 90 * 10**9}])
def test_fast_path_records_equal_the_general_path(linktype: int, bounds: dict[str, int]) -> None:
    packets = _link(_mixed(4000, seed=8, stretch=60), linktype)
    reference = _general(packets, **bounds)
    records, lines = _fast(packets, **bounds)
    assert records == reference
    assert lines == [json.dumps(json_record(r)) for r in reference]
    states = Counter(str(r["conn_state"]) for r in reference)
    protos = Counter(str(r["proto"]) for r in reference)
    # the comparison covers what it should: many flows of every protocol, several states,
    # flows of more than one packet each way, IPv6, and a bounded table cutting flows
    assert len(reference) > 2000 and {"tcp", "udp", "icmp"} <= set(protos)
    assert set(CASES) <= set(states)
    assert any(":" in str(r["id.orig_h"]) for r in reference)
    assert any(int(r["orig_pkts"]) > 1 and int(r["resp_pkts"]) > 1  # type: ignore[call-overload]
               for r in reference)


def test_truncated_and_odd_frames_are_skipped_alike() -> None:
    # every prefix of a few frames: truncated headers must be skipped by both paths alike
    frames = [f for _, f in samples.curriculum_trace()[:12]]
    packets = [(samples.START_NS + i * 1000, 1, f[:cut], cut) for i, f in enumerate(frames)
               for cut in range(0, len(f) + 1, 3)]
    records, _ = _fast(packets)
    assert records == _general(packets) and records


def _tshark_directions(capture: Path) -> Counter[tuple[object, ...]]:
    """(proto, src, sport, dst, dport) -> [packets, IP bytes] per direction, from tshark.

    The outermost headers: ``-E occurrence=f`` takes each field's first occurrence, and the
    transport is the first tcp/udp/icmp in ``frame.protocols`` (an ICMP error quoting a UDP
    header, or a tunnel tshark finds in a random payload, must not count as inner UDP/TCP).
    A fragmented datagram's ports appear on the frame that completes it, with that frame's
    own IP length -- as wirelab counts it.
    """
    fields = ["frame.protocols", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "tcp.srcport",
              "tcp.dstport", "udp.srcport", "udp.dstport", "ip.len", "ipv6.plen"]
    cmd = ["tshark", "-n", "-r", str(capture), "-T", "fields", "-E", "occurrence=f"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=300).stdout
    sums: Counter[tuple[object, ...]] = Counter()
    for line in out.splitlines():
        protos, s4, d4, s6, d6, ts, td, us, ud, len4, plen6 = line.split("\t")
        layers = protos.split(":")
        transport = next((p for p in layers if p in ("tcp", "udp", "icmp", "icmpv6")), None)
        if transport not in ("tcp", "udp"):
            continue
        ports = (ts, td) if transport == "tcp" else (us, ud)
        if not ports[0]:
            continue  # a fragment whose datagram is not complete yet
        v4 = layers.index("ip") if "ip" in layers else 99
        v6 = layers.index("ipv6") if "ipv6" in layers else 99
        src, dst, size = (s4, d4, int(len4)) if v4 < v6 else (s6, d6, 40 + int(plen6))
        key = (transport, src, int(ports[0]), dst, int(ports[1]))
        sums[key + ("packets",)] += 1
        sums[key + ("ip_bytes",)] += size
    return sums


@pytest.mark.tshark
@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
def test_packets_and_ip_bytes_per_direction_equal_tsharks(tmp_path: Path) -> None:
    path = tmp_path / "mixed.pcap"
    samples.write_pcap(path, _mixed(6000, seed=31, stretch=1))
    result = CliRunner().invoke(flows, [str(path), "--json"])
    assert result.exit_code == 0, result.output
    ours: Counter[tuple[object, ...]] = Counter()
    for line in result.output.splitlines():
        r = json.loads(line)
        if r["proto"] not in ("tcp", "udp"):
            continue
        o = (r["proto"], r["id.orig_h"], r["id.orig_p"], r["id.resp_h"], r["id.resp_p"])
        back = (r["proto"], r["id.resp_h"], r["id.resp_p"], r["id.orig_h"], r["id.orig_p"])
        for key, side in ((o, "orig"), (back, "resp")):
            if r[f"{side}_pkts"]:
                ours[key + ("packets",)] += r[f"{side}_pkts"]
                ours[key + ("ip_bytes",)] += r[f"{side}_ip_bytes"]
    theirs = _tshark_directions(path)
    assert len(ours) > 6000  # (packets, bytes) of over 3,000 flow directions
    assert ours == theirs
