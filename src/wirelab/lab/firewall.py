"""Per-host firewall rules: iptables rules a topology gives a host, loaded when the lab is up.

A rule is what you would type after ``iptables``, as one string.  Without a chain it is
appended to the ``filter`` table's ``INPUT`` chain, the one that decides what reaches the
host's own sockets, so the scan lessons read naturally::

    [hosts.target]
    firewall = [
      "-p tcp --dport 81 -j DROP",                                   # filtered (silence)
      "-p tcp --dport 82 -j REJECT --reject-with icmp-admin-prohibited",  # filtered (ICMP 3/13)
      "-p tcp --dport 83 -j REJECT --reject-with tcp-reset",         # closed (RST)
      "-A OUTPUT -p icmp --icmp-type port-unreachable -j DROP",      # another chain
      "-t mangle -A PREROUTING -p udp --dport 7 -j DROP",            # another table
    ]

Only appending (``-A``) and inserting (``-I``) rules is allowed: a topology describes what the
host has, it does not flush or delete.  All of a host's rules are loaded in one
``iptables-restore --noflush`` (one transaction, one process per host), inside the host's
network namespace, where they filter that host's traffic only; it works the same in rootless
labs, where the namespace belongs to the lab's user namespace.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING

from wirelab.errors import LabError, ToolMissingError

if TYPE_CHECKING:
    from wirelab.lab.plan import Plan
    from wirelab.lab.state import LabState

TABLES = ("filter", "nat", "mangle", "raw", "security")
_ADD = {"-A": "-A", "--append": "-A", "-I": "-I", "--insert": "-I"}
RESTORE_SECONDS = 20.0


@dataclass(frozen=True)
class Rule:
    """One rule: its table, chain, and the match/target words after the chain."""

    table: str
    action: str  # "-A" or "-I"
    chain: str
    spec: tuple[str, ...]

    @property
    def text(self) -> str:
        """As ``iptables -S`` prints it (and as iptables-restore reads it)."""
        return shlex.join([self.action, self.chain, *self.spec])

    def __str__(self) -> str:
        prefix = "" if self.table == "filter" else f"-t {self.table} "
        return prefix + self.text


def parse(text: str, where: str) -> Rule:
    """Read one rule string; raise :class:`LabError` naming ``where`` if it is not one."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise LabError(f"{where}: firewall rule {text!r}: {exc}") from None
    table = "filter"
    if words[:1] in (["-t"], ["--table"]):
        if len(words) < 2 or words[1] not in TABLES:
            raise LabError(f"{where}: firewall rule {text!r}: table must be one of "
                           f"{', '.join(TABLES)}")
        table, words = words[1], words[2:]
    action, chain = "-A", "INPUT"
    if words and words[0].startswith("-") and words[0] in _ADD:
        if len(words) < 2:
            raise LabError(f"{where}: firewall rule {text!r}: {words[0]} needs a chain")
        action, chain, words = _ADD[words[0]], words[1], words[2:]
    elif words and words[0] in ("-D", "-F", "-X", "-P", "-N", "-R", "-Z", "--flush",
                                "--delete", "--policy", "--new-chain", "--replace"):
        raise LabError(f"{where}: firewall rule {text!r}: only rules to append (-A) or "
                       "insert (-I); a topology does not flush, delete or set policies")
    if "-j" not in words and "--jump" not in words and "-g" not in words:
        raise LabError(f"{where}: firewall rule {text!r} has no target (-j DROP, -j REJECT, "
                       "...)")
    if any("\n" in w or "\r" in w for w in words):
        raise LabError(f"{where}: firewall rule {text!r}: one line only")
    return Rule(table, action, chain, tuple(words))


def restore_input(rules: list[Rule]) -> str:
    """The iptables-restore(8) text loading ``rules``, table by table, in their order."""
    lines: list[str] = []
    for table in TABLES:
        mine = [r for r in rules if r.table == table]
        if mine:
            lines.append(f"*{table}")
            lines += [r.text for r in mine]
            lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def apply(state: LabState, plan: Plan) -> None:
    """Load each host's rules in the host (one iptables-restore a host, all in parallel)."""
    from wirelab.lab import lifecycle  # lifecycle imports this module

    todo = {h: [parse(r, f"hosts.{h}.firewall") for r in plan.topology.hosts[h].firewall]
            for h in plan.hosts if plan.topology.hosts[h].firewall}
    if not todo:
        return
    env = lifecycle.lab_env(state, next(iter(todo)))
    binary = shutil.which("iptables-restore", path=env["PATH"])
    if binary is None:
        raise ToolMissingError("iptables-restore is not installed; the topology gives hosts "
                               "firewall rules (apt-get install iptables)")
    running = []
    for host, rules in todo.items():
        proc = lifecycle.popen_in(state, host, [binary, "--noflush"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        running.append((host, proc, restore_input(rules)))
    for host, proc, text in running:
        try:
            _, err = proc.communicate(text, timeout=RESTORE_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise LabError(f"host {host}: iptables-restore did not finish in "
                           f"{RESTORE_SECONDS:g} s") from None
        if proc.returncode != 0:
            reason = (err.strip().splitlines() or ["no message"])[0]
            raise LabError(f"host {host}: its firewall rules were refused: {reason}")
