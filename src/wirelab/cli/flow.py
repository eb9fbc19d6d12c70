"""``wirelab flow``: a ladder diagram of a capture, in the terminal, as SVG or as HTML."""

from __future__ import annotations

import json
import os
import sys

import click


def write_text(path: str, text: str) -> None:
    """Write an output file, turning an OS error into click's one-line file error."""
    try:
        with open(path, "w", encoding="utf-8") as out:
            out.write(text)
    except OSError as exc:
        raise click.FileError(path, hint=exc.strerror) from None


@click.command(
    "flow",
    epilog="Example: wirelab flow capture.pcap --stream 0 --html ladder.html\n\n"
    "Columns are endpoints (address:port; the bare address for ICMP), one arrow per packet "
    "with the time since the first frame, the TCP flags, and Wireshark's relative Seq/Ack, "
    "window and length.  Marks such as [TCP Retransmission], [TCP Out-Of-Order] and "
    "[TCP ZeroWindow] follow Wireshark's definitions.  Stream numbers are tshark's "
    "tcp.stream / udp.stream (see: wirelab conversations FILE).\n\n"
    "Filter syntax (a small subset of tcpdump's): tcp, udp, icmp, [src|dst] host ADDR, "
    "[src|dst] port N, stream N, joined with and/or/not and parentheses, e.g. "
    "--filter 'udp and dst port 53'.",
)
@click.argument("capture", type=click.Path(dir_okay=False))
@click.option("--stream", type=click.IntRange(min=0), default=None,
              help="Only this TCP stream (tshark's tcp.stream number).")
@click.option("--udp-stream", type=click.IntRange(min=0), default=None,
              help="Only this UDP stream (tshark's udp.stream number).")
@click.option("-f", "--filter", "where", default=None, metavar="EXPR",
              help="Only packets matching EXPR (see below).")
@click.option("--svg", "svg_path", type=click.Path(dir_okay=False), default=None,
              help="Also write the diagram as an SVG picture to this file.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), default=None,
              help="Also write a self-contained HTML page (diagram + packet table).")
@click.option("--ascii", "plain", is_flag=True, help="Draw with ASCII instead of box characters.")
@click.option("--json", "as_json", is_flag=True, help="Print the ladder as JSON instead.")
def flow(capture: str, stream: int | None, udp_stream: int | None, where: str | None,
         svg_path: str | None, html_path: str | None, plain: bool, as_json: bool) -> None:
    """Draw the packets of CAPTURE (pcap or pcapng) as a ladder diagram."""
    from wirelab.observe import build_ladder, load

    if stream is not None and udp_stream is not None:
        raise click.UsageError("give --stream or --udp-stream, not both")
    packets = load(capture)
    for warning in packets.warnings:
        click.echo(f"wirelab: warning: {warning}", err=True)
    title = os.path.basename(capture)
    if stream is not None:
        title += f": tcp stream {stream}"
    elif udp_stream is not None:
        title += f": udp stream {udp_stream}"
    if where:
        title += f" [{where}]"
    ladder = build_ladder(packets, stream, udp_stream=udp_stream, where=where, title=title)
    if svg_path:
        write_text(svg_path, ladder.render_svg() + "\n")
    if html_path:
        write_text(html_path, ladder.render_html())
    if as_json:
        click.echo(json.dumps(ladder.to_dict(), indent=2))
        return
    color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    click.echo(ladder.render_text(ascii=plain, color=color))
    for what, path in (("SVG", svg_path), ("HTML", html_path)):
        if path:
            click.echo(f"wrote {what} to {path}", err=True)
