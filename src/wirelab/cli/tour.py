"""``wirelab tour``: the main job that ``make tour`` runs."""

from __future__ import annotations

from pathlib import Path

import click

from wirelab import samples
from wirelab.observe.dissect import Dissector
from wirelab.wire.capture import open_capture


@click.command(epilog="""\b
Example:
  wirelab tour --results results/
""")
@click.option("--results", type=click.Path(file_okay=False, path_type=Path),
              default=Path("results"), show_default=True,
              help="Folder for the captures and reports the tour makes.")
def tour(results: Path) -> None:
    """Walk through what wirelab does, writing what it made to RESULTS.

    For now: build the sample capture of the curriculum's traffic with
    wirelab's own encoders, then dissect it with wirelab's own decoders.
    """
    results.mkdir(parents=True, exist_ok=True)
    path = results / "sample.pcap"
    count = samples.write_pcap(path, samples.curriculum_trace())
    click.echo(f"wrote {count} packets of the curriculum's traffic to {path}\n")
    with open_capture(path) as reader:
        for d in Dissector().run(iter(reader)):
            click.echo(d.row.line())
    click.echo(f"\nnext: wirelab dissect {path} -V -c 3")
