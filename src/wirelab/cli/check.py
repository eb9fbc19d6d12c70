"""``wirelab check EXERCISE``: run an exercise in the lab and verify it on the wire."""

from __future__ import annotations

import json
from pathlib import Path

import click

from wirelab.errors import ExitCode

EXERCISE_IDS = ("1.1", "1.2", "1.4", "2.1", "2.2", "2.3", "2.4")


@click.command(epilog="""\b
Examples:
  wirelab check 2.2
  wirelab check 1.1 --program 'python3 udp_client.py'
  wirelab check 1.2 --lab mylab --results out/ --json
\b
What each check wants to see on the client's link:
  1.1  one datagram client -> server:8000 and nothing back
  1.2  handshake, a GET with CRLF header lines, the response, FIN from both sides
  1.4  source port 12345 and a valid UDP checksum
  2.1  an ICMP echo request and an echo reply of type 0
  2.2  SYN, SYN-ACK, ACK with correct numbers, all from one port, no RST from the client
  2.3  the counter's final counts equal to the capture's (the check makes the traffic,
       then presses Ctrl-C: the program must print a dict of counts, as the curriculum's)
  2.4  a datagram to port 12345 with version=2 type=1 and a correct length field
\b
The program runs in the lab's client host with the server's address in $WIRELAB_SERVER
(198.18.0.20, also reachable as `server`); the counterpart it needs (a UDP server on
8000, the HTTP origin on 80, a custom-protocol receiver on 12345) runs in the server host.
Exit status 0 only on PASS, 1 on FAIL.
""")
@click.argument("exercise", type=click.Choice(EXERCISE_IDS))
@click.option("--program", metavar="'CMD ...'",
              help="Your program instead of wirelab's, split like a shell would (no shell).")
@click.option("--results", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the capture, ladder and logs  [default: results/check-EXERCISE]")
@click.option("--lab", "lab_name", metavar="NAME",
              help="Use this running lab (default: build a temporary one).")
@click.option("--timeout", type=click.FloatRange(min=0.1),
              help="Seconds the program may run before it is killed (a FAIL).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def check(exercise: str, program: str | None, results: Path | None,
          lab_name: str | None, timeout: float | None, as_json: bool) -> None:
    """Run EXERCISE in the lab, capture it, and say PASS or FAIL from the packets."""
    from wirelab.check import lab_for_checks, run_check
    from wirelab.check.program import parse_program

    argv = parse_program(program) if program is not None else None
    folder = results or Path("results") / f"check-{exercise}"
    with lab_for_checks(lab_name) as lab:
        result = run_check(exercise, lab, folder, argv, timeout)
    if as_json:
        data = result.to_dict()
        data["ladder"] = result.ladder_text
        click.echo(json.dumps(data, indent=2))
    else:
        color = "green" if result.passed else "red"
        click.echo(click.style(result.status, fg=color, bold=True)
                   + result.line()[len(result.status):])
        click.echo()
        click.echo(result.ladder_text)
        click.echo()
        kept = [p.name for p in (result.pcap, result.ladder_txt, result.ladder_html) if p]
        click.echo(f"kept in {folder}/: {', '.join(kept)}, program.out, program.err")
    if not result.passed:
        raise SystemExit(ExitCode.FAILED)  # click.Context.exit is swallowed by main()
