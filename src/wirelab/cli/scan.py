"""``wirelab scan``: a port scan whose states, reasons and outputs are nmap's."""

from __future__ import annotations

import inspect
import json
import shlex
import sys
import time
from typing import IO, Any

import click

from wirelab.errors import ExitCode, WirelabError
from wirelab.recon import scope
from wirelab.recon.ports import DEFAULT_PORTS, parse_ports
from wirelab.recon.progress import ScanProgress
from wirelab.recon.report import PROTOCOL, render_file, render_normal, starting_line, to_json
from wirelab.recon.result import ScanResult
from wirelab.recon.scan import scan as run_scan
from wirelab.recon.xml import render_xml

EPILOG = """\b
Examples (in the lab, where SYN scans have the privilege they need):
  wirelab lab exec client -- wirelab scan server -p 1-1024 --reason
  wirelab lab exec client -- wirelab scan server -p- -T4 -oX scan.xml -oN scan.txt
  wirelab lab exec client -- wirelab scan server --type udp -p 53,67,123 --reason
  wirelab lab exec client -- wirelab scan server -p 1-100 --verify

\b
States as nmap defines them.  SYN: SYN/ACK open, RST closed, ICMP unreachable
(codes 0,1,2,3,9,10,13) or silence after retransmission filtered.  Connect:
connected open, refused closed, time-out or unreachable filtered.  UDP: a UDP
reply open, ICMP port unreachable closed, other ICMP unreachables filtered,
silence open|filtered.
-oN FILE / -oX FILE write nmap's normal / XML output (XML valid against
nmap.dtd); "-" means stdout.  --verify scores the scan against the lab's own
truth (the target's listening sockets and iptables rules).
Only loopback and the hosts of a running lab are scanned; anything else is
refused before a packet is sent, unless --i-own-this-network says it is yours.
Ports default to 1-1024."""


class OutputFileError(WirelabError):
    exit_code = ExitCode.BAD_INPUT


def _open(path: str | None) -> IO[str] | None:
    """Open an output file before the scan, as nmap does, so a bad path costs no scan."""
    if path is None or path == "-":
        return None
    try:
        return open(path, "w")  # noqa: SIM115 - closed by the caller after the scan
    except OSError as exc:
        raise OutputFileError(f"cannot write {path}: {exc.strerror}") from None


def _engine_keywords(**wanted: Any) -> dict[str, Any]:
    """The keyword arguments the scan engine accepts, of those given (None: not given)."""
    accepted = inspect.signature(run_scan).parameters
    missing = [k for k, v in wanted.items() if v is not None and k not in accepted]
    if missing and missing != ["progress"]:
        raise click.UsageError(f"this scan engine has no {', '.join(missing)} option yet")
    return {k: v for k, v in wanted.items() if v is not None and k in accepted}


def _command() -> str:
    return shlex.join(["wirelab", *sys.argv[1:]])


@click.command(epilog=EPILOG)
@click.argument("target")
@click.option("-p", "ports", default=DEFAULT_PORTS, show_default=True,
              help="Ports, nmap syntax: 22,80,1-1024, -100, 60000-, - (all).")
@click.option("--type", "scan_type", type=click.Choice(sorted(PROTOCOL)), default="syn",
              show_default=True,
              help="syn: half-open, raw sockets; connect: connect(); udp: UDP probes.")
@click.option("-T", "timing", type=click.IntRange(0, 5), metavar="0-5",
              help="nmap's timing template (-T4 or -T 4): paranoid 0 ... insane 5; default 4.")
@click.option("--max-retries", type=click.IntRange(0, 50), metavar="N",
              help="Retransmissions of an unanswered probe (default: the template's).")
@click.option("--reason", is_flag=True, help="Add nmap's REASON column.")
@click.option("-oN", "normal_file", metavar="FILE", help="Write nmap's normal output to FILE.")
@click.option("-oX", "xml_file", metavar="FILE", help="Write nmap's XML output to FILE.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--verify", is_flag=True,
              help="Score the result against the lab's truth (listening sockets, iptables).")
@click.option("--i-own-this-network", "owned", is_flag=True,
              help="Scan a target outside the lab and loopback (prints a warning).")
def scan(target: str, ports: str, scan_type: str, timing: int | None, max_retries: int | None,
         reason: bool, normal_file: str | None, xml_file: str | None, as_json: bool,
         verify: bool, owned: bool) -> None:
    """Scan ports of TARGET (a lab host or loopback), like nmap -sS / -sT / -sU."""
    to_stdout = [name for name, path in (("-oN", normal_file), ("-oX", xml_file))
                 if path == "-"]
    if len(to_stdout) + as_json > 1:
        raise click.UsageError("only one of --json, -oN -, -oX - can use stdout")
    port_list = parse_ports(ports)
    files = {"normal": _open(normal_file), "xml": _open(xml_file)}
    interactive = not (to_stdout or as_json)
    try:
        result, started = _run(target, port_list, scan_type, timing, max_retries, owned,
                               announce=interactive)
        _outputs(result, started, files, normal_file, xml_file, reason=reason,
                 as_json=as_json, interactive=interactive, verify=verify)
    finally:
        for handle in files.values():
            if handle is not None:
                handle.close()


def _run(target: str, port_list: list[int], scan_type: str, timing: int | None,
         max_retries: int | None, owned: bool, *, announce: bool) -> tuple[ScanResult, float]:
    proto = PROTOCOL[scan_type]
    progress = ScanProgress(f"Scanning {target} ({proto})")
    options = _engine_keywords(timing=timing, max_retries=max_retries, progress=progress)
    address = scope.resolve(target)
    with progress, scope.owned(*([address] if owned else [])):
        warning = scope.override_warning(address) if owned else None
        if warning:
            click.echo(warning, err=True)
        scope.check_scope(address)  # the engine checks again; here so a refusal prints nothing
        started = time.time()
        if announce:  # like nmap's "Starting Nmap 7.93 ( https://nmap.org ) at ..."
            click.echo(starting_line(started))
        result = run_scan(target, port_list, scan_type, **options)
    return result, started


def _outputs(result: ScanResult, started: float, files: dict[str, IO[str] | None],
             normal_file: str | None, xml_file: str | None, *, reason: bool, as_json: bool,
             interactive: bool, verify: bool) -> None:
    command = _command()
    if normal_file is not None:
        text = render_file(result, command=command, started=started, reason=reason)
        _emit(files["normal"], text)
    if xml_file is not None:
        _emit(files["xml"], render_xml(result, command=command, started=started))
    if interactive:  # the report first: a --verify error below must not cost the scan
        click.echo(render_normal(result, reason=reason))
    report = None
    if verify:
        from wirelab.recon.verify import verify_result

        report = verify_result(result)
    if as_json:
        data = to_json(result)
        if report is not None:
            data["verify"] = report.to_json()
        click.echo(json.dumps(data, indent=2))
    elif report is not None:
        click.echo(report.render(), err=not interactive)
    if report is not None and report.disagreements:
        sys.exit(ExitCode.FAILED)


def _emit(handle: IO[str] | None, text: str) -> None:
    if handle is None:
        click.echo(text, nl=False)
    else:
        handle.write(text)
