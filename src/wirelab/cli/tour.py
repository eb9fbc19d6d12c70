"""``wirelab tour``: the main job that ``make tour`` runs.

First the sample capture of the curriculum's traffic, built with wirelab's encoders and
dissected with its decoders (no lab needed); then a default lab, every exercise's check run
with wirelab's own implementation, a summary table and an HTML report linking each ladder.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from wirelab.errors import ExitCode

if TYPE_CHECKING:
    from wirelab.check.model import CheckResult


@click.command(epilog="""\b
Example:
  wirelab tour                      (writes results/tour/report.html)
  wirelab tour --results /tmp/tour --lab mylab
""")
@click.option("--results", type=click.Path(file_okay=False, path_type=Path),
              default=Path("results"), show_default=True,
              help="Folder for the captures and reports the tour makes (under tour/).")
@click.option("--lab", "lab_name", metavar="NAME",
              help="Use this running lab instead of building (and removing) one.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON only.")
def tour(results: Path, lab_name: str | None, as_json: bool) -> None:
    """Dissect the sample capture, then run and verify every exercise in a lab.

    Exit status 0 only if every check passes.
    """
    from wirelab.check import exercises, lab_for_checks, run_check
    from wirelab.check.report import write_report

    started = time.monotonic()
    folder = results / "tour"
    folder.mkdir(parents=True, exist_ok=True)
    sample = _dissect_sample(folder, quiet=as_json)
    done = []
    with lab_for_checks(lab_name) as lab:
        if not as_json:
            click.echo(f"\nlab {lab.name} is up; running every check with wirelab's own tools")
        for ex_id in exercises():
            result = run_check(ex_id, lab, folder / ex_id)
            done.append(result)
            if not as_json:
                click.echo(f"  {result.status} {ex_id} {result.title} ({result.seconds:.1f} s)")
    seconds = time.monotonic() - started
    report = write_report(folder / "report.html", done, seconds=seconds, sample=sample)
    if as_json:
        click.echo(json.dumps({"results": [r.to_dict() for r in done], "report": str(report),
                               "seconds": round(seconds, 1)}, indent=2))
    else:
        _summary(done, report, seconds)
    if not all(r.passed for r in done):
        raise SystemExit(ExitCode.FAILED)


def _dissect_sample(folder: Path, quiet: bool) -> Path:
    from wirelab import samples
    from wirelab.observe.dissect import Dissector
    from wirelab.wire.capture import open_capture

    path = folder / "sample.pcap"
    count = samples.write_pcap(path, samples.curriculum_trace())
    if not quiet:
        click.echo(f"wrote {count} packets of the curriculum's traffic to {path}, "
                   "dissected with wirelab's decoders:\n")
        with open_capture(path) as reader:
            for d in Dissector().run(iter(reader)):
                click.echo(d.row.line())
    return path


def _summary(done: Sequence[CheckResult], report: Path, seconds: float) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"wirelab tour: {sum(r.passed for r in done)}/{len(done)} passed "
                        f"in {seconds:.1f} s")
    for name in ("exercise", "result", "what was seen", "pcap / ladder"):
        table.add_column(name, overflow="fold")
    for r in done:
        style = "bold green" if r.passed else "bold red"
        where = "\n".join(str(p) for p in (r.pcap, r.ladder_html) if p is not None)
        table.add_row(f"{r.exercise} {r.title}", f"[{style}]{r.status}[/]", r.reason, where)
    console = Console()
    console.print()
    console.print(table)
    console.print(f"report: {report}")
