"""``wirelab scan --verify``: score a scan against the lab's own ground truth.

A scanner can only infer a port's state from the packets that come back; the lab knows the
truth, because it can look inside the target: the sockets listening there (``ss -Hltn`` /
``ss -Hlun``) and the firewall rules in front of them (``iptables-save``).  From those, this
module works out the state nmap's rules *should* give for each port, then counts how many
the scan got right and lists the others.

What a probe meets, and the state it must produce (nmap's definitions, see :mod:`states`):

========================================  ==============  ==============================
first matching INPUT rule (or policy)     TCP (syn/conn)  UDP
========================================  ==============  ==============================
ACCEPT, a socket listens                  open            open, or open|filtered when
                                                          the service does not answer
ACCEPT, nothing listens                   closed (RST)    closed (ICMP port unreachable)
DROP                                      filtered        open|filtered (silence)
REJECT --reject-with tcp-reset            closed          (not valid for UDP)
REJECT icmp-port-unreachable (default)    filtered [*]_   closed
REJECT any other icmp-*                   filtered        filtered
========================================  ==============  ==============================

.. [*] closed for a connect scan: Linux reports ICMP port unreachable to connect() as
   ECONNREFUSED, the same errno as a RST (``icmp_err_convert`` in net/ipv4/icmp.c), and
   nmap -sT says closed (conn-refused) there too; the SYN scan sees the ICMP and says
   filtered (port-unreach).

Rules are read as iptables evaluates them: the first rule of the INPUT chain whose
matches all hold decides; ``-j LOG`` and other non-terminal targets fall through.
Understood matches: ``-p``, ``--dport``/``--dports`` (``-m multiport``), ``-s``/``-d``,
``-i`` (``lo`` only matches loopback targets), ``--syn``, ``-m state``/``conntrack``
``NEW`` (a probe is a new connection).  A rule with anything else, or jumping to a user
chain, is listed as a caveat and skipped, so a surprising score can be traced to it.
Rules written with ``nft`` directly (not through iptables-nft) are not seen.

A UDP port that should be closed but is reported open|filtered is usually Linux's ICMP rate
limit (``net.ipv4.icmp_ratelimit``: one destination-unreachable a second per destination
after a burst of 6), which silences the port-unreachables the scan needed; the report says
so when the limit is on.
"""

from __future__ import annotations

import ipaddress
import os
import shlex
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from wirelab.errors import ExitCode, WirelabError
from wirelab.recon.report import PROTOCOL
from wirelab.recon.result import ScanResult

Runner = Callable[[list[str]], str]
WILDCARDS = {"0.0.0.0", "*", "[::]", "::"}
LOCALHOST = "localhost"  # the truth of a loopback target is this host's own


class VerifyError(WirelabError):
    """The ground truth cannot be read (the target is not a lab host, a tool failed)."""

    exit_code = ExitCode.LAB


@dataclass(frozen=True, slots=True)
class Rule:
    """One ``-A INPUT`` rule, reduced to what decides a probe's fate."""

    text: str
    proto: str | None = None
    ports: tuple[tuple[int, int], ...] = ()  # inclusive ranges; empty: any port
    source: ipaddress.IPv4Network | None = None
    dest: ipaddress.IPv4Network | None = None
    iface: str | None = None
    new_only: bool = True  # False: matches only established/related traffic, never a probe
    target: str = "ACCEPT"
    reject_with: str = "icmp-port-unreachable"

    def matches(self, proto: str, port: int, src: str, dst: str, loopback: bool) -> bool:
        if not self.new_only or (self.proto not in (None, "all", proto)):
            return False
        if self.ports and not any(lo <= port <= hi for lo, hi in self.ports):
            return False
        if self.source is not None and ipaddress.IPv4Address(src) not in self.source:
            return False
        if self.dest is not None and ipaddress.IPv4Address(dst) not in self.dest:
            return False
        return self.iface is None or (self.iface == "lo") == loopback


@dataclass(slots=True)
class Firewall:
    policy: str = "ACCEPT"
    rules: list[Rule] = field(default_factory=list)
    caveats: list[str] = field(default_factory=list)


def _ports(text: str) -> tuple[tuple[int, int], ...]:
    ranges = []
    for item in text.split(","):
        low, _, high = item.partition(":")
        ranges.append((int(low or 0), int(high or 65535) if ":" in item else int(low)))
    return tuple(ranges)


_SKIP_VALUE = {"-m", "--comment", "--log-prefix", "--log-level"}
_NO_VALUE = {"--syn"}


def parse_rule(text: str) -> Rule | str:
    """A :class:`Rule`, or the reason it is not understood."""
    words = shlex.split(text)[2:]  # after "-A INPUT"
    fields: dict[str, Any] = {"text": text}
    i = 0
    while i < len(words):
        word = words[i]
        value = words[i + 1] if i + 1 < len(words) else ""
        if word == "!":
            return "negated match"
        if word in _NO_VALUE:
            i += 1
            continue
        if word in _SKIP_VALUE:
            pass
        elif word == "-p":
            fields["proto"] = value
        elif word in ("--dport", "--dports", "--destination-port"):
            fields["ports"] = _ports(value)
        elif word in ("-s", "-d"):
            fields["source" if word == "-s" else "dest"] = ipaddress.IPv4Network(value,
                                                                                 strict=False)
        elif word == "-i":
            fields["iface"] = value
        elif word in ("--state", "--ctstate"):
            fields["new_only"] = "NEW" in value.split(",")
        elif word == "-j":
            fields["target"] = value
        elif word == "--reject-with":
            fields["reject_with"] = value
        else:
            return f"option {word}"
        i += 2
    return Rule(**fields)


def parse_iptables_save(text: str) -> Firewall:
    """The filter table's INPUT chain from ``iptables-save`` output."""
    firewall = Firewall()
    table = None
    for line in text.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
        elif table != "filter":
            continue
        elif line.startswith(":INPUT "):
            firewall.policy = line.split()[1]
        elif line.startswith("-A INPUT "):
            rule = parse_rule(line)
            if isinstance(rule, str):
                firewall.caveats.append(f"skipped ({rule} not understood): {line}")
            elif rule.target not in ("ACCEPT", "DROP", "REJECT", "LOG", "RETURN"):
                firewall.caveats.append(f"skipped (jump to chain {rule.target}): {line}")
            else:
                firewall.rules.append(rule)
    return firewall


def parse_ss(text: str, address: str) -> set[int]:
    """Ports with a socket listening where a probe to ``address`` reaches it."""
    ports = set()
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 5:
            continue
        local = fields[3]
        host, _, port = local.rpartition(":")
        host = host.split("%")[0]  # 127.0.0.53%lo: bound to a device
        if host in WILDCARDS or host == address:
            ports.add(int(port))
    return ports


@dataclass(frozen=True, slots=True)
class Expectation:
    port: int
    states: tuple[str, ...]  # the states that are right for this port
    why: str


def expect(proto: str, port: int, listening: set[int], firewall: Firewall, src: str,
           dst: str, *, connect: bool = False) -> Expectation:
    """The state(s) nmap's rules give ``port`` behind ``firewall`` (``connect``: -sT)."""
    loopback = ipaddress.IPv4Address(dst).is_loopback
    decided = next((r for r in firewall.rules if r.target != "LOG"
                    and r.matches(proto, port, src, dst, loopback)), None)
    action = firewall.policy if decided is None else decided.target
    why = f"INPUT policy {firewall.policy}" if decided is None else decided.text
    if action in ("ACCEPT", "RETURN"):
        if port in listening:
            states = ("open",) if proto == "tcp" else ("open", "open|filtered")
            return Expectation(port, states, "a socket listens")
        return Expectation(port, ("closed",), "nothing listens")
    if action != "REJECT" or decided is None:  # DROP: silence
        return Expectation(port, ("filtered",) if proto == "tcp" else ("open|filtered",), why)
    if proto == "tcp":
        # connect(): Linux turns ICMP port unreachable into ECONNREFUSED, as for a RST
        refused = ("tcp-reset", "icmp-port-unreachable") if connect else ("tcp-reset",)
        return Expectation(port, ("closed",) if decided.reject_with in refused
                           else ("filtered",), why)
    return Expectation(port, ("closed",) if decided.reject_with == "icmp-port-unreachable"
                       else ("filtered",), why)


@dataclass(slots=True)
class Disagreement:
    port: int
    scanned: str
    expected: tuple[str, ...]
    why: str


@dataclass(slots=True)
class Verification:
    host: str
    protocol: str
    total: int
    agreed: int
    disagreements: list[Disagreement]
    listening: list[int]
    rules: int
    caveats: list[str]
    icmp_ratelimit_ms: int | None

    @property
    def score(self) -> float:
        return self.agreed / self.total if self.total else 1.0

    def render(self) -> str:
        who = "this host (loopback)" if self.host == LOCALHOST else f"lab host {self.host}"
        lines = [f"Verified against {who}: {len(self.listening)} listening "
                 f"{self.protocol} sockets, {self.rules} INPUT rules",
                 f"Agreed: {self.agreed}/{self.total} ports ({self.score:.1%})"]
        if self.disagreements:
            rows = [(f"{d.port}/{self.protocol}", d.scanned, " or ".join(d.expected), d.why)
                    for d in self.disagreements]
            head = ("PORT", "SCANNED", "EXPECTED", "WHY")
            widths = [max(len(r[i]) for r in [head, *rows]) for i in range(3)]
            for row in [head, *rows]:
                lines.append(" ".join(row[i].ljust(widths[i]) for i in range(3)) + " " + row[3])
        if self.protocol == "udp" and self.icmp_ratelimit_ms and any(
                d.scanned == "open|filtered" and "closed" in d.expected
                for d in self.disagreements):
            lines.append(f"Closed UDP ports seen as open|filtered: the target's ICMP rate limit "
                         f"(net.ipv4.icmp_ratelimit={self.icmp_ratelimit_ms} ms) dropped their "
                         "port-unreachables")
        lines += [f"Caveat: {c}" for c in self.caveats]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {"host": self.host, "protocol": self.protocol, "total": self.total,
                "agreed": self.agreed, "score": round(self.score, 6),
                "disagreements": [{"port": d.port, "scanned": d.scanned,
                                   "expected": list(d.expected), "why": d.why}
                                  for d in self.disagreements],
                "listening": self.listening, "rules": self.rules, "caveats": self.caveats,
                "icmp_ratelimit_ms": self.icmp_ratelimit_ms}


@dataclass(slots=True)
class Truth:
    """What the target host says about itself."""

    host: str
    ss_output: str
    iptables_save: str
    icmp_ratelimit_ms: int | None = None


def compare(result: ScanResult, truth: Truth, src: str) -> Verification:
    """Score ``result`` against ``truth`` (pure: no I/O)."""
    proto = PROTOCOL.get(result.scan_type, "tcp")
    listening = parse_ss(truth.ss_output, result.address)
    firewall = parse_iptables_save(truth.iptables_save)
    agreed, wrong = 0, []
    for port in result.ports:
        want = expect(proto, port.port, listening, firewall, src, result.address,
                      connect=result.scan_type == "connect")
        if str(port.state) in want.states:
            agreed += 1
        else:
            wrong.append(Disagreement(port.port, str(port.state), want.states, want.why))
    return Verification(truth.host, proto, len(result.ports), agreed, wrong, sorted(listening),
                        len(firewall.rules), firewall.caveats, truth.icmp_ratelimit_ms)


def _lab_runner(address: str) -> tuple[str, Runner]:
    """The lab host that owns ``address`` and a way to run commands in it."""
    name = os.environ.get("WIRELAB_LAB")
    if not name:
        raise VerifyError("--verify needs the target to be a host of a running lab: run the "
                          "scan inside a lab host (wirelab lab exec client -- wirelab scan "
                          "server --verify)")
    from wirelab.lab.lab import Lab

    lab = Lab.attach(name)  # lab_env told us where its record is (WIRELAB_STATE_DIR)
    for host in lab.hosts:
        if address in host.addresses:
            def run(argv: list[str], host: Any = host) -> str:
                done = host.run(argv, timeout=30)
                if done.returncode != 0:
                    raise VerifyError(f"{' '.join(argv)} failed in {host.name}: "
                                      f"{done.stderr.strip().splitlines()[-1:]}")
                return str(done.stdout)
            return host.name, run
    raise VerifyError(f"{address} is not a host of lab {name}: --verify reads the truth "
                      "from a lab host")


def _local_runner(argv: list[str]) -> str:
    # iptables-save and ss live in sbin, which an unprivileged user's PATH may lack
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    program = shutil.which(argv[0], path=search)
    if program is None:
        raise VerifyError(f"{argv[0]} is not installed: it is needed for --verify")
    done = subprocess.run([program, *argv[1:]], capture_output=True, text=True, timeout=30,
                          check=False)
    if done.returncode != 0:
        raise VerifyError(f"{' '.join(argv)} failed: {done.stderr.strip()}")
    return done.stdout


def read_truth(address: str, proto: str) -> Truth:
    """Listening sockets, INPUT rules and ICMP rate limit of the host at ``address``."""
    if ipaddress.IPv4Address(address).is_loopback:
        host, run = LOCALHOST, _local_runner
    else:
        host, run = _lab_runner(address)
    ss = run(["ss", "-Hltn" if proto == "tcp" else "-Hlun"])
    rules = run(["iptables-save", "-t", "filter"])
    try:
        limit: int | None = int(run(["cat", "/proc/sys/net/ipv4/icmp_ratelimit"]).strip())
    except (VerifyError, ValueError):
        limit = None
    return Truth(host, ss, rules, limit)


def verify_result(result: ScanResult, truth: Truth | None = None,
                  src: str | None = None) -> Verification:
    """Read the target's truth (unless given) and score ``result`` against it."""
    proto = PROTOCOL.get(result.scan_type, "tcp")
    if truth is None:
        truth = read_truth(result.address, proto)
    if src is None:
        from wirelab.sockets.raw import source_for

        src = source_for(result.address, 9)
    return compare(result, truth, src)


__all__: Sequence[str] = ["Verification", "VerifyError", "compare", "expect",
                          "parse_iptables_save", "parse_ss", "read_truth", "verify_result"]
