"""``wirelab sniff``: a live protocol counter that drops nothing (curriculum 2.3)."""

from __future__ import annotations

import json
import time
from typing import Any

import click


def _table(tally: Any, rates: list[float], final: bool) -> Any:
    from rich.table import Table

    from wirelab.craft.sniff import ROWS

    total = tally.total
    state = "final counts" if final else "capturing"
    drops = "" if tally.kernel_drops is None else f", kernel dropped {tally.kernel_drops:,}"
    table = Table(title=f"wirelab sniff on {tally.interface} ({tally.engine} engine): {state}",
                  caption=f"{total:,} packets in {tally.elapsed:.1f} s"
                          + (f", filter {tally.bpf!r}" if tally.bpf else "") + drops)
    table.add_column("Protocol")
    table.add_column("Packets", justify="right")
    table.add_column("Rate (pkt/s)" if not final else "Avg rate (pkt/s)", justify="right")
    table.add_column("Share", justify="right")
    elapsed = max(tally.elapsed, 1e-9)
    for proto in ROWS:
        count = tally.counts[proto]
        rate = count / elapsed if final else rates[proto]
        share = f"{100.0 * count / total:.1f}%" if total else "-"
        table.add_row(proto.label, f"{count:,}", f"{rate:,.1f}", share)
    return table


@click.command(
    "sniff",
    epilog="Example (inside the lab): wirelab lab exec server -- wirelab sniff -i eth0 "
    "--timeout 10 -w /tmp/server.pcap\n\n"
    "Engines: 'fast' (default) reads a memory-mapped AF_PACKET ring with the filter in the "
    "kernel and classifies the bytes without building objects; 'scapy' is the curriculum's "
    "sniff(prn=..., store=False).  Needs CAP_NET_RAW: run it inside the lab.",
)
@click.option("-i", "--iface", default=None, help="Interface (default: all of them).")
@click.option("--filter", "bpf", default=None, metavar="BPF",
              help="Capture filter in tcpdump syntax, applied in the kernel.")
@click.option("--timeout", default=60.0, show_default=True, type=float,
              help="Seconds to capture.")
@click.option("-c", "--count", default=0, show_default=True,
              help="Stop after N packets (0: no limit).")
@click.option("-w", "--write", "write", default=None, metavar="FILE.pcap",
              help="Also save the packets to a pcap file.")
@click.option("--engine", type=click.Choice(["fast", "scapy"]), default="fast",
              show_default=True, help="Capture engine.")
@click.option("--json", "as_json", is_flag=True,
              help="No live table; print the final counts as JSON.")
def sniff(iface: str | None, bpf: str | None, timeout: float, count: int, write: str | None,
          engine: str, as_json: bool) -> None:
    """Count packets per protocol (HTTP, DNS, ICMP, TCP, UDP, Other IP, ARP, IPv6)."""
    from wirelab.craft.sniff import RateMeter, SniffOptions, Tally
    from wirelab.errors import EncodeError

    if timeout <= 0 or count < 0:
        raise EncodeError("--timeout must be > 0 and -c must be >= 0")
    options = SniffOptions(interface=iface, bpf=bpf, timeout=timeout, count=count,
                           write=write, engine=engine)
    tally = Tally(engine=engine, interface=options.interface_label, bpf=bpf, written=write)
    run: Any
    if engine == "fast":
        from wirelab.craft.sniff_fast import run_fast as run
    else:
        from wirelab.craft.sniff_scapy import run_scapy as run

    def ready() -> None:
        # Like tcpdump's "listening on": said once the socket and its filter are in place,
        # on stderr so that --json output stays clean.
        where = f", filter {bpf!r}" if bpf else ""
        click.echo(f"listening on {options.interface_label} ({engine} engine){where}, "
                   f"for {timeout:g} s", err=True)

    try:
        if as_json:
            run(options, tally, ready)
        else:
            _run_live(run, options, tally, RateMeter(tally), ready)
    except KeyboardInterrupt:
        pass  # Ctrl-C ends the capture; the counts so far are the answer
    finally:
        tally.ended = tally.ended or time.monotonic()
    if as_json:
        click.echo(json.dumps(tally.to_dict(), indent=2))
    else:
        from rich.console import Console

        Console().print(_table(tally, [], final=True))


def _run_live(run: Any, options: Any, tally: Any, meter: Any, ready: Any) -> None:
    from rich.console import Console
    from rich.live import Live

    console = Console()
    if not console.is_terminal:
        run(options, tally, ready)  # no terminal to redraw in: only the final table
        return
    with Live(get_renderable=lambda: _table(tally, meter.update(), final=False),
              console=console, refresh_per_second=4, transient=True):
        run(options, tally, None)
