"""IPFIX template refresh: by message count and by export time (RFC 7011 8.4, 10.3.6).

The unit tests build messages with :class:`ipfix.Exporter`, read them back with the module's
own :class:`ipfix.Decoder`, and check where the template sets are.  The last test gives the
records to a real collector, nfcapd, started only after the first messages (and their
templates) went by: nfdump must read exactly the records of the messages sent after the
time refresh, and none of the ones before it.
"""

from __future__ import annotations

import json
import shutil
import socket
import struct
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from wirelab import samples
from wirelab.cli.export import export
from wirelab.monitor.export import ipfix
from wirelab.monitor.export.records import UniFlow

from .test_export_codecs import T0, uniflows
from .test_export_sender import received

V4_RECORD = 47  # bytes of an IPv4 data record under template 256
S = 1000  # ms


def flow(i: int, end_s: float, src: str = "198.18.0.10") -> UniFlow:
    """A flow ending ``end_s`` seconds after T0 (T0 is a whole second)."""
    end = T0 + round(end_s * S)
    dst = "2001:db8::14" if ":" in src else "198.18.0.20"
    return UniFlow(src, dst, 40000 + i % 20000, 80, 6, 3 + i, 180 + i, end - 500, end, 0x1B)


def header(msg: bytes) -> tuple[int, int, int]:
    """(length, export time relative to T0 in seconds, sequence)."""
    _version, length, export_time, seq, _domain = struct.unpack_from("!HHIII", msg)
    return length, export_time - T0 // S, seq


def with_templates(msgs: list[bytes]) -> list[int]:
    """Indexes of the messages that carry the template set, by decoding them."""
    dec = ipfix.Decoder()
    out = []
    for i, m in enumerate(msgs):
        templates = dec.decode(m).templates
        assert templates in ([], [ipfix.TEMPLATE_V4, ipfix.TEMPLATE_V6])
        if templates:
            out.append(i)
    return out


def one_per_message(exp: ipfix.Exporter, ends_s: Sequence[float]) -> list[bytes]:
    return [m for i, end in enumerate(ends_s) for m in exp.messages_for([flow(i, end)])]


def test_templates_first_then_every_n_messages_on_a_busy_export() -> None:
    exp = ipfix.Exporter(template_every=5, template_seconds=600)
    msgs = one_per_message(exp, [i * 0.1 for i in range(12)])  # 1.2 s in all
    assert with_templates(msgs) == [0, 5, 10]


def test_templates_again_after_template_seconds_of_export_time() -> None:
    """A quiet export: seven messages in twenty minutes, far fewer than the count rule's 20,
    still carries the templates each time 600 s of export time have gone by."""
    exp = ipfix.Exporter()
    assert (exp.template_every, exp.template_seconds) == (20, 600)
    ends = [0, 10, 599, 600, 601, 1199, 1200]
    msgs = one_per_message(exp, ends)
    assert [header(m)[1] for m in msgs] == ends  # export time: the record's end
    assert with_templates(msgs) == [0, 3, 6]
    assert exp.clock == T0 // S + 1200


def test_count_rule_counts_from_the_last_template_whatever_sent_it() -> None:
    exp = ipfix.Exporter(template_every=3, template_seconds=600)
    msgs = one_per_message(exp, [0, 1, 2, 3, 650, 651, 652, 653])
    assert with_templates(msgs) == [0, 3, 4, 7]


def test_clock_does_not_go_back_with_an_older_record() -> None:
    """A long flow exported late has an older end than the messages before it: the clock
    stays at the latest export time, so the refresh is not put off by it."""
    exp = ipfix.Exporter(template_every=20, template_seconds=60)
    msgs = one_per_message(exp, [0, 59, 5, 60])
    assert [header(m)[1] for m in msgs] == [0, 59, 5, 60]
    assert with_templates(msgs) == [0, 3]
    msgs = one_per_message(exp, [30])  # end 30 s, but the clock is at 60: 0 s since refresh
    assert with_templates(msgs) == []


def test_message_started_before_the_refresh_is_due_stays_under_1400_bytes() -> None:
    """The decision is made at a message's first record: a message whose first record ends
    before the refresh is due is filled without templates even if later records cross the
    boundary (its export time does), and the next message carries them.  Deciding by the
    export time of the finished message would add 92 bytes to a full message."""
    exp = ipfix.Exporter(template_every=20, template_seconds=600)
    first = list(exp.messages_for([flow(0, 0)]))
    batch = [flow(1, 599)] + [flow(i, 700) for i in range(2, 90)]
    msgs = first + list(exp.messages_for(batch))
    assert with_templates(msgs) == [0, 2]
    assert header(msgs[1])[1] == 700 and header(msgs[1])[1] - header(msgs[0])[1] >= 600
    assert all(len(m) <= ipfix.MAX_MESSAGE for m in msgs)
    full = msgs[1:-1]
    assert len(full) >= 2 and all(len(m) + V4_RECORD > ipfix.MAX_MESSAGE for m in full)
    # the message with templates holds fewer records than the one without
    assert len(msgs[2]) - len(ipfix.template_set()) < len(msgs[1])
    dec = ipfix.Decoder()
    out = [f for m in msgs for f in dec.decode(m).flows]
    assert Counter(out) == Counter([flow(0, 0), *batch])


def test_due_at_the_first_record_is_sized_with_the_templates() -> None:
    exp = ipfix.Exporter(template_every=20, template_seconds=600)
    list(exp.messages_for([flow(0, 0)]))
    msgs = list(exp.messages_for([flow(i, 600) for i in range(60)]))
    dec = ipfix.Decoder()
    decoded = [dec.decode(m) for m in msgs]
    assert decoded[0].templates == [256, 257] and len(decoded[0].flows) > 0
    assert all(len(m) <= ipfix.MAX_MESSAGE for m in msgs)
    assert len(msgs[0]) + V4_RECORD > ipfix.MAX_MESSAGE  # full, templates counted
    assert sum(len(d.flows) for d in decoded) == 60


@settings(max_examples=80, deadline=None)
@given(st.lists(st.one_of(uniflows(), uniflows(v6=True)), min_size=1, max_size=120),
       st.integers(1, 6), st.integers(1, 200_000), st.integers(1, 40))
def test_refresh_property_sizes_and_round_trip(flows: list[UniFlow], every: int,
                                               seconds: int, chunk: int) -> None:
    """Flows in any order of time, packed as the sender does (full messages first, the rest
    later): no message is over 1400 bytes, the first has the templates, all decode."""
    exp = ipfix.Exporter(template_every=every, template_seconds=seconds)
    msgs: list[bytes] = []
    pending: list[UniFlow] = []
    for start in range(0, len(flows), chunk):
        pending += flows[start:start + chunk]
        out, pending = exp.pack(pending, final=False)
        msgs += out
    msgs += exp.pack(pending, final=True)[0]
    assert all(len(m) <= ipfix.MAX_MESSAGE for m in msgs)
    assert all(header(m)[0] == len(m) for m in msgs)
    marks = with_templates(msgs)
    assert marks[:1] == [0]
    assert all(b - a <= every for a, b in zip(marks, [*marks[1:], len(msgs)], strict=True))
    dec = ipfix.Decoder()
    assert Counter(f for m in msgs for f in dec.decode(m).flows) == Counter(flows)


# --- through wirelab export ---------------------------------------------------------------


@pytest.mark.parametrize("refresh, refreshed", [(None, False), ("30", True)])
def test_export_template_refresh_option(tmp_path: Path, refresh: str | None,
                                        refreshed: bool) -> None:
    """200 one-packet UDP flows one second apart: about seven IPFIX messages, fewer than 20,
    so with the default 600 s only the first carries templates; with 30 s more do."""
    c, s = samples.CLIENT, samples.SERVER
    frames = [(samples.START_NS + i * 1_000_000_000,
               samples.udp4(c, s, 20000 + i, 9999, b"x")) for i in range(200)]
    path = tmp_path / "quiet.pcap"
    samples.write_pcap(path, frames)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(0.3)
        args = [str(path), "--ipfix", f"127.0.0.1:{sock.getsockname()[1]}", "--pps", "0",
                "--json"]
        if refresh:
            args += ["--template-refresh", refresh]
        result = CliRunner().invoke(export, args)
        assert result.exit_code == 0, result.output
        msgs = received(sock)
    assert json.loads(result.output)["ipfix"]["datagrams"] == len(msgs)
    assert 1 < len(msgs) < 20
    marks = with_templates(msgs)
    assert marks[0] == 0
    assert (len(marks) > 1) is refreshed
    dec = ipfix.Decoder()
    assert sum(len(dec.decode(m).flows) for m in msgs) == 200


def test_export_template_refresh_rejects_zero(tmp_path: Path) -> None:
    path = tmp_path / "t.pcap"
    samples.write_pcap(path, samples.curriculum_trace())
    result = CliRunner().invoke(export, [str(path), "--ipfix", "127.0.0.1:4739",
                                         "--template-refresh", "0"])
    assert result.exit_code == 2 and "--template-refresh" in result.output


# --- a real collector that starts late ----------------------------------------------------


@pytest.mark.skipif(shutil.which("nfcapd") is None or shutil.which("nfdump") is None,
                    reason="needs nfdump and nfcapd (scripts/install-deps test)")
def test_nfcapd_started_late_reads_the_records_after_the_time_refresh(tmp_path: Path) -> None:
    """nfcapd starts after the first messages (with the templates) went out.  Messages of
    the next minute carry no templates, so it must drop their records (RFC 7011 8); the first
    message 600 s of export time after the templates carries them again, and from then on
    nfdump reads every record."""
    from .test_export_nfdump import Nfcapd, _key, _nfdump_records

    exp = ipfix.Exporter(template_every=20, template_seconds=600)
    early = [flow(i, i) for i in range(30)]  # one message with the templates, t = 0..29 s
    lost = list(exp.messages_for(early))  # no collector yet: these datagrams go nowhere
    assert with_templates(lost) == [0]

    blind = [flow(100 + i, 60 + i) for i in range(40)]  # t = 60..99 s: no templates
    fresh = [flow(200 + i, 650 + i) for i in range(40)]  # t = 650..689 s: refreshed
    fresh += [flow(300 + i, 700, "2001:db8::a") for i in range(10)]
    blind_msgs = list(exp.messages_for(blind))
    fresh_msgs = list(exp.messages_for(fresh))
    assert with_templates(blind_msgs) == [] and with_templates(fresh_msgs) == [0]

    collector = Nfcapd(tmp_path / "flows")
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for m in blind_msgs + fresh_msgs:
                sock.sendto(m, ("127.0.0.1", collector.port))
                time.sleep(0.02)
        time.sleep(0.5)  # let nfcapd take the last datagrams off its socket
    finally:
        collector.stop()
    files = collector.files()
    assert files, (tmp_path / "nfcapd.log").read_text()
    got = Counter(_nfdump_records(files))
    assert got == Counter(_key(u) for u in fresh)
