"""``wirelab udp serve`` and ``wirelab udp send``: curriculum 1.1 as tools."""

from __future__ import annotations

import json
import signal
import sys
from types import FrameType

import click

from wirelab.errors import ExitCode
from wirelab.sockets import udp as udplib


@click.group(
    epilog="Example: wirelab udp serve --port 8000   and, in another terminal,\n"
    "         wirelab udp send 127.0.0.1 8000 'Hello, World!'"
)
def udp() -> None:
    """UDP server and client (curriculum 1.1, RFC 768)."""


def _stop_on_signals() -> None:
    """Let Ctrl-C and SIGTERM end the server with the summary and exit status 0.

    SIGINT is set explicitly because a shell starts ``cmd &`` with SIGINT ignored, and
    ``kill -INT`` should still end the server cleanly.
    """

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


@udp.command(
    epilog="Example: wirelab udp serve --bind ::1 --port 8000 --echo\n\n"
    "Each datagram is printed with its sender, its real size and its payload (as text "
    "when it is UTF-8, as hex otherwise).  Ctrl-C prints how many datagrams and bytes "
    "arrived.  --quiet prints only that summary, which is what the benchmark measures."
)
@click.option("--bind", "bind", default="127.0.0.1", show_default=True,
              help="Address to listen on (IPv4 or IPv6, e.g. 0.0.0.0 or ::1).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535),
              help="UDP port (0: let the kernel choose and print it).")
@click.option("--echo", is_flag=True, help="Send each payload back to its sender.")
@click.option("--json", "as_json", is_flag=True, help="JSON Lines on stdout, one per datagram.")
@click.option("--hex", "force_hex", is_flag=True, help="Show every payload as hex.")
@click.option("-q", "--quiet", is_flag=True,
              help="Print nothing per datagram, only the final count (fast path).")
@click.option("-c", "--count", "limit", type=click.IntRange(min=1), default=None,
              help="Exit after this many datagrams.")
@click.option("--bufsize", type=click.IntRange(1, udplib.MAX_DATAGRAM),
              default=udplib.MAX_DATAGRAM, show_default=True,
              help="Receive buffer per datagram; smaller values show truncation.")
@click.option("--rcvbuf", type=click.IntRange(min=1), default=None,
              help="Socket receive buffer (SO_RCVBUF) in bytes.")
@click.option("--show", "show_limit", type=click.IntRange(min=0), default=256,
              show_default=True, help="Payload bytes shown per line (the size is always shown).")
def serve(bind: str, port: int, echo: bool, as_json: bool, force_hex: bool, quiet: bool,
          limit: int | None, bufsize: int, rcvbuf: int | None, show_limit: int) -> None:
    """Receive UDP datagrams and print each one."""
    if quiet and echo:
        raise click.UsageError("--quiet counts datagrams only; it cannot --echo")
    sock = udplib.open_server(bind, port, rcvbuf=rcvbuf)
    host, bound_port = sock.getsockname()[:2]
    click.echo(f"listening on {udplib.format_endpoint(host, bound_port)} (UDP)", err=True)
    _stop_on_signals()
    tally = udplib.Tally()

    def show(datagram: udplib.Datagram) -> None:
        if as_json:
            line = udplib.datagram_json(datagram)
        else:
            line = udplib.datagram_line(datagram, force_hex=force_hex, limit=show_limit)
        click.echo(line)

    try:
        if quiet:
            udplib.count(sock, tally=tally, limit=limit)
        else:
            udplib.serve(sock, show, tally=tally, echo=echo, limit=limit, bufsize=bufsize)
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    if as_json:
        click.echo(json.dumps(tally.as_json()))
    else:
        click.echo(tally.summary(), err=True)
    sys.stdout.flush()


def _read_message(message: str | None, path: str | None) -> bytes:
    if message is not None and path is not None:
        raise click.UsageError("give MESSAGE or --file, not both")
    if path is not None:
        with click.open_file(path, "rb") as fh:
            data: bytes = fh.read()
            return data
    if message is None or message == "-":
        return sys.stdin.buffer.read()
    return message.encode("utf-8")


@udp.command(
    epilog="Example: wirelab udp send 127.0.0.1 8000 'Hello, World!' --count 3 --interval 0.5\n"
    "         echo hi | wirelab udp send ::1 8000 - --wait-reply 1\n\n"
    "MESSAGE '-' (or none) reads the payload from stdin; --file reads it from a file.  "
    "With --wait-reply the exit status is 1 if any datagram got no reply."
)
@click.argument("host")
@click.argument("port", type=click.IntRange(1, 65535))
@click.argument("message", required=False)
@click.option("-f", "--file", "path", type=click.Path(dir_okay=False, allow_dash=True),
              help="Read the payload from this file ('-' for stdin).")
@click.option("-n", "--count", default=1, show_default=True, type=click.IntRange(min=1),
              help="How many datagrams to send.")
@click.option("-i", "--interval", default=0.0, show_default=True,
              type=click.FloatRange(min=0.0), help="Seconds between datagrams.")
@click.option("-w", "--wait-reply", type=click.FloatRange(min=0.0, min_open=True),
              default=None, help="Wait this many seconds for a reply after each datagram.")
@click.option("--json", "as_json", is_flag=True, help="JSON Lines on stdout.")
def send(host: str, port: int, message: str | None, path: str | None, count: int,
         interval: float, wait_reply: float | None, as_json: bool) -> None:
    """Send MESSAGE to HOST PORT as UDP datagrams."""
    payload = _read_message(message, path)
    missing = 0
    dest = udplib.format_endpoint(host, port)
    for result in udplib.send(host, port, payload, count=count, interval=interval,
                              wait_reply=wait_reply):
        if as_json:
            click.echo(json.dumps(_reply_record(result, host, port)))
        else:
            click.echo(f"sent {result.sent} bytes to {dest}")
        if wait_reply is None:
            continue
        if result.reply is None:
            missing += 1
            if not as_json:
                click.echo(f"no reply within {wait_reply} s")
        elif not as_json:
            rtt_ms = (result.rtt or 0.0) * 1000
            line = udplib.datagram_line(result.reply)
            click.echo(f"reply after {rtt_ms:.3f} ms: {line}")
    if missing:
        sys.exit(ExitCode.FAILED)


def _reply_record(result: udplib.Reply, host: str, port: int) -> dict[str, object]:
    record: dict[str, object] = {"event": "sent", "seq": result.seq, "dst": host,
                                 "dport": port, "size": result.sent}
    if result.reply is not None:
        record["reply"] = json.loads(udplib.datagram_json(result.reply))
        record["rtt_ms"] = round((result.rtt or 0.0) * 1000, 3)
    return record

