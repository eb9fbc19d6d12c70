"""Helpers shared by the recon lab tests: run a command in a lab host and insist that it
worked, and firewall the server with a test's rules (the states a scan must find)."""

from __future__ import annotations

import subprocess

from wirelab.lab.lab import Host


def run_ok(host: Host, argv: list[str], ok: tuple[int, ...] = (0,)
           ) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` in ``host``; the test fails, with its stderr, on an exit status not in
    ``ok``."""
    done = host.run(argv, timeout=120)
    assert done.returncode in ok, f"{argv}: {done.stderr}"
    return done


def run_out(host: Host, argv: list[str], ok: tuple[int, ...] = (0,)) -> str:
    """The same, and its standard output."""
    return str(run_ok(host, argv, ok).stdout)


def add_input_rules(server: Host, rules: list[list[str]]) -> Host:
    """Append ``rules`` to ``server``'s INPUT chain (iptables ``-w``: wait for the xtables
    lock rather than fail).  They go away with the lab's namespace."""
    for rule in rules:
        run_ok(server, ["iptables", "-w", "-A", "INPUT", *rule])
    return server
