"""``wirelab sniff`` in the lab: both engines' counts against independent ground truth.

Ground truth is twofold.  tshark, which shares no code with wirelab, dissects each engine's
own ``-w`` file and its protocol stack is mapped to the counter's categories; and a tcpdump
capture of the same interface shows that the engine's file holds every frame that crossed the
interface while it ran.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest

from wirelab.wire.classify import classify
from wirelab.wire.pcap import PcapReader

from ..helpers import tshark_fields
from .labutil import capture, finish, start_wirelab, wirelab

pytestmark = pytest.mark.lab

HTTP_PORTS = {"80", "8080"}


def _first(value: str) -> str:
    return value.split(",")[0]  # the outer header's field when an ICMP error quotes another


def tshark_categories(pcap: Path) -> Counter[str]:
    """The counter's categories, decided from tshark's dissection of each frame."""
    rows = tshark_fields(pcap, "frame.protocols", "tcp.srcport", "tcp.dstport",
                         "udp.srcport", "udp.dstport", "http.request", "http.response",
                         # one segment at a time, as the counter sees them
                         options=("-o", "tcp.desegment_tcp_streams:FALSE"))
    counts: Counter[str] = Counter()
    for protocols, tsp, tdp, usp, udp_, request, response in rows:
        counts[_category(protocols.split(":"), {_first(tsp), _first(tdp)},
                         {_first(usp), _first(udp_)}, bool(request or response))] += 1
    return counts


def _category(layers: list[str], tcp_ports: set[str], udp_ports: set[str],
              http_start: bool) -> str:
    if "arp" in layers:
        return "ARP"
    for i, name in enumerate(layers):
        if name not in ("ip", "ipv6"):
            continue
        rest = [layer for layer in layers[i + 1:] if not layer.startswith("ipv6.")]
        nxt = rest[0] if rest else ""
        if nxt in ("icmp", "icmpv6"):
            return "ICMP"
        if nxt == "tcp":
            if "53" in tcp_ports:
                return "DNS"
            return "HTTP" if http_start and tcp_ports & HTTP_PORTS else "TCP"
        if nxt == "udp":
            return "DNS" if "53" in udp_ports else "UDP"
        return "Other IP" if name == "ip" else "IPv6"
    return "Other"


def frames(pcap: Path) -> list[tuple[int, bytes]]:
    with PcapReader(str(pcap)) as reader:
        return [(p.ts_ns, p.data) for p in reader]


def reread_counts(pcap: Path) -> Counter[str]:
    return Counter(classify(data).label for _, data in frames(pcap))


def nonzero(counts: dict[str, int]) -> Counter[str]:
    return Counter({k: v for k, v in counts.items() if v})


def make_traffic(lab) -> None:  # type: ignore[no-untyped-def]
    client = lab.host("client")
    client.run(["ip", "neigh", "flush", "dev", "eth0"], check=True)  # so that ARP happens
    assert client.run(wirelab("ping", "-c", "3", "-i", "0.1", "server")).returncode == 0
    assert client.run(["curl", "-sf", "http://server/get"]).returncode == 0
    assert client.run(["getent", "hosts", "remote"]).returncode == 0
    assert client.run(wirelab("proto", "send", "server")).returncode == 0


@pytest.mark.parametrize("engine", ["fast", "scapy"])
def test_counts_equal_ground_truth(shared_lab, tmp_path: Path, engine: str) -> None:
    server = shared_lab.host("server")
    mine, truth = tmp_path / f"{engine}.pcap", tmp_path / "tcpdump.pcap"
    with capture(shared_lab, "server", truth):
        sniffer = start_wirelab(server, "sniff", "-i", "eth0", "--engine", engine,
                                "--timeout", "6", "--json", "-w", str(mine))
        make_traffic(shared_lab)
        code, out, err = finish(sniffer)
    assert code == 0, err
    result = json.loads(out)
    counts = nonzero(result["counts"])
    assert result["engine"] == engine and result["kernel"]["drops"] == 0
    # The generated traffic is all there ...
    for label, least in (("ICMP", 7), ("HTTP", 2), ("DNS", 2), ("UDP", 1), ("ARP", 2),
                         ("TCP", 3)):
        assert counts[label] >= least, (label, counts)
    # ... the file holds what was counted, by wirelab's classifier and by tshark's dissection,
    assert reread_counts(mine) == counts
    assert tshark_categories(mine) == counts
    # ... and every frame tcpdump saw on the interface while the engine ran is in the file.
    ours = frames(mine)
    first, last = ours[0][0] - 500_000, ours[-1][0] + 500_000  # +-0.5 ms: taps' timestamps
    theirs = Counter(data for ts, data in frames(truth) if first <= ts <= last)
    assert theirs == Counter(data for _, data in ours)


def test_filter_runs_in_the_kernel(shared_lab, tmp_path: Path) -> None:
    server = shared_lab.host("server")
    truth = tmp_path / "all.pcap"
    with capture(shared_lab, "server", truth):
        sniffer = start_wirelab(server, "sniff", "-i", "eth0", "--filter", "icmp",
                                "--timeout", "5", "--json")
        make_traffic(shared_lab)
        code, out, err = finish(sniffer)
    assert code == 0, err
    result = json.loads(out)
    counts = nonzero(result["counts"])
    assert set(counts) == {"ICMP"} and counts["ICMP"] >= 7
    # The kernel counts only the packets its filter passed to the socket (PACKET_STATISTICS).
    assert result["kernel"]["packets"] == result["total"]
    assert tshark_categories(truth)["HTTP"] >= 2  # other traffic did cross the interface


@pytest.mark.parametrize("engine", ["fast", "scapy"])
def test_count_stops_the_capture(shared_lab, engine: str) -> None:
    server, client = shared_lab.host("server"), shared_lab.host("client")
    sniffer = start_wirelab(server, "sniff", "-i", "eth0", "--engine", engine, "-c", "4",
                            "--timeout", "30", "--json", "--filter", "icmp")
    started = time.monotonic()
    client.run(wirelab("ping", "-c", "5", "-i", "0.2", "server"))
    code, out, err = finish(sniffer)
    assert code == 0, err
    result = json.loads(out)
    assert result["total"] == 4
    assert time.monotonic() - started < 15


def test_bad_filter_is_one_line(shared_lab) -> None:
    done = shared_lab.host("server").run(wirelab("sniff", "--filter", "port banana",
                                                 "--timeout", "1"))
    assert done.returncode == 3
    assert done.stderr.strip().count("\n") == 0 and "port banana" in done.stderr
