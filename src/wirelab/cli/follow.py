"""``wirelab follow``: the reassembled bytes of a TCP stream, like Follow TCP Stream."""

from __future__ import annotations

import json
import sys

import click


@click.command(
    "follow",
    epilog="Example: wirelab follow capture.pcap --stream 0 --format hex\n\n"
    "Bytes are placed by sequence number, so retransmitted and overlapping segments count "
    "once and reordered ones are put back in order; bytes the capture lacks are reported "
    "as missing.  --format raw writes the bytes themselves to stdout; -o FILE writes them "
    "to FILE (the chosen --side; both sides interleaved in the order they were "
    "delivered by default) and prints the summary.",
)
@click.argument("capture", type=click.Path(dir_okay=False))
@click.option("--stream", type=click.IntRange(min=0), default=0, show_default=True,
              help="TCP stream number (tshark's tcp.stream; see wirelab conversations).")
@click.option("--format", "fmt", type=click.Choice(["ascii", "hex", "raw"]), default="ascii",
              show_default=True, help="How to show the bytes.")
@click.option("--side", type=click.Choice(["both", "client", "server"]), default="both",
              show_default=True, help="Which direction for raw output and -o.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write the raw bytes to this file.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the endpoints, byte counts, segments and gaps as JSON.")
def follow(capture: str, stream: int, fmt: str, side: str, output: str | None,
           as_json: bool) -> None:
    """Reassemble TCP stream N of CAPTURE and show what each side sent."""
    from wirelab.observe import Side, load
    from wirelab.observe import follow as follow_stream
    from wirelab.observe.dump import render_ascii, render_hex, summary

    packets = load(capture)
    for warning in packets.warnings:
        click.echo(f"wirelab: warning: {warning}", err=True)
    fs = follow_stream(packets, stream)
    chosen = None if side == "both" else Side(side)
    if output:
        try:
            with open(output, "wb") as out:
                out.write(fs.data(chosen))
        except OSError as exc:
            raise click.FileError(output, hint=exc.strerror) from None
    if as_json:
        click.echo(json.dumps(fs.to_dict(), indent=2))
    elif output:
        click.echo(summary(fs))
        click.echo(f"wrote {len(fs.data(chosen))} bytes ({side}) to {output}")
    elif fmt == "raw":
        sys.stdout.buffer.write(fs.data(chosen))
        sys.stdout.buffer.flush()
    elif fmt == "hex":
        click.echo(render_hex(fs))
    else:
        click.echo(render_ascii(fs))
