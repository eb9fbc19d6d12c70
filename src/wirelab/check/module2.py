"""Checks for Module 2: 2.1 (ping), 2.2 (handshake by hand), 2.3 (counter), 2.4 (custom)."""

from __future__ import annotations

from wirelab.check import facts
from wirelab.check.counts import WIRELAB, ground_truths, parse_counts
from wirelab.check.model import Evidence, Exercise, Verdict
from wirelab.check.program import wirelab_argv
from wirelab.observe.packets import Observed
from wirelab.wire.ipv4 import IPProto
from wirelab.wire.tcp import TCPFlags

HTTP_PORT = 80
CUSTOM_PORT = 12345
CUSTOM_VERSION, CUSTOM_TYPE = 2, 1  # what the curriculum's sender sets
ECHO_REQUEST, ECHO_REPLY = 8, 0  # RFC 792

# --- 2.1 -------------------------------------------------------------------------------------


def verify_ping(ev: Evidence) -> Verdict:
    """An echo request to the server and an echo reply (type 0) with the same id and seq."""
    icmp = [p for p in ev.packets if p.proto == IPProto.ICMP and p.icmp is not None]
    requests = [p for p in icmp if p.src == ev.client_ip and p.dst == ev.server_ip
                and p.icmp is not None and p.icmp.type == ECHO_REQUEST]
    if not requests:
        return Verdict.fail(f"no ICMP echo request (type 8) to {ev.server_ip}"
                            + facts.elsewhere(ev.packets, ev.client_ip, ev.server_ip))
    for req in requests:
        assert req.icmp is not None
        for rep in icmp:
            assert rep.icmp is not None
            if rep.src == ev.server_ip and rep.dst == ev.client_ip \
                    and rep.icmp.type == ECHO_REPLY and rep.icmp.id == req.icmp.id \
                    and rep.icmp.seq == req.icmp.seq:
                rtt = (rep.ts_ns - req.ts_ns) / 1e6
                return Verdict.ok(f"echo request id={req.icmp.id} seq={req.icmp.seq}, echo "
                                  f"reply type 0 after {rtt:.3f} ms ({len(requests)} sent)")
    return Verdict.fail(f"{len(requests)} echo request(s) but no echo reply (type 0) "
                        "with the same id and seq")


PING_EXERCISE = Exercise(
    id="2.1", title="ICMP echo with Scapy",
    expect="an echo request and an echo reply of type 0",
    client=lambda server: ["ping", "-c", "1", "-W", "2", server],
    verify=verify_ping, ladder_filter="icmp", timeout=30.0)

# --- 2.2 -------------------------------------------------------------------------------------


def _client_acks(ev: Evidence, syn: Observed) -> list[Observed]:
    return [p for p in facts.tcp(ev.packets) if p.src == ev.client_ip
            and p.dst == ev.server_ip and p.dport == syn.dport and facts.has(p, TCPFlags.ACK)
            and not facts.has(p, TCPFlags.SYN) and not facts.has(p, TCPFlags.RST)]


def verify_handshake(ev: Evidence) -> Verdict:
    """SYN, SYN-ACK, ACK with the right numbers (RFC 9293 section 3.5), all from one source
    port, and no RST from the client (its kernel knows no such connection and resets it)."""
    syns = [p for p in facts.tcp(ev.packets) if facts.is_syn(p) and p.src == ev.client_ip
            and p.dst == ev.server_ip and p.dport == HTTP_PORT]
    if not syns:
        return Verdict.fail(f"no SYN to {ev.server_ip}:{HTTP_PORT}"
                            + facts.elsewhere(ev.packets, ev.client_ip, ev.server_ip))
    syn = syns[0]
    assert syn.tcp is not None
    x = syn.tcp.seq
    synack = next((p for p in facts.tcp(ev.packets) if facts.is_syn_ack(p)
                   and p.src == ev.server_ip and p.dport == syn.sport), None)
    if synack is None or synack.tcp is None:
        return Verdict.fail(f"the server never answered the SYN from port {syn.sport}")
    y = synack.tcp.seq
    seen = f"SYN {syn.sport}->{HTTP_PORT} seq={x}, SYN-ACK seq={y} ack={synack.tcp.ack}"
    acks = _client_acks(ev, syn)
    mine = [p for p in acks if p.sport == syn.sport]
    if not mine:
        other = [p for p in acks if p.tcp is not None and p.tcp.ack == facts.seq_add(y, 1)]
        if other:
            return Verdict.fail(
                f"the ACK left from port {other[0].sport} but the SYN from port {syn.sport}: "
                "a new RandShort() value each time a packet is built (curriculum defect); "
                "choose the source port once", seen)
        return Verdict.fail("no ACK answered the SYN-ACK", seen)
    ack = mine[0]
    assert ack.tcp is not None
    seen += f", ACK seq={ack.tcp.seq} ack={ack.tcp.ack}"
    if ack.tcp.seq != facts.seq_add(x, 1) or ack.tcp.ack != facts.seq_add(y, 1):
        return Verdict.fail(f"the ACK has seq={ack.tcp.seq} ack={ack.tcp.ack}, expected "
                            f"seq={facts.seq_add(x, 1)} ack={facts.seq_add(y, 1)}", seen)
    rst = [p for p in facts.tcp(ev.packets) if p.src == ev.client_ip and p.sport == syn.sport
           and facts.has(p, TCPFlags.RST)]
    if rst:
        return Verdict.fail("the client sent RST: its kernel knows no such connection and "
                            "reset it (drop that RST, e.g. with an iptables rule)", seen)
    return Verdict.ok(seen + ", no RST from the client")


HANDSHAKE_EXERCISE = Exercise(
    id="2.2", title="TCP handshake by hand",
    expect="SYN, SYN-ACK, ACK with correct numbers and no RST from the client",
    client=lambda server: ["handshake", server, str(HTTP_PORT), "--close"],
    verify=verify_handshake, ladder_filter=f"tcp and port {HTTP_PORT}", timeout=30.0)

# --- 2.3 -------------------------------------------------------------------------------------


def verify_counter(ev: Evidence) -> Verdict:
    """The counter's final counts equal what the capture of the same interface holds."""
    counts = parse_counts(ev.program_stdout)
    if counts is None:
        return Verdict.fail("no final counts in the program's output (expected a dict such "
                            "as {'HTTP': 1, 'DNS': 2, ...} or wirelab sniff --json)")
    window = ev.extra.get("window")
    truths = ground_truths(ev.pcap, window if isinstance(window, tuple) else None)
    truth = truths[WIRELAB]
    seen = ", ".join(f"{k} {truth.get(k, 0)}" for k in ("HTTP", "DNS", "ICMP", "TCP", "UDP"))
    if not any(truth.values()):
        return Verdict.fail("the capture holds no packets", seen)
    known = [k for k in counts if k in truth]
    if not known:
        return Verdict.fail(f"none of the program's categories {sorted(counts)} is one of "
                            f"{sorted(truth)}", seen)
    for name, expected in truths.items():
        if all(counts[k] == expected[k] for k in known):
            return Verdict.ok(f"{len(known)} categories equal the capture's ({name}): {seen}")
    wrong = [f"{k} {counts[k]} (capture: {truth[k]})" for k in known if counts[k] != truth[k]]
    return Verdict.fail("counts differ from the capture: " + ", ".join(wrong), seen)


def counter_traffic(server: str) -> list[list[str]]:
    """Traffic the runner makes while the counter listens: ICMP, UDP (answered by ICMP port
    unreachable), DNS and HTTP (the name ``server`` is looked up through the lab's DNS)."""
    return [["ping", "-c", "2", "-i", "0.2", server],
            wirelab_argv(["udp", "send", server, "9", "counted"]),
            wirelab_argv(["http", "get", "http://server/get", "-o", "/dev/null"])]


COUNTER_EXERCISE = Exercise(
    id="2.3", title="live protocol counter",
    expect="counts equal to the capture's own ground truth",
    client=lambda server: ["sniff", "-i", "eth0", "--json", "--timeout", "30"],
    verify=verify_counter, server_ready="", timeout=60.0, traffic=counter_traffic)

# --- 2.4 -------------------------------------------------------------------------------------


def verify_custom(ev: Evidence) -> Verdict:
    """A datagram to port 12345 whose 4-byte header has the curriculum's version and type
    and a length equal to the data after it (the receiver's own test)."""
    sent = [d for d in facts.udp_datagrams(ev.pcap) if d.src == ev.client_ip
            and d.dst == ev.server_ip and d.dport == CUSTOM_PORT]
    if not sent:
        return Verdict.fail(f"no UDP datagram to {ev.server_ip}:{CUSTOM_PORT}"
                            + facts.elsewhere(ev.packets, ev.client_ip, ev.server_ip))
    d = sent[0]
    if d.custom is None:
        return Verdict.fail(f"the datagram carries {len(d.data)} bytes: too short for the "
                            "4-byte custom header")
    c = d.custom
    body = len(c.payload)
    seen = f"version={c.version} type={c.type} length={c.length}, {body} data bytes"
    if (c.version, c.type) != (CUSTOM_VERSION, CUSTOM_TYPE):
        return Verdict.fail(f"version={c.version} type={c.type}, the curriculum sends "
                            f"version={CUSTOM_VERSION} type={CUSTOM_TYPE}", seen)
    if c.length != body:
        return Verdict.fail(f"length field {c.length} but {body} data bytes follow the header",
                            seen)
    if d.checksum_ok is False and not d.checksum_offloaded:
        return Verdict.fail(f"UDP checksum 0x{d.checksum:04x} is wrong", seen)
    return Verdict.ok(f"custom header {seen} (length correct), from port {d.sport}")


CUSTOM_EXERCISE = Exercise(
    id="2.4", title="custom protocol layer",
    expect="the custom fields and a correct length",
    client=lambda server: ["proto", "send", server, "--version", str(CUSTOM_VERSION),
                           "--type", str(CUSTOM_TYPE), "--payload", "This is my custom data"],
    server=("proto", "recv", "--timeout", "30", "-c", "1"),
    verify=verify_custom, ladder_filter=f"udp and port {CUSTOM_PORT}", timeout=30.0)

EXERCISES = (PING_EXERCISE, HANDSHAKE_EXERCISE, COUNTER_EXERCISE, CUSTOM_EXERCISE)
