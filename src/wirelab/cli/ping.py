"""``wirelab ping``: ICMP echo crafted with Scapy (curriculum 2.1)."""

from __future__ import annotations

import json

import click


@click.command(
    "ping",
    epilog="Example (inside the lab): wirelab lab exec client -- wirelab ping -c 3 remote\n\n"
    "Needs CAP_NET_RAW: run it as root or inside the lab.",
)
@click.argument("host")
@click.option("-c", "--count", default=4, show_default=True, help="Echo requests to send.")
@click.option("-i", "--interval", default=1.0, show_default=True, type=float,
              help="Seconds between requests.")
@click.option("-s", "--size", default=56, show_default=True,
              help="Payload bytes after the 8-byte ICMP header.")
@click.option("-t", "--ttl", default=64, show_default=True, help="IP time to live.")
@click.option("-W", "--timeout", default=2.0, show_default=True, type=float,
              help="Seconds to wait for each reply; later ones count as lost.")
@click.option("--show", is_flag=True, help="Print Scapy's show() of each request and reply.")
@click.option("--json", "as_json", is_flag=True, help="Print only the statistics, as JSON.")
def ping(host: str, count: int, interval: float, size: int, ttl: int, timeout: float,
         show: bool, as_json: bool) -> None:
    """Send ICMP echo requests to HOST and report replies, errors and statistics."""
    from wirelab.craft.ping import Pinger, PingOptions, result_line, summary_lines
    from wirelab.errors import ExitCode

    options = PingOptions(count=count, interval=interval, size=size, ttl=ttl, timeout=timeout)
    pinger = Pinger(host, options)
    if not as_json:
        click.echo(f"PING {host} ({pinger.address}) {size}({size + 28}) bytes of data.")
    try:
        for result in pinger.run():
            if as_json:
                continue
            if show:
                click.echo(result.request.show2(dump=True))
                if result.reply is not None:
                    click.echo(result.reply.show(dump=True))
            click.echo(result_line(result))
    except KeyboardInterrupt:
        pass  # like ping: Ctrl-C ends the run and still prints the statistics
    stats = pinger.stats
    if as_json:
        click.echo(json.dumps(stats.to_dict(), indent=2))
    else:
        click.echo()
        click.echo("\n".join(summary_lines(stats)))
    if stats.received == 0:
        raise SystemExit(ExitCode.FAILED)
