"""``wirelab lab``: build, use and remove the hermetic namespace lab.

Thin: parse arguments, call :mod:`wirelab.lab`, print.  Every expected failure is a
WirelabError, printed on one line by ``wirelab.cli.main``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from typing import Any

import click

from wirelab.errors import LabError

DEFAULT_NAME = "main"


def _default_name() -> str:
    return os.environ.get("WIRELAB_LAB", DEFAULT_NAME)


def name_option(func: Any) -> Any:
    return click.option("--name", "-n", default=_default_name, show_default="main, or "
                        "$WIRELAB_LAB", help="Which lab (labs with different names run side "
                        "by side).")(func)


@click.group(epilog="Example: wirelab lab up && wirelab lab exec client -- ping -c 3 server "
             "&& wirelab lab down")
def lab() -> None:
    """Build, use and remove the hermetic namespace lab.

    Hosts are network namespaces on Linux bridges, with addresses from 198.18.0.0/15 and
    no route out: nothing in the lab can reach, or change, your real network.  Works as
    root, or unprivileged where user namespaces are allowed.
    """


@lab.command(epilog="Example: wirelab lab up recon --name scan   (or: --topology star:5)")
@click.argument("spec", metavar="[TOPOLOGY]", required=False)
@click.option("--topology", "-t", default="default", show_default=True,
              help="default, recon, path, ecmp, line:N, star:N, or a TOML topology file.")
@name_option
@click.option("--no-services", is_flag=True, help="Do not start the HTTP, DNS and TCP "
              "services.")
@click.option("--json", "as_json", is_flag=True, help="Print the lab's status as JSON.")
def up(spec: str | None, topology: str, name: str, no_services: bool, as_json: bool) -> None:
    """Bring a lab up (a stale lab of the same name is removed first).

    TOPOLOGY (or --topology): a shipped scenario (`wirelab lab topology NAME` shows one),
    line:N, star:N, or a TOML file.
    """
    from wirelab.lab.lab import Lab

    if spec is not None:
        if topology != "default" and topology != spec:
            raise click.UsageError("give the topology once, as TOPOLOGY or --topology")
        topology = spec
    started = time.perf_counter()
    built = Lab(topology, name, services=not no_services)
    built.up()
    elapsed = time.perf_counter() - started
    for message in built.messages:
        click.echo(f"wirelab: {message}", err=True)
    if as_json:
        click.echo(json.dumps(built.status(live=False), indent=2))
        return
    plan = built.plan
    click.echo(f"lab {name} up ({built.mode}, topology {built.topology.name}, "
               f"{len(plan.hosts)} hosts) in {elapsed:.2f} s")
    for host in plan.hosts[:20]:
        addrs = ", ".join(f"{i.name} {i.address}" for i in plan.interfaces[host])
        rules = len(plan.topology.hosts[host].firewall)
        notes = list(plan.topology.hosts[host].services) if not no_services else []
        if rules:
            notes.append(f"{rules} firewall rule{'s' * (rules > 1)}")
        click.echo(f"  {host:<8} {addrs}" + (f"  [{', '.join(notes)}]" if notes else ""))
    if len(plan.hosts) > 20:
        click.echo(f"  ... and {len(plan.hosts) - 20} more (wirelab lab status)")
    first = plan.hosts[0]
    other = plan.hosts[1] if len(plan.hosts) > 1 else first
    flag = "" if name == _default_name() else f" --name {name}"
    click.echo(f"try: wirelab lab exec{flag} {first} -- ping -c 3 {other}")


@lab.command(epilog="Example: wirelab lab down --name five")
@name_option
def down(name: str) -> None:
    """Remove a lab: its processes (by PID), namespaces and record.  Idempotent."""
    from wirelab.lab.lifecycle import down as remove

    removed = remove(name)
    if not removed:
        click.echo(f"no lab {name}: nothing to remove")
        return
    kinds: dict[str, int] = {}
    for item in removed:
        kind = item.split()[0]
        kinds[kind] = kinds.get(kind, 0) + 1
    summary = ", ".join(f"{n} {k}{'s' if n > 1 else ''}" for k, n in kinds.items())
    click.echo(f"lab {name} removed ({summary})")


@lab.command(epilog="Example: wirelab lab status --json | python3 -m json.tool")
@click.option("--name", "-n", default=None, help="One lab (default: every lab of yours).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(name: str | None, as_json: bool) -> None:
    """Show labs: hosts, interfaces, addresses, routes, services, link shaping."""
    from wirelab.lab.lab import Lab
    from wirelab.lab.state import list_labs
    from wirelab.lab.status import format_status

    names = [name] if name else list_labs()
    docs = [Lab.attach(n).status() for n in names]
    if as_json:
        click.echo(json.dumps(docs[0] if name else docs, indent=2))
    elif not docs:
        click.echo("no labs (start one with: wirelab lab up)")
    else:
        click.echo("\n\n".join(format_status(d) for d in docs))


@lab.command("exec", context_settings={"ignore_unknown_options": True},
             epilog="Example: wirelab lab exec client -- curl -s http://server/get")
@name_option
@click.argument("host")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_(name: str, host: str, command: tuple[str, ...]) -> None:
    """Run COMMAND inside HOST (lab names like `server` resolve there).

    The command's exit status becomes wirelab's.
    """
    from wirelab.lab.lab import Lab

    target = Lab.attach(name).host(host)
    sys.exit(_run_foreground(target, list(command)))


def _run_foreground(host: Any, argv: list[str], env: dict[str, str] | None = None) -> int:
    try:
        kwargs: dict[str, Any] = {"env": env} if env else {}
        proc = host.popen(argv, **kwargs)
    except FileNotFoundError:
        raise LabError(f"command not found in the lab: {argv[0]}") from None
    except PermissionError:
        raise LabError(f"command not executable: {argv[0]}") from None
    # The child shares our terminal and gets Ctrl-C itself; we just wait for it.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return int(proc.wait())
    finally:
        signal.signal(signal.SIGINT, previous)


@lab.command(epilog="Example: wirelab lab shell router")
@name_option
@click.argument("host")
def shell(name: str, host: str) -> None:
    """An interactive shell inside HOST."""
    from wirelab.lab.lab import Lab
    from wirelab.lab.lifecycle import lab_env

    built = Lab.attach(name)
    target = built.host(host)
    assert built.state is not None
    env = lab_env(built.state, host, {"PS1": f"[{name}:{host}] \\w\\$ "})
    argv = ["bash", "--norc", "-i"] if shutil.which("bash") else ["sh", "-i"]
    sys.exit(_run_foreground(target, argv, env))


@lab.command(epilog="Example: wirelab lab capture client -w ping.pcap --filter icmp -c 4")
@name_option
@click.argument("where", metavar="HOST[:IFACE]")
@click.option("-w", "write", required=True, type=click.Path(dir_okay=False),
              help="pcap file to write.")
@click.option("--filter", "-f", "bpf", default=None, help="BPF filter, e.g. 'tcp port 80'.")
@click.option("-c", "count", type=click.IntRange(min=1), default=None,
              help="Stop after N packets.")
@click.option("--duration", "-d", type=click.FloatRange(min=0.1), default=None,
              help="Stop after S seconds.")
def capture(name: str, where: str, write: str, bpf: str | None, count: int | None,
            duration: float | None) -> None:
    """Capture packets inside a host with tcpdump, into a pcap file.

    Runs until -c packets, --duration seconds, or Ctrl-C.  Without IFACE, the host's first
    interface (eth0).
    """
    from wirelab.lab.lab import Lab

    host, _, iface = where.partition(":")
    built = Lab.attach(name)
    target = built.host(host)
    if iface and iface not in [i.name for i in target.interfaces]:
        raise LabError(f"host {host} has no interface {iface} (has "
                       f"{', '.join(i.name for i in target.interfaces)})")
    cap = built.capture(host, write, iface=iface or None, bpf=bpf, count=count,
                        duration=duration)
    cap.start()
    until = [f"{count} packets" if count else "", f"{duration:g} s" if duration else ""]
    stop = " or ".join(u for u in until if u) or "Ctrl-C"
    click.echo(f"capturing on {host}:{cap.iface} into {write} until {stop}", err=True)
    try:
        packets = cap.wait()
    except KeyboardInterrupt:
        packets = cap.stop()
    click.echo(f"{packets} packets written to {write}", err=True)


@lab.command(epilog="Example: wirelab lab link client server --delay 50ms --loss 2%")
@name_option
@click.argument("a")
@click.argument("b")
@click.option("--delay", help="One-way delay added in each direction, e.g. 20ms.")
@click.option("--jitter", help="Delay variation, e.g. 5ms (needs --delay).")
@click.option("--loss", help="Packets dropped in each direction, e.g. 2%.")
@click.option("--rate", help="Bandwidth in each direction, e.g. 10mbit.")
@click.option("--reorder", help="Packets sent ahead of the delayed ones, e.g. 5% (needs "
              "--delay).")
@click.option("--clear", is_flag=True, help="Remove all shaping from the link.")
def link(name: str, a: str, b: str, delay: str | None, jitter: str | None, loss: str | None,
         rate: str | None, reorder: str | None, clear: bool) -> None:
    """Shape the link between hosts A and B (netem, tbf), or --clear it.

    Applies to the egress of A's and B's interfaces on the segment they share, so a delay
    of 50ms makes the round trip at least 100 ms.  Without options, shows the shaping.
    """
    from wirelab.lab.lab import Lab

    built = Lab.attach(name)
    handle = built.link(a, b)
    ends = f"{a}:{handle.a.name} <-> {b}:{handle.b.name}"
    given = [v for v in (delay, jitter, loss, rate, reorder) if v is not None]
    if clear and given:
        raise click.UsageError("--clear takes no shaping options")
    if clear:
        handle.clear()
        click.echo(f"{ends}: shaping cleared")
    elif given:
        shaping = handle.shape(delay, jitter, loss, rate, reorder)
        click.echo(f"{ends}: {shaping.describe()} (each direction)")
    else:
        state = built.refresh()
        current = state.shaping.get(f"{a}:{handle.a.name}")
        from wirelab.lab.shaping import Shaping

        text = Shaping.from_dict(current).describe() if current else "none"
        click.echo(f"{ends}: {text}")


@lab.command(epilog="Example: wirelab lab topology line:4")
@click.argument("spec", default="default")
@click.option("--json", "as_json", is_flag=True, help="Print the topology as data.")
def topology(spec: str, as_json: bool) -> None:
    """Show a topology (validated and resolved) without building it."""
    from wirelab.lab.topology import load

    topo = load(spec)
    if as_json:
        click.echo(json.dumps(topo.to_dict(), indent=2))
    else:
        click.echo(topo.describe())


@lab.command(epilog="Example: wirelab lab sysctl server net.ipv4.icmp_ratelimit=0")
@name_option
@click.argument("host")
@click.argument("settings", nargs=-1, metavar="[KEY[=VALUE]]...")
@click.option("--json", "as_json", is_flag=True, help="Print the values as JSON.")
def sysctl(name: str, host: str, settings: tuple[str, ...], as_json: bool) -> None:
    """Show or set kernel settings of one lab HOST (its network namespace only).

    KEY=VALUE sets, KEY shows; with neither, shows the settings the topology gave HOST and
    those set since the lab came up.  Only per-namespace net.* settings exist in a host, so
    this can never change the machine's own.
    """
    from wirelab.lab.lab import Lab
    from wirelab.lab.status import sysctl_keys
    from wirelab.lab.sysctl import check_key, parse_assignment

    built = Lab.attach(name)
    target = built.host(host)
    assigned = dict(parse_assignment(s) for s in settings if "=" in s)
    shown = [check_key(s, "sysctl") for s in settings if "=" not in s]
    values = dict(target.sysctl(assigned)) if assigned else {}
    if shown or not assigned:
        assert built.state is not None
        keys = shown or sysctl_keys(built.state, built.plan, host)
        values.update(target.sysctl(keys=keys) if keys else {})
    _print_sysctls(host, values, as_json)


def _print_sysctls(host: str, values: dict[str, str | None], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"host": host, "sysctl": values}, indent=2))
        return
    if not values:
        click.echo(f"{host}: no settings given by the topology or since up (name one: "
                   f"wirelab lab sysctl {host} net.ipv4.icmp_ratelimit)")
    for key, value in values.items():
        click.echo(f"{host}: {key} = {'(no such setting)' if value is None else value}")


@lab.command("icmp-ratelimit", epilog="Example: wirelab lab icmp-ratelimit server off")
@name_option
@click.argument("host")
@click.argument("switch", required=False, type=click.Choice(["on", "off"]))
@click.option("--json", "as_json", is_flag=True, help="Print the values as JSON.")
def icmp_ratelimit(name: str, host: str, switch: str | None, as_json: bool) -> None:
    """Lift (off) or restore (on) Linux's ICMP error rate limit in HOST; or show it.

    Linux sends a peer at most one destination-unreachable or time-exceeded a second after a
    burst of six (net.ipv4.icmp_ratelimit), which makes UDP scans slow and traceroutes print
    `*`.  off: icmp_ratelimit=0 and icmp_ratemask=0 (no type limited, not by the all-peers
    budget either); on: the kernel's defaults.  HOST's namespace only.
    """
    from wirelab.lab.lab import Lab
    from wirelab.lab.sysctl import RATELIMIT_KEYS

    target = Lab.attach(name).host(host)
    if switch is None:
        values = target.sysctl(keys=list(RATELIMIT_KEYS))
    else:
        target.icmp_ratelimit(switch == "on")
        values = target.sysctl(keys=list(RATELIMIT_KEYS))
        if not as_json:
            click.echo(f"{host}: ICMP rate limit {switch}")
    _print_sysctls(host, values, as_json)
