"""``wirelab trace``: Linux traceroute's probes and output; ``--paris``; ``--report``."""

from __future__ import annotations

import json
from typing import Any

import click

from wirelab.recon import scope
from wirelab.recon.trace import Options, TraceUsageError
from wirelab.recon.trace import trace as run_trace
from wirelab.recon.trace_probe import METHODS, PACKET_LEN
from wirelab.recon.trace_render import ReverseNames, Streamer, header, to_json
from wirelab.recon.trace_schedule import Wait

EPILOG = """\b
Examples (in the lab, where raw sockets are allowed):
  wirelab lab exec client -- wirelab trace remote
  wirelab lab exec client -- wirelab trace remote --method tcp -p 22 -n
  wirelab lab exec client -- wirelab trace remote --paris --json
  wirelab lab exec client -- wirelab trace remote --report -c 5

\b
Methods as Linux traceroute: udp (default; destination port 33434, +1 each
probe), icmp (echo, traceroute -I), tcp (SYN to port 80, traceroute -T).
--paris keeps the flow identifier (addresses, protocol, ports or ICMP
checksum) the same for every probe, so per-flow load balancers send them all
down one path.  Marks: !H host, !N network, !P protocol, !X prohibited,
!S source route, !F-MTU fragmentation needed, !<code> other unreachable.
Only loopback and the hosts of a running lab are traced, unless --i-own-this-network
says the target's network is yours."""


def _wait(text: str) -> Wait:
    try:
        return Wait.parse(text)
    except ValueError as exc:
        raise TraceUsageError(f"-w: {exc}") from None


@click.command(epilog=EPILOG)
@click.argument("target")
@click.option("--method", "-M", type=click.Choice(METHODS), default="udp", show_default=True,
              help="Probe type.")
@click.option("-I", "icmp", is_flag=True, help="Same as --method icmp.")
@click.option("-T", "tcp", is_flag=True, help="Same as --method tcp.")
@click.option("--paris", is_flag=True, help="Constant flow identifier (Paris traceroute).")
@click.option("-q", "queries", type=int, default=3, show_default=True,
              help="Probes per hop.")
@click.option("-m", "max_hops", type=int, default=30, show_default=True, help="Max TTL.")
@click.option("-f", "first_hop", type=int, default=1, show_default=True, help="First TTL.")
@click.option("-p", "port", type=int, default=None,
              help="Destination port (udp: the first of the series; tcp: 80).")
@click.option("--sport", type=int, default=None,
              help="Source port (udp, tcp), the same for every probe.")
@click.option("-w", "wait", default="5.0,3,10", show_default=True,
              help="MAX[,HERE,NEAR]: seconds to wait, or HERE/NEAR times a known RTT.")
@click.option("-N", "sim", type=int, default=16, show_default=True,
              help="Probes in flight at once.")
@click.option("-n", "numeric", is_flag=True, help="Print addresses only (no reverse lookup).")
@click.option("--report", is_flag=True, help="mtr --report: COUNT rounds, then a table.")
@click.option("-c", "count", type=int, default=10, show_default=True,
              help="Rounds of --report.")
@click.option("-i", "interval", type=float, default=1.0, show_default=True,
              help="Seconds between --report rounds.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--i-own-this-network", "owned", is_flag=True,
              help="Trace TARGET although it is outside the lab: you say the network is yours.")
def trace(target: str, owned: bool, **options: Any) -> None:
    """Trace the route to TARGET (a lab host or loopback), like Linux traceroute."""
    address = scope.resolve(target) if owned else None
    with scope.owned(*([address] if address else [])):
        warning = scope.override_warning(address, "trace") if address else None
        if warning:
            click.echo(warning, err=True)
        _trace(target, **options)


def _trace(target: str, method: str, icmp: bool, tcp: bool, paris: bool, queries: int,
           max_hops: int, first_hop: int, port: int | None, sport: int | None, wait: str,
           sim: int, numeric: bool, report: bool, count: int, interval: float,
           as_json: bool) -> None:
    chosen = {m for m, flag in (("icmp", icmp), ("tcp", tcp)) if flag}
    if len(chosen) > 1 or (chosen and method != "udp" and method not in chosen):
        raise TraceUsageError("-I, -T and --method disagree: choose one method")
    method = chosen.pop() if chosen else method
    opts = Options(method=method, paris=paris, q=queries, max_hops=max_hops,
                   first_hop=first_hop, port=port, wait=_wait(wait), sim=sim, sport=sport)
    names = None if numeric else ReverseNames()
    if report:
        from wirelab.recon.trace_report import render_report, report_json, run_report

        rep = run_report(target, opts, count, interval)
        click.echo(json.dumps(report_json(rep, names), indent=2) if as_json
                   else render_report(rep, names))
        return
    if as_json:
        click.echo(json.dumps(to_json(run_trace(target, opts), names), indent=2))
        return

    def write(text: str) -> None:
        click.echo(text, nl=False)

    def start(address: str) -> None:
        write(header(target, address, opts.max_hops, PACKET_LEN))

    run_trace(target, opts, Streamer(opts.q, opts.first_hop, names, write), start)
    click.echo("")
