"""``wirelab handshake``: a TCP connection made segment by segment (curriculum 2.2)."""

from __future__ import annotations

import json

import click


@click.command(
    "handshake",
    epilog="Example (inside the lab): wirelab lab exec client -- wirelab handshake server 80 "
    "--get /get --close\n\n"
    "While it runs, an iptables rule in this host drops the kernel's RST for this one "
    "connection (the kernel did not open it and would reset it); the rule is removed on "
    "exit, Ctrl-C or SIGTERM.  Needs CAP_NET_RAW and CAP_NET_ADMIN: run it inside the lab.",
)
@click.argument("host")
@click.argument("port", type=int)
@click.option("--sport", type=int, default=None,
              help="Source port (default: a free one chosen by the kernel, fixed once).")
@click.option("--get", "get_path", metavar="PATH", default=None,
              help="Send 'GET PATH' on the connection and print the response.")
@click.option("--close", is_flag=True, help="Close with FIN from both sides at the end.")
@click.option("--timeout", default=2.0, show_default=True, type=float,
              help="Seconds to wait for each answer (a SYN is sent 3 times).")
@click.option("--json", "as_json", is_flag=True, help="Print segments and response as JSON.")
def handshake(host: str, port: int, sport: int | None, get_path: str | None, close: bool,
              timeout: float, as_json: bool) -> None:
    """Open a TCP connection to HOST:PORT with SYN, SYN-ACK, ACK crafted by hand."""
    from wirelab.craft import ladder
    from wirelab.craft.handshake import ManualConnection

    emit = None if as_json else (lambda seg: click.echo(ladder.line(seg)))
    conn = ManualConnection(host, port, sport=sport, timeout=timeout, emit=emit)
    def guard_in_place(rule: list[str]) -> None:
        if as_json:
            return
        click.echo(f"RST guard: kernel RSTs from {conn.src}:{conn.sport} to "
                   f"{conn.dst}:{port} are dropped while this runs (iptables rule in OUTPUT, "
                   f"removed at exit)")
        click.echo(ladder.header(f"{conn.src}:{conn.sport}", f"{conn.dst}:{port}"))

    outcome = conn.run(get_path=get_path, close=close, on_guard=guard_in_place)
    if as_json:
        click.echo(json.dumps(outcome.to_dict(), indent=2))
        return
    click.echo(f"connection state: {outcome.state}")
    if outcome.state == "ESTABLISHED":
        click.echo("the connection stays open on the server; our kernel will answer its next "
                   "segment with a RST now that the guard is gone (use --close to end it)")
    if outcome.status is not None:
        click.echo()
        click.echo(f"HTTP {outcome.status} {outcome.reason}".rstrip())
        for name, value in outcome.headers:
            click.echo(f"{name}: {value}")
        click.echo()
        click.echo(outcome.body.decode("utf-8", "replace"))
