"""``wirelab proto``: the custom protocol of curriculum 2.4 (send, recv, demo)."""

from __future__ import annotations

import json

import click


@click.group(
    "proto",
    epilog="Example: wirelab proto demo\n\n"
    "Header: version (1 byte), type (1 byte), length (2 bytes: payload bytes after the "
    "header), over UDP port 12345.",
)
def proto() -> None:
    """A custom protocol layer over UDP port 12345, built and dissected with Scapy."""


@proto.command(
    "send",
    epilog="Example (inside the lab): wirelab lab exec client -- wirelab proto send server "
    "--version 2 --type 1 --payload 'This is my custom data'\n\n"
    "With --length, the value is sent as given even when it is wrong.",
)
@click.argument("host")
@click.option("--version", "version", default=1, show_default=True, help="Header version.")
@click.option("--type", "type_", default=0, show_default=True, help="Header type.")
@click.option("--payload", default="This is my custom data", show_default=True,
              help="Payload text (UTF-8).")
@click.option("--length", type=int, default=None,
              help="Length field as given (default: computed from the payload).")
@click.option("--sport", type=int, default=None, help="UDP source port (default: random).")
@click.option("--show", is_flag=True, help="Print Scapy's show() of the packet sent.")
def send(host: str, version: int, type_: int, payload: str, length: int | None,
         sport: int | None, show: bool) -> None:
    """Send one custom-protocol datagram to HOST port 12345."""
    from wirelab.craft.proto import send_custom

    packet = send_custom(host, payload.encode(), version=version, type_=type_, length=length,
                         sport=sport)
    if show:
        click.echo(packet.show(dump=True))
    header = packet.getlayer("Custom")
    given = "given" if length is not None else "computed"
    click.echo(f"sent {packet.summary()}")
    click.echo(f"  version={header.version} type={header.type} length={header.length} "
               f"({given}; payload {len(payload.encode())} bytes) to "
               f"{packet['IP'].dst}:{packet['UDP'].dport} from port {packet['UDP'].sport}")


@proto.command(
    "recv",
    epilog="Example (inside the lab): wirelab lab exec server -- wirelab proto recv "
    "--timeout 10 -c 1",
)
@click.option("--timeout", default=10.0, show_default=True, type=float,
              help="Seconds to listen.")
@click.option("-c", "--count", default=0, show_default=True,
              help="Stop after N packets (0: listen until the timeout).")
@click.option("-i", "--iface", default=None, help="Interface (default: all).")
@click.option("--json", "as_json", is_flag=True, help="Print the packets as JSON at the end.")
def recv(timeout: float, count: int, iface: str | None, as_json: bool) -> None:
    """Print the header fields and payload of custom datagrams arriving on port 12345."""
    from wirelab.craft.proto import receive_custom
    from wirelab.errors import ExitCode

    def show(item: object) -> None:
        if not as_json:
            click.echo("\n".join(item.lines()))  # type: ignore[attr-defined]

    def ready() -> None:
        click.echo(f"listening on UDP port 12345 ({iface or 'all interfaces'}) for "
                   f"{timeout:g} s", err=True)

    seen = receive_custom(timeout, count, iface, show, ready)
    if as_json:
        click.echo(json.dumps([item.to_dict() for item in seen], indent=2))
    elif not seen:
        click.echo("no custom packet arrived")
    if not seen:
        raise SystemExit(ExitCode.FAILED)


@proto.command(
    "demo",
    epilog="Example: wirelab proto demo            (builds and removes a temporary lab)\n\n"
    "Example: wirelab proto demo --lab mylab  (uses a lab that is already up)",
)
@click.option("--lab", "lab_name", default=None,
              help="Use this running lab instead of building a temporary one.")
def demo(lab_name: str | None) -> None:
    """Receiver on 'server', sender on 'client': a right and a wrong length field."""
    from wirelab.craft.proto_demo import run_demo

    run_demo(lab_name, click.echo)
