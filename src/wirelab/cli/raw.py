"""``wirelab raw udp``: curriculum 1.4, a UDP header packed by hand on a raw socket."""

from __future__ import annotations

import json

import click

from wirelab.sockets import raw as rawlib


@click.group(epilog="Example: wirelab raw udp 127.0.0.1 --dport 8000 --sport 12345")
def raw() -> None:
    """Send headers packed by hand on a raw socket (curriculum 1.4; needs CAP_NET_RAW)."""


def _hexdump(data: bytes) -> list[str]:
    return [f"  {i:04x}  {data[i:i + 16].hex(' ')}" for i in range(0, len(data), 16)]


@raw.command(
    "udp",
    epilog="Example: wirelab raw udp 127.0.0.1 --dport 8000 --sport 12345 --payload hi\n"
    "         wirelab raw udp 127.0.0.1 --dport 8000 --hdrincl --src 127.0.0.2 --ttl 5\n"
    "         wirelab lab exec client -- wirelab raw udp server --dport 8000\n\n"
    "--checksum auto (default) computes the UDP checksum over the pseudo-header; the kernel "
    "does NOT do it on a raw socket.  zero sends 0 (\"no checksum\", legal over IPv4 only); "
    "a hex value is sent as given.  Needs CAP_NET_RAW: root, or any user inside the lab."
)
@click.argument("dst")
@click.option("--dport", required=True, type=click.IntRange(0, 65535), help="Destination port.")
@click.option("--sport", default=12345, show_default=True, type=click.IntRange(0, 65535),
              help="Source port (any: nothing on this host owns it).")
@click.option("--payload", default=None, help="Payload text (UTF-8).")
@click.option("--payload-file", type=click.Path(dir_okay=False, allow_dash=True), default=None,
              help="Read the payload from a file ('-' for stdin).")
@click.option("--checksum", "checksum_text", default="auto", show_default=True,
              help="auto, zero, or a 16-bit hex value sent as given.")
@click.option("--hdrincl", is_flag=True,
              help="Build the IPv4 header too (IP_HDRINCL): --src, --ttl and --ip-id apply.")
@click.option("--src", default=None, help="Source address (without --hdrincl: one of this "
              "host's, the raw socket is bound to it).")
@click.option("--ttl", type=click.IntRange(1, 255), default=None, help="IPv4 TTL / hop limit.")
@click.option("--ip-id", type=click.IntRange(0, 65535), default=None,
              help="IPv4 identification (--hdrincl; 0 lets the kernel choose).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object describing what was sent.")
def udp(dst: str, dport: int, sport: int, payload: str | None, payload_file: str | None,
        checksum_text: str, hdrincl: bool, src: str | None, ttl: int | None,
        ip_id: int | None, as_json: bool) -> None:
    """Send one UDP datagram to DST with a header packed by hand."""
    if payload is not None and payload_file is not None:
        raise click.UsageError("give --payload or --payload-file, not both")
    if ip_id is not None and not hdrincl:
        raise click.UsageError("--ip-id needs --hdrincl (the kernel writes the IPv4 header "
                               "otherwise)")
    if payload_file is not None:
        with click.open_file(payload_file, "rb") as fh:
            data: bytes = fh.read()
    else:
        data = (payload if payload is not None else "wirelab raw udp").encode("utf-8")
    checksum = rawlib.parse_checksum(checksum_text)
    address = rawlib.resolve_dst(dst)
    packet = rawlib.build(address, dport, sport=sport, payload=data, checksum=checksum,
                          src=src, hdrincl=hdrincl, ttl=ttl if ttl is not None else 64,
                          ip_id=ip_id)
    sent = rawlib.send(packet, ttl=None if hdrincl else ttl)
    if as_json:
        click.echo(json.dumps(_record(packet, sent)))
        return
    udp_hdr = packet.udp
    click.echo(f"sent {sent} bytes to {packet.dst} on a raw socket "
               f"({'IPPROTO_RAW, IP_HDRINCL' if hdrincl else 'IPPROTO_UDP'})")
    if packet.ip is not None:
        ip = packet.ip
        click.echo(f"IPv4: src {ip.src} dst {ip.dst} ttl {ip.ttl} id {ip.id} (0x{ip.id:04x}) "
                   f"total_length {ip.total_length} checksum 0x{ip.checksum or 0:04x}")
    click.echo(f"UDP:  sport {udp_hdr.sport} dport {udp_hdr.dport} length {udp_hdr.length} "
               f"checksum {packet.explain_checksum()}")
    for line in _hexdump(packet.wire):
        click.echo(line)


def _record(packet: rawlib.RawUDP, sent: int) -> dict[str, object]:
    record: dict[str, object] = {
        "sent": sent, "src": packet.src, "dst": packet.dst, "sport": packet.udp.sport,
        "dport": packet.udp.dport, "length": packet.udp.length, "checksum": packet.udp.checksum,
        "checksum_mode": packet.checksum_mode if isinstance(packet.checksum_mode, str)
        else "explicit",
        "correct_checksum": packet.correct_checksum, "hdrincl": packet.hdrincl,
        "hex": packet.wire.hex(),
    }
    if packet.ip is not None:
        record.update(ttl=packet.ip.ttl, ip_id=packet.ip.id, ip_checksum=packet.ip.checksum)
    return record
