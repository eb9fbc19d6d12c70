"""The tour's HTML report: one self-contained page, a row per check, links to each ladder.

Links are relative to the report, so the results folder can be moved or archived whole.
"""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from pathlib import Path

from wirelab.check.model import CheckResult

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #ccc; padding: .4em .6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.PASS { color: #0a0; font-weight: bold; }  td.FAIL { color: #c00; font-weight: bold; }
pre { font-size: 12px; background: #fafafa; padding: .6em; overflow-x: auto; }
"""


def _link(path: Path | None, base: Path, text: str) -> str:
    if path is None:
        return ""
    href = html.escape(os.path.relpath(path, base))
    return f'<a href="{href}">{html.escape(text)}</a>'


def _row(r: CheckResult, base: Path) -> str:
    links = " · ".join(x for x in (
        _link(r.ladder_html, base, "ladder"), _link(r.ladder_txt, base, "ladder.txt"),
        _link(r.pcap, base, "capture.pcap")) if x)
    return (f"<tr id='ex-{html.escape(r.exercise)}'><td>{html.escape(r.exercise)}</td>"
            f"<td>{html.escape(r.title)}</td><td class='{r.status}'>{r.status}</td>"
            f"<td>{html.escape(r.reason)}</td><td>{links}</td>"
            f"<td>{r.seconds:.1f} s</td></tr>")


def write_report(path: Path, results: Sequence[CheckResult], *, seconds: float,
                 sample: Path | None = None) -> Path:
    """Write the report to ``path`` and return it."""
    base = path.parent
    passed = sum(r.passed for r in results)
    rows = "\n".join(_row(r, base) for r in results)
    ladders = "\n".join(
        f"<h3>{html.escape(r.exercise)} {html.escape(r.title)} -- {r.status}</h3>"
        f"<pre>{html.escape(r.ladder_text)}</pre>" for r in results)
    sample_link = f"<p>Sample capture dissected first: {_link(sample, base, sample.name)}</p>" \
        if sample else ""
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>wirelab tour</title>
<style>{_STYLE}</style></head><body>
<h1>wirelab tour: {passed}/{len(results)} checks passed</h1>
<p>Each exercise was run in a fresh namespace lab with wirelab's own implementation, the
client's link captured with tcpdump, and the verdict taken from the packets
({seconds:.1f} s in all).</p>
{sample_link}
<table><thead><tr><th>exercise</th><th>title</th><th>result</th><th>what was seen</th>
<th>evidence</th><th>time</th></tr></thead><tbody>
{rows}
</tbody></table>
<h2>Ladders</h2>
{ladders}
</body></html>
"""
    path.write_text(page)
    return path
