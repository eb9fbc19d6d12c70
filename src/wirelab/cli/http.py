"""``wirelab http get URL``: curriculum 1.2, an HTTP/1.1 exchange over a plain TCP socket."""

from __future__ import annotations

import json
import os
import sys

import click

from wirelab.sockets import request as req
from wirelab.sockets.http import Exchange, Response, Sink


@click.group(epilog="Example: wirelab http get -v http://127.0.0.1:8080/")
def http() -> None:
    """HTTP/1.1 over a raw TCP socket (curriculum 1.2, RFC 9112)."""


def _read_data(data: str | None) -> bytes | None:
    """``--data TEXT``, or ``--data @FILE`` / ``@-`` for a file or stdin, as curl does."""
    if data is None:
        return None
    if data.startswith("@"):
        with click.open_file(data[1:], "rb") as fh:
            content: bytes = fh.read()
            return content
    return data.encode("utf-8")


def _open_output(path: str | None) -> tuple[Sink, bool]:
    if path is None or path == "-":
        return Sink(sys.stdout.fileno()), False
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    except OSError as exc:
        raise click.FileError(path, exc.strerror) from None
    return Sink(fd), True


@http.command(
    epilog="Example: wirelab http get http://127.0.0.1:8080/big.bin -o big.bin\n"
    "         wirelab http get -i -X HEAD http://server/get\n"
    "         wirelab http get -v -H 'Accept: application/json' --data 'a=1' http://server/post\n\n"
    "The body goes to stdout (or -o FILE) byte for byte, streamed as it arrives.  -v shows "
    "on stderr the request and each response head exactly as they crossed the socket, CR "
    "and LF made visible.  Exit status 6 with a one-line reason for a refused connection, a "
    "timeout, a malformed status line or a body cut short."
)
@click.argument("url")
@click.option("-X", "--request", "method", default=None, help="Method (default GET, or POST "
              "with --data).")
@click.option("-H", "--header", "headers", multiple=True, help="Extra field 'Name: value'; "
              "replaces a default field of the same name.  Repeatable.")
@click.option("-d", "--data", default=None, help="Request body; @FILE reads a file, @- stdin.")
@click.option("-o", "--output", default=None, help="Write the body to FILE instead of stdout.")
@click.option("-i", "--include", is_flag=True, help="Include the response head(s) in the output.")
@click.option("-v", "--verbose", is_flag=True, help="Show the raw request and response heads "
              "on stderr.")
@click.option("--timeout", default=10.0, show_default=True, type=click.FloatRange(min=0.001),
              help="Seconds to wait for the connection and for each read.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary of the response "
              "(status, fields, trailers, framing, size) on stdout; the body only goes to -o.")
def get(url: str, method: str | None, headers: tuple[str, ...], data: str | None,
        output: str | None, include: bool, verbose: bool, timeout: float,
        as_json: bool) -> None:
    """Fetch URL with a request written by hand and a response parsed per RFC 9112."""
    target = req.parse_url(url)
    body = _read_data(data)
    method = (method or ("POST" if body is not None else "GET")).upper()
    fields = [req.parse_header(h) for h in headers]
    request = req.build_request(method, target, fields, body)
    if as_json and output is None:
        output = os.devnull
    sink, close_sink = _open_output(output)
    if verbose:
        click.echo(f"* connecting to {target.host} port {target.port}", err=True)
        for line in req.show_raw(request, "> "):
            click.echo(line, err=True)

    def on_head(raw: bytes, interim: bool) -> None:
        if verbose:
            for line in req.show_raw(raw, "< "):
                click.echo(line, err=True)
        if include:
            sink.emit(raw)

    exchange = Exchange(target, method, request, timeout=timeout)
    try:
        response = exchange.run(sink, on_head)
    finally:
        if close_sink:
            os.close(sink.fd)
    if verbose:
        for name, value in response.trailers:
            click.echo(f"< (trailer) {name}: {value}", err=True)
        click.echo(f"* {response.body_bytes} body bytes ({response.framing}) in "
                   f"{response.seconds:.3f} s", err=True)
    if as_json:
        click.echo(json.dumps(_summary(target, method, response)))


def _summary(url: req.URL, method: str, r: Response) -> dict[str, object]:
    return {
        "url": str(url), "method": method, "status": r.status, "reason": r.reason,
        "http_version": r.http_version, "interim": r.interim,
        "headers": [[n, v] for n, v in r.headers],
        "trailers": [[n, v] for n, v in r.trailers],
        "framing": r.framing, "body_bytes": r.body_bytes, "seconds": round(r.seconds, 6),
    }

